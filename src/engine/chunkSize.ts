// How many commands a lane of an attempt sends in its next exec (engine/attempt.ts; the fan-out
// bench's raw floor uses the same rule). Guided self-scheduling: the lane's fair share of what is
// left, so lanes stay busy to the end when commands take different times. But an exec has a cost
// of its own on the node (an SSH session and a shell that parses the chunk script: ~5 ms here),
// and the shrinking shares of the tail made most execs of a batch of short commands carry only a
// few of them. So once this attempt has seen how long its commands take, a chunk is never smaller
// than what makes that cost a quarter of its time; long commands keep the plain fair share.

/**
 * Commands per exec at most (each exec saves a channel and a shell start per command)... An exec
 * costs the node ~4.5 ms of CPU besides its commands' ~1.4 ms each (3 loopback sshd nodes, 8 lanes
 * each, `true`): 0.14 ms a command at 32, 0.07 at 64. Only long fan-outs of short commands reach
 * it: a lane's chunk is never more than its share of what is left.
 */
export const CHUNK_MAX = 64;
/** ...and script text per exec (the script is one argument on the node: 128 KiB at most). */
export const CHUNK_BYTES = 48 * 1024;
/** What one exec costs on the node besides its commands (session, shell start, script parse). */
const EXEC_COST_MS = 5;
/** The part of a chunk's time that exec cost may take. */
const EXEC_SHARE = 0.25;

/**
 * The next chunk's size: `left` commands not yet taken, `lanes` lanes, and the mean run time of
 * this attempt's commands so far (undefined before any ended).
 */
export function chunkWant(left: number, lanes: number, meanCommandMs?: number): number {
  const share = Math.floor(left / Math.max(1, lanes));
  const worthAnExec = meanCommandMs === undefined ? 1 : Math.ceil(EXEC_COST_MS / (EXEC_SHARE * Math.max(meanCommandMs, 0.05)));
  return Math.max(1, Math.min(CHUNK_MAX, left, Math.max(share, worthAnExec)));
}

/** The mean run time of the commands that ran (for chunkWant). */
export class RunTimes {
  private total = 0;
  private count = 0;

  add(ms: number): void {
    this.total += Math.max(0, ms);
    this.count++;
  }

  get mean(): number | undefined {
    return this.count ? this.total / this.count : undefined;
  }
}
