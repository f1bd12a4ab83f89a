// One attempt at running commands on one node, whoever asks: runCommand (one command),
// runBatch (a fan-out's node-batch) and the fast path (a gated launch before the workflow's
// activity exists) all come through here. The attempt opens the transport, holds the node's
// slots (max_parallel), runs its commands in lanes (a chunk of commands per exec), heartbeats
// progress, and tells the two ends apart:
//   cancel  (the workflow asked: task_cancel) → kill what runs, report the rest as not started;
//   abandon (Temporal gave up on this attempt: heartbeat timeout, worker shutdown) → let go
//           without killing; the next attempt re-attaches to the still-running commands.
// "Sent" is tracked across attempts: once a command may be running on the node, a failure to
// reach it again is ConnectionLost (re-attach there), never NodeUnreachable (which re-routes).
import type { Services } from '../runtime/services.js';
import { unranResult, type CommandResult, type NodeConfig } from '../shared.js';
import { capScript, type RunOutput } from '../ssh/detachedRun.js';
import { execFor, type Exec } from './exec.js';
import { CHUNK_BYTES, chunkWant, RunTimes } from './chunkSize.js';
import { toFailure } from './failures.js';
import { runChunk, runIdFor, type ChunkItem, type ChunkOptions } from './runChunk.js';
import { Stops } from './stops.js';

export const HEARTBEAT_MS = 1000;
/** A command still running after this long gets the node's output cap watched (capScript); checked this often. */
const CAP_WATCH_AFTER_MS = 2000;
const CAP_WATCH_CHECK_MS = 500;

/** What an attempt reports as it goes (Temporal heartbeat details), and what the next one resumes from. */
export interface AttemptProgress {
  /** Some command was handed to a live connection (by this attempt or an earlier one). */
  sent: boolean;
  /** Commands with a result. */
  done: number;
  /** Output bytes seen. */
  bytes: number;
}

/** How the caller's side (a Temporal activity, or the fast path) steers the attempt. */
export interface AttemptControl {
  /** The previous attempt's last progress (heartbeat details). */
  prior?: Partial<AttemptProgress>;
  /** Heartbeat: every second, and at once when the first command was sent. */
  heartbeat?: (progress: AttemptProgress) => void;
  /** Kill everything (a cancel the workflow asked for). */
  cancel?: AbortSignal;
  /** Let go without killing; the attempt rejects with the signal's reason. */
  abandon?: AbortSignal;
}

export interface AttemptOptions extends Pick<ChunkOptions, 'timeoutS' | 'cwd' | 'env' | 'streamCap' | 'gate' | 'onGateOpen' | 'enforceTimeout' | 'keep'> {
  /** Commands in flight at once; each lane holds one of the node's max_parallel slots while it runs. */
  lanes: number;
  /** The caller holds the node slot for this single-lane attempt already (a fast-path launch). */
  slotHeld?: boolean;
  /** Item k has its result (as each command ends, or at once when a stop claimed it before it started). */
  onResult?: (k: number, result: CommandResult, run?: RunOutput) => void;
  /** Stops of single items (a fan-out batch's stop Query); the attempt's cancel stops them all. */
  stops?: Stops;
  /** Lane i (0-based) starts once this resolves (a chained batch: a lane of the batch before ran dry); it also resolves on `signal`. */
  waitForLane?: (lane: number, signal?: AbortSignal) => Promise<void>;
  /** A lane ran out of commands (it leaves its slot to whoever waits for it). */
  onLaneDone?: () => void;
}

/**
 * Run `items` on `node`; item k's result at index k (undefined only where `keep` turned a run
 * down). Throws an ApplicationFailure for transport problems (see engine/failures.ts), or the
 * abandon reason when abandoned.
 */
export async function runAttempt(
  rt: Services,
  node: NodeConfig,
  items: readonly ChunkItem[],
  opts: AttemptOptions,
  control: AttemptControl = {},
): Promise<Array<CommandResult | undefined>> {
  const progress: AttemptProgress = { sent: control.prior?.sent === true, done: 0, bytes: 0 };
  let exec: Exec;
  try {
    exec = await execFor(rt, node);
  } catch (err) {
    throw toFailure(err, node, rt, progress.sent);
  }
  const run = new AttemptRun(rt, node, exec, items, opts, control, progress);
  return run.complete();
}

