// Commands on one node, start to result: one exec runs a chunk of them one after another,
// each detached (or re-attached); timeouts and cancels kill the process group (or stop a run
// that has not started); each command's output goes into the store and its outcome into a
// CommandResult as soon as it ends. Transport failures throw (SshError); everything the
// commands themselves did is a result.
import type { Runtime } from '../runtime.js';
import type { CommandResult, NodeConfig, TaskState } from '../shared.js';
import { ChunkReader, chunkScript, killScript, newNonce, type RunOutput } from '../ssh/detachedRun.js';
import type { Exec } from './exec.js';

export const KILL_GRACE_S = 5;

export interface ChunkItem {
  taskId: string;
  command: string;
  routeReason: string;
  autoRouted: boolean;
  /** Aborting kills this command's process group (or stops it from starting): state "cancelled". */
  signal?: AbortSignal;
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
  /** Item k has its result (as each command ends, or at once when a stop preempts it). */
  onResult?: (k: number, result: CommandResult) => void;
}

/** The node-side run id: task ids of fan-out commands hold a "/", file names cannot. */
export const runIdFor = (taskId: string): string => taskId.replace(/\//g, '.');

export type Outcome = 'done' | 'timed_out' | 'cancelled';
const NO_OUTPUT = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };

export async function runChunk(rt: Runtime, node: NodeConfig, exec: Exec, items: readonly ChunkItem[], opts: ChunkOptions): Promise<CommandResult[]> {
  const baseDir = node.local ? rt.localRunsDir : undefined;
  const nonce = newNonce();
  const results: Array<CommandResult | undefined> = new Array(items.length);
  const outcome: Outcome[] = items.map(() => 'done');
  const startedAt: number[] = items.map(() => 0);
  const timers: Array<NodeJS.Timeout | undefined> = [];
  const kills: Array<Promise<unknown>> = [];
  let toKill: number[] = [];
  // Kills asked for in the same tick (a stop of the whole batch) go out as one exec.
  const flushKills = () => {
    const ks = toKill.filter((k) => !results[k]);
    toKill = [];
    if (ks.length === 0) return;
    let said = '';
    const ids = ks.map((k) => runIdFor(items[k]!.taskId));
    kills.push(exec(killScript(ids, { graceS: KILL_GRACE_S, baseDir }), { onStdout: (b: Buffer) => { said += b.toString(); } }).then(() => {
      // A run stopped before it started is answered now, not when the chunk gets to it.
      for (const line of said.split('\n')) {
        const [id, verdict] = line.split(' ');
        const k = ks[ids.indexOf(id ?? '')];
        if (verdict === 'preempted:' && k !== undefined) finish(k, { ...NO_OUTPUT, state: 'skipped', returnCode: null, signal: null, reattached: false });
      }
    }).catch(() => undefined));
  };
  const kill = (k: number, why: Exclude<Outcome, 'done'>) => {
    if (outcome[k] !== 'done' || results[k]) return;
    outcome[k] = why;
    if (toKill.length === 0) setImmediate(flushKills);
    toKill.push(k);
  };
  const armTimer = (k: number, from: number) => {
    clearTimeout(timers[k]);
    timers[k] = setTimeout(() => kill(k, 'timed_out'), Math.max(0, (items[k]!.deadline ?? from + opts.timeoutS * 1000) - Date.now()));
  };
  const aborts = items.map((item, k) => {
    const onAbort = () => kill(k, 'cancelled');
    if (item.signal?.aborted) onAbort();
    item.signal?.addEventListener('abort', onAbort);
    return () => item.signal?.removeEventListener('abort', onAbort);
  });
  // A deadline carried over from an earlier attempt runs from now, not from the frame.
  items.forEach((item, k) => { if (item.deadline !== undefined) armTimer(k, Date.now()); });

  const finish = (k: number, run: RunOutput) => {
    if (results[k]) return;
    clearTimeout(timers[k]);
    const result = toResult(rt, node, items[k]!, run, outcome[k]!, Date.now() - (startedAt[k] || Date.now()), opts);
    results[k] = result;
    opts.onResult?.(k, result);
  };
  const reader = new ChunkReader(nonce, items.length, {
    onStart: (k) => {
      startedAt[k] = Date.now();
      if (items[k]!.deadline === undefined) armTimer(k, startedAt[k]!);
    },
    onRun: finish,
  });
  try {
    const runs = items.map((it) => ({ runId: runIdFor(it.taskId), command: it.command, cwd: opts.cwd, env: opts.env }));
    const exit = await exec(chunkScript(runs, { nonce, baseDir }), {
      onStdout: (b: Buffer) => { reader.push('stdout', b); opts.onBytes?.(b.length); },
      onStderr: (b: Buffer) => { reader.push('stderr', b); opts.onBytes?.(b.length); },
      onSent: opts.onSent,
      signal: opts.detach,
    }).catch((err: unknown) => {
      if (opts.detach?.aborted) throw opts.detach.reason;
      throw err;
    });
    const noFrames = reader.runs.every((r) => r === undefined) && exit.code !== 0;
    for (let k = 0; k < items.length; k++) {
      if (results[k]) continue;
      // The script stopped before any command (no bash, no run directory): each gets its message.
      if (noFrames) finish(k, { ...NO_OUTPUT, state: 'done', returnCode: exit.code, signal: exit.signal, reattached: false, stderr: reader.preamble('stderr') });
      else finish(k, { ...NO_OUTPUT, state: 'lost', returnCode: null, signal: null, reattached: false });
    }
    flushKills();
    await Promise.all(kills);
    return results as CommandResult[];
  } finally {
    timers.forEach((t) => clearTimeout(t));
    aborts.forEach((off) => off());
  }
}

