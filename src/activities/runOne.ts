// One command on one node, start to result: detached launch (or re-attach), timeout and
// cancel by killing the process group, output into the store, outcome into a CommandResult.
// Transport failures throw (SshError); everything the command itself did is a result.
import type { Runtime } from '../runtime.js';
import type { CommandResult, NodeConfig, RunCommandInput, TaskState } from '../shared.js';
import { killScript, parseRunOutput, runScript } from '../ssh/detachedRun.js';
import type { Exec } from './exec.js';

export const KILL_GRACE_S = 5;
const KILL_RETRY_MS = 200;

export type RunOneInput = Omit<RunCommandInput, 'nodeId'>;

export interface RunOneOptions {
  /** Aborting kills the command's process group and gives state "cancelled". */
  signal?: AbortSignal;
  /**
   * Aborting lets go without killing: the exec is dropped and runOne rejects with the reason.
   * For attempts Temporal gave up on: the next attempt re-attaches to the still-running command.
   */
  detach?: AbortSignal;
  /** The command was handed to a live connection: from now on it may run on the node. */
  onSent?: () => void;
  /** When the command's own timeout ends (ms since epoch); default now + timeoutS. Retries keep the first deadline. */
  deadline?: number;
  /** Bytes of each stream carried in the result (head + tail); the store keeps everything. */
  streamCap?: number;
  onBytes?: (n: number) => void;
}

/** The node-side run id: task ids of fan-out commands hold a "/", file names cannot. */
export const runIdFor = (taskId: string): string => taskId.replace(/\//g, '.');

export async function runOne(rt: Runtime, node: NodeConfig, exec: Exec, input: RunOneInput, opts: RunOneOptions = {}): Promise<CommandResult> {
  const started = Date.now();
  const baseDir = node.local ? rt.localRunsDir : undefined;
  const out: Buffer[] = [];
  const errOut: Buffer[] = [];
  const end: { outcome: 'done' | 'timed_out' | 'cancelled' } = { outcome: 'done' };
  let killing: Promise<unknown> | undefined;
  let runEnded = false; // the run script returned: nothing left to kill
  const killOnce = async (): Promise<boolean> => {
    let said = '';
    await exec(killScript(runIdFor(input.taskId), { graceS: KILL_GRACE_S, baseDir }), { onStdout: (b: Buffer) => { said += b.toString(); } });
    return !said.startsWith('absent');
  };
  const kill = (why: 'timed_out' | 'cancelled') => {
    if (killing) return;
    end.outcome = why;
    // A kill that lands before the launcher claimed the run finds nothing ("absent") and would let
    // the command start after all: ask again while the run script is still on its way.
    killing = (async () => {
      while (!(await killOnce()) && !runEnded) await new Promise((r) => setTimeout(r, KILL_RETRY_MS));
    })().catch(() => undefined);
  };
  const timer = setTimeout(() => kill('timed_out'), Math.max(0, (opts.deadline ?? started + input.timeoutS * 1000) - Date.now()));
  const onAbort = () => kill('cancelled');
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const exit = await exec(runScript({ runId: runIdFor(input.taskId), command: input.command, cwd: input.cwd, env: input.env, baseDir }), {
      onStdout: (b: Buffer) => { out.push(b); opts.onBytes?.(b.length); },
      onStderr: (b: Buffer) => { errOut.push(b); opts.onBytes?.(b.length); },
      onSent: opts.onSent,
      signal: opts.detach,
    }).catch((err: unknown) => {
      if (opts.detach?.aborted) throw opts.detach.reason;
      throw err;
    }).finally(() => { runEnded = true; });
    await killing;
    const run = parseRunOutput(Buffer.concat(out), Buffer.concat(errOut), exit);
    const capture = rt.outputs.open(input.taskId, opts.streamCap);
    capture.stdout.write(run.stdout);
    capture.stderr.write(run.stderr);
    capture.stdout.close();
    capture.stderr.close();
    const rc = run.returnCode;
    let state: TaskState;
    let error: string | null = null;
    if (end.outcome === 'timed_out') {
      state = 'timed_out';
      error = `timed out after ${input.timeoutS} s; the command's process group was killed on ${node.id}`;
    } else if (end.outcome === 'cancelled') {
      state = 'cancelled';
      error = `cancelled; the command's process group was killed on ${node.id}`;
    } else if (run.lost) {
      state = 'failed';
      error = `the command's process group on ${node.id} vanished without an exit status (node rebooted or process killed outside clusterflow)`;
    } else if (rc === 0) {
      state = 'completed';
    } else {
      state = 'failed';
      error = rc === null ? `killed by signal ${run.signal ?? 'unknown'}` : describeExit(rc);
    }
    const result: CommandResult = {
      success: state === 'completed', executed_on: node.id,
      stdout: capture.stdout.text(), stderr: capture.stderr.text(), return_code: rc,
      auto_routed: input.autoRouted, task_id: input.taskId, error, duration_ms: Date.now() - started,
      route_reason: input.routeReason, truncated: capture.stdout.truncated || capture.stderr.truncated,
      workflow_url: '', state,
    };
    rt.outputs.saveResult(input.taskId, result);
    return result;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** Exit codes with a conventional meaning get a word; the rest are plain numbers. */
export function describeExit(rc: number): string {
  if (rc === 126) return 'exit code 126 (command not executable)';
  if (rc === 127) return 'exit code 127 (command not found)';
  if (rc > 128 && rc < 160) return `exit code ${rc} (killed by signal ${rc - 128})`;
  return `exit code ${rc}`;
}