/** The state of one attempt: which items lanes have taken, their stops, the results. */
class AttemptRun {
  private readonly results: Array<CommandResult | undefined>;
  private readonly answered: boolean[];
  private readonly stops: Stops;
  /** Items k < next were taken by a lane (running or finished); the rest have not started. */
  private next = 0;
  private abandoned = false;
  private readonly lanes: number;
  private readonly cleanups: Array<() => void> = [];
  /** The node-side output cap watch of this attempt's long runs (one at a time). */
  private capWatch?: Promise<unknown>;
  private readonly capWatchStop = new AbortController();
  /** When each running item started (item → ms): at most one per lane. */
  private readonly running = new Map<number, number>();
  /** How long this attempt's commands ran: sizes the later chunks. */
  private readonly runTimes = new RunTimes();

  constructor(
    private readonly rt: Services,
    private readonly node: NodeConfig,
    private readonly exec: Exec,
    private readonly items: readonly ChunkItem[],
    private readonly opts: AttemptOptions,
    private readonly control: AttemptControl,
    private readonly progress: AttemptProgress,
  ) {
    this.results = new Array(items.length);
    this.answered = items.map(() => false);
    this.stops = opts.stops ?? new Stops(items.length);
    this.lanes = Math.max(1, Math.min(opts.lanes, items.length));
  }

  async complete(): Promise<Array<CommandResult | undefined>> {
    const { control } = this;
    const abandoned = new Promise<never>((_, reject) =>
      this.listen(control.abandon, () => {
        this.abandoned = true;
        reject(control.abandon!.reason);
      }),
    );
    abandoned.catch(() => undefined);
    this.listen(control.cancel, () => this.stops.stopAll());
    // A stop of an item no lane took yet answers it now (it never starts); a running one is killed by its lane's runChunk.
    this.cleanups.push(
      this.stops.watch((k) => {
        if (k >= this.next) this.skip(k);
      }),
    );
    const beat = control.heartbeat ? setInterval(() => control.heartbeat!(this.progress), HEARTBEAT_MS) : undefined;
    const longRuns = setInterval(() => this.watchLongRuns(), CAP_WATCH_CHECK_MS);
    try {
      await Promise.race([Promise.all(Array.from({ length: this.lanes }, (_, i) => this.lane(i))), abandoned]);
      return this.results;
    } catch (err) {
      if (this.abandoned) throw control.abandon!.reason;
      throw toFailure(err, this.node, this.rt, this.progress.sent);
    } finally {
      clearInterval(beat);
      clearInterval(longRuns);
      this.cleanups.forEach((off) => off());
      this.capWatchStop.abort();
    }
  }

  /**
   * Output beyond CLUSTERFLOW_MAX_OUTPUT is not kept on the node either: runs that go on for a
   * while are watched (their files cut back as they grow), and a run that printed past the cap
   * before anyone watched is cut back once it ended.
   */
  private capOutput(watch: boolean, taskIds: readonly string[]): void {
    if (watch && this.capWatch) return;
    const script = capScript(taskIds.map(runIdFor), {
      maxOutput: this.rt.outputs.maxBytes,
      baseDir: this.node.local ? this.rt.localRunsDir : undefined,
      watch,
    });
    // The one-off cut outlives the attempt (which may end the next moment); the watch does not.
    const run = this.exec(script, watch ? { signal: this.capWatchStop.signal } : {}).catch(() => undefined);
    if (watch)
      this.capWatch = run.finally(() => {
        this.capWatch = undefined;
      });
  }

  private listen(signal: AbortSignal | undefined, onAbort: () => void): void {
    if (!signal) return;
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.cleanups.push(() => signal.removeEventListener('abort', onAbort));
  }