/** One command through runChunk: the runCommand path. */
export async function runOne(rt: Runtime, node: NodeConfig, exec: Exec, item: ChunkItem, opts: Omit<ChunkOptions, 'onResult'>): Promise<CommandResult> {
  return (await runChunk(rt, node, exec, [item], opts))[0]!;
}

export function toResult(rt: Runtime, node: NodeConfig, item: ChunkItem, run: RunOutput, outcome: Outcome, durationMs: number, opts: ChunkOptions): CommandResult {
  const capture = rt.outputs.open(item.taskId, opts.streamCap);
  capture.stdout.write(run.stdout);
  capture.stderr.write(run.stderr);
  capture.stdout.close();
  capture.stderr.close();
  const rc = run.returnCode;
  let state: TaskState;
  let error: string | null = null;
  let ranOn = node.id;
  if (run.state === 'skipped') {
    // A kill claimed it first: it never ran anywhere.
    state = outcome === 'timed_out' ? 'timed_out' : 'cancelled';
    error = `${state === 'timed_out' ? 'timed out' : 'cancelled'} before it started`;
    ranOn = '';
  } else if (run.state === 'killed' && outcome === 'timed_out') {
    // Only a kill that found the command still running counts; one that came too late leaves its result.
    state = 'timed_out';
    error = `timed out after ${opts.timeoutS} s; the command's process group was killed on ${node.id}`;
  } else if (run.state === 'killed' && outcome === 'cancelled') {
    state = 'cancelled';
    error = `cancelled; the command's process group was killed on ${node.id}`;
  } else if (run.state === 'lost') {
    state = 'failed';
    error = `the command's process group on ${node.id} vanished without an exit status (node rebooted or process killed outside clusterflow)`;
  } else if (rc === 0) {
    state = 'completed';
  } else {
    state = 'failed';
    error = rc === null ? `killed by signal ${run.signal ?? 'unknown'}` : describeExit(rc);
  }
  const result: CommandResult = {
    success: state === 'completed', executed_on: ranOn,
    stdout: capture.stdout.text(), stderr: capture.stderr.text(), return_code: rc,
    auto_routed: item.autoRouted, task_id: item.taskId, error, duration_ms: durationMs,
    route_reason: item.routeReason, truncated: capture.stdout.truncated || capture.stderr.truncated,
    workflow_url: '', state,
  };
  rt.outputs.saveResult(item.taskId, result);
  return result;
}

/** Exit codes with a conventional meaning get a word; the rest are plain numbers. */
export function describeExit(rc: number): string {
  if (rc === 126) return 'exit code 126 (command not executable)';
  if (rc === 127) return 'exit code 127 (command not found)';
  if (rc > 128 && rc < 160) return `exit code ${rc} (killed by signal ${rc - 128})`;
  return `exit code ${rc}`;
}
