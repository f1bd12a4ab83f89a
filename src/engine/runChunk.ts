// Commands on one node, start to result: one exec runs a chunk of them one after another,
// each detached (or re-attached); timeouts and cancels kill the process group (or stop a run
// that has not started); each command's output goes into the store and its outcome into a
// CommandResult as soon as it ends. Transport failures throw (SshError); everything the
// commands themselves did is a result.
import type { Services } from '../runtime/services.js';
import type { CommandResult, NodeConfig } from '../shared.js';
import { ChunkReader, chunkScript, killScript, newNonce, type RunOutput } from '../ssh/detachedRun.js';
import type { Exec } from './exec.js';
import { toResult, type Captures, type Outcome, type ResultItem } from './results.js';
import type { ChunkStops } from './stops.js';

export const KILL_GRACE_S = 5;

export interface ChunkItem extends ResultItem {
  /** When the command's own timeout ends (ms since epoch); default: timeoutS after it starts. */
  deadline?: number;
}

export interface ChunkOptions {
  timeoutS: number;
  cwd?: string;
  env?: Record<string, string>;
  /**
   * Aborting lets go without killing: the exec is dropped and runChunk rejects with the reason.
   * For attempts Temporal gave up on: the next attempt re-attaches to the still-running commands.
   */
  detach?: AbortSignal;
  /** The chunk was handed to a live connection: from now on its commands may run on the node. */
  onSent?: () => void;
  /** Bytes of each stream carried in a result (head + tail); the store keeps everything. */
  streamCap?: number;
  onBytes?: (n: number) => void;
  /** Item k has its result (as each command ends, or at once when a stop preempts it), with its run as the node reported it. */
  onResult?: (k: number, result: CommandResult, run: RunOutput) => void;
  /**
   * Start nothing until this resolves true (false: end with nothing started). The exec and the
   * shell are under way meanwhile: the fast path opens them while the workflow is being started.
   */
  gate?: Promise<boolean>;
  /** false: no timeout timers (the fast path leaves timeouts to the workflow's activity). Default true. */
  enforceTimeout?: boolean;
  /** Called when the gate opened (the commands may start now). */
  onGateOpen?: () => void;
  /** Run k started on the node (its S frame). */
  onRunStart?: (k: number) => void;
  /** Only runs this accepts get a result (stored, reported); the others end with none (the fast path keeps only runs that ended by themselves). */
  keep?: (run: RunOutput) => boolean;
  /** A stop of item j kills its process group (or keeps it from starting): state "cancelled". */
  stops?: ChunkStops;
}

/** The node-side run id: task ids of fan-out commands hold a "/", file names cannot. */
export const runIdFor = (taskId: string): string => taskId.replace(/\//g, '.');

const NO_OUTPUT = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };

/** Item k's result, or undefined when `keep` turned its run down (or a shut gate started nothing). */
export async function runChunk(
  rt: Services,
  node: NodeConfig,
  exec: Exec,
  items: readonly ChunkItem[],
  opts: ChunkOptions,
): Promise<Array<CommandResult | undefined>> {
  const baseDir = node.local ? rt.localRunsDir : undefined;
  const nonce = newNonce();
  const results: Array<CommandResult | undefined> = new Array(items.length);
  const ended: boolean[] = items.map(() => false);
  const outcome: Outcome[] = items.map(() => 'done');
  const startedAt: number[] = items.map(() => 0);
  const timers: Array<NodeJS.Timeout | undefined> = [];
  const kills: Array<Promise<unknown>> = [];
  let toKill: number[] = [];
  // Kills asked for in the same tick (a stop of the whole batch) go out as one exec.
  const flushKills = () => {
    const ks = toKill.filter((k) => !ended[k]);
    toKill = [];
    if (ks.length === 0) return;
    let said = '';
    const ids = ks.map((k) => runIdFor(items[k]!.taskId));
    kills.push(
      exec(killScript(ids, { graceS: KILL_GRACE_S, baseDir }), {
        onStdout: (b: Buffer) => {
          said += b.toString();
        },
      })
        .then(() => {
          // A run stopped before it started is answered now, not when the chunk gets to it.
          for (const line of said.split('\n')) {
            const [id, verdict] = line.split(' ');
            const k = ks[ids.indexOf(id ?? '')];
            if (verdict === 'preempted:' && k !== undefined) finish(k, { ...NO_OUTPUT, state: 'skipped', returnCode: null, signal: null, reattached: false });
          }
        })
        .catch(() => undefined),
    );
  };
  const kill = (k: number, why: Exclude<Outcome, 'done'>) => {
    if (outcome[k] !== 'done' || ended[k]) return;
    outcome[k] = why;
    if (toKill.length === 0) setImmediate(flushKills);
    toKill.push(k);
  };
  const timed = opts.enforceTimeout !== false;
  const armTimer = (k: number, from: number) => {
    if (!timed) return;
    clearTimeout(timers[k]);
    timers[k] = setTimeout(() => kill(k, 'timed_out'), Math.max(0, (items[k]!.deadline ?? from + opts.timeoutS * 1000) - Date.now()));
  };
  const stopOffs = opts.stops ? items.map((_, k) => opts.stops!.on(k, () => kill(k, 'cancelled'))) : [];
  // A deadline carried over from an earlier attempt runs from now, not from the frame.
  items.forEach((item, k) => {
    if (item.deadline !== undefined) armTimer(k, Date.now());
  });

  // Output goes into the store as it arrives: memory stays flat whatever a command prints.
  const captures: Array<Captures | undefined> = new Array(items.length);
  const capture = (k: number) => (captures[k] ??= rt.outputs.open(items[k]!.taskId, opts.streamCap));
  const finish = (k: number, run: RunOutput) => {
    if (ended[k]) return;
    ended[k] = true;
    clearTimeout(timers[k]);
    if (opts.keep && !opts.keep(run)) {
      captures[k]?.stdout.close();
      captures[k]?.stderr.close();
      return;
    }
    const result = toResult(rt, node, items[k]!, run, outcome[k]!, Date.now() - (startedAt[k] || Date.now()), opts, captures[k]);
    results[k] = result;
    opts.onResult?.(k, result, run);
  };
  const reader = new ChunkReader(nonce, items.length, {
    onStart: (k) => {
      startedAt[k] = Date.now();
      if (items[k]!.deadline === undefined) armTimer(k, startedAt[k]!);
      opts.onRunStart?.(k);
    },
    onData: (k, stream, data) => capture(k)[stream].write(data),
    onRun: finish,
  });
  try {
    const runs = items.map((it) => ({ runId: runIdFor(it.taskId), command: it.command, cwd: opts.cwd, env: opts.env }));
    const stdin = opts.gate?.then((go) => {
      if (!go) return '';
      opts.onGateOpen?.();
      return 'go\n';
    });
    const exit = await exec(chunkScript(runs, { nonce, baseDir, gate: stdin !== undefined, maxOutput: rt.outputs.maxBytes }), {
      onStdout: (b: Buffer) => {
        reader.push('stdout', b);
        opts.onBytes?.(b.length);
      },
      onStderr: (b: Buffer) => {
        reader.push('stderr', b);
        opts.onBytes?.(b.length);
      },
      onSent: opts.onSent,
      signal: opts.detach,
      ...(stdin ? { stdin } : {}),
    }).catch((err: unknown) => {
      if (opts.detach?.aborted) throw opts.detach.reason;
      throw err;
    });
    // A gate that stayed shut: nothing started, nothing to report.
    if (opts.gate && !(await opts.gate)) return results;
    const noFrames = reader.runs.every((r) => r === undefined) && exit.code !== 0;
    for (let k = 0; k < items.length; k++) {
      if (ended[k]) continue;
      // The script stopped before any command (no bash, no run directory): each gets its message.
      if (noFrames)
        finish(k, { ...NO_OUTPUT, state: 'done', returnCode: exit.code, signal: exit.signal, reattached: false, stderr: reader.preamble('stderr') });
      else finish(k, { ...NO_OUTPUT, state: 'lost', returnCode: null, signal: null, reattached: false });
    }
    flushKills();
    await Promise.all(kills);
    return results;
  } finally {
    timers.forEach((t) => clearTimeout(t));
    stopOffs.forEach((off) => off());
    // A transport failure mid-run: what streamed so far is closed (the retry writes it again).
    captures.forEach((c, k) => {
      if (!ended[k]) {
        c?.stdout.close();
        c?.stderr.close();
      }
    });
  }
}