  /** Some run has gone on for CAP_WATCH_AFTER_MS: watch this attempt's output on the node. */
  private watchLongRuns(): void {
    const now = Date.now();
    for (const started of this.running.values())
      if (now - started >= CAP_WATCH_AFTER_MS) {
        this.capOutput(
          true,
          this.items.map((it) => it.taskId),
        );
        return;
      }
  }

  private answer(k: number, result: CommandResult, run?: RunOutput): void {
    if (this.answered[k]) return;
    this.answered[k] = true;
    this.running.delete(k);
    this.results[k] = result;
    if (result.return_code !== null) this.runTimes.add(result.duration_ms);
    if (result.output_capped) this.capOutput(false, [result.task_id]);
    this.progress.done++;
    this.opts.onResult?.(k, result, run);
  }

  /** It never ran anywhere: executed_on is '' (a fan-out's by_node counts only commands that ran). */
  private skip(k: number): void {
    if (this.answered[k]) return;
    const item = this.items[k]!;
    const result = unranResult(item.taskId, '', 'cancelled before it started', 'cancelled', item.routeReason, item.autoRouted);
    this.rt.outputs.saveResult(item.taskId, result);
    this.answer(k, result);
  }

  private async lane(i: number): Promise<void> {
    const { rt, node, opts } = this;
    const waitAborts = [this.control.cancel, this.control.abandon].filter((s): s is AbortSignal => s !== undefined);
    const waitAbort = waitAborts.length ? AbortSignal.any(waitAborts) : undefined;
    // Before the slot: a lane waiting for the batch before holds none of the node's max_parallel.
    await opts.waitForLane?.(i, waitAbort);
    const release = opts.slotHeld ? undefined : await rt.slots.take(node.id, node.maxParallel, waitAbort);
    try {
      while (!this.abandoned && this.next < this.items.length) {
        const ks = this.takeChunk();
        if (ks.length === 0) continue;
        await this.runLaneChunk(ks);
      }
    } finally {
      release?.();
    }
    if (!this.abandoned) opts.onLaneDone?.();
  }

  /** Items `ks` in one exec (runChunk). */
  private async runLaneChunk(ks: number[]): Promise<void> {
    const { rt, node, opts } = this;
    try {
      await runChunk(
        rt,
        node,
        this.exec,
        ks.map((k) => this.items[k]!),
        {
          timeoutS: opts.timeoutS,
          cwd: opts.cwd,
          env: opts.env,
          streamCap: opts.streamCap,
          gate: opts.gate,
          onGateOpen: opts.onGateOpen,
          enforceTimeout: opts.enforceTimeout,
          keep: opts.keep,
          stops: this.stops.chunk(ks),
          detach: this.control.abandon,
          onBytes: (n) => {
            this.progress.bytes += n;
          },
          // Recorded at once: a failure report carries the latest details to the next attempt.
          onSent: () => {
            if (this.progress.sent) return;
            this.progress.sent = true;
            this.control.heartbeat?.(this.progress);
          },
          onResult: (j, result, run) => this.answer(ks[j]!, result, run),
          onRunStart: (j) => {
            if (!this.answered[ks[j]!]) this.running.set(ks[j]!, Date.now());
          },
        },
      );
    } finally {
      // A run `keep` turned down has no answer: it runs no more either way.
      for (const k of ks) this.running.delete(k);
    }
  }

  /** The next chunk for a lane: its fair share of what is left, or more for short commands (chunkSize.ts); stopped items answered. */
  private takeChunk(): number[] {
    const ks: number[] = [];
    let bytes = 0;
    const want = chunkWant(this.items.length - this.next, this.lanes, this.runTimes.mean);
    // cwd and env are repeated for every run of a chunk's script.
    const perRun = 64 + (this.opts.cwd?.length ?? 0) + Object.entries(this.opts.env ?? {}).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
    while (ks.length < want && this.next < this.items.length && bytes < CHUNK_BYTES) {
      const k = this.next++;
      if (this.stops.isStopped(k)) {
        this.skip(k);
        continue;
      }
      ks.push(k);
      bytes += this.items[k]!.command.length + perRun;
    }
    return ks;
  }
}
