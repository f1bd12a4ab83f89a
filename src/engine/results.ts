// A run's outcome on its node, as the CommandResult a user sees: state, exit code, the words for
// it, and the output kept in the store (results carry head + tail, the store everything).
import type { Services } from '../runtime/services.js';
import type { CommandResult, NodeConfig, TaskState } from '../shared.js';
import type { RunOutput } from '../ssh/detachedRun.js';

/** Why a run stopped, as far as we asked it to: 'done' unless a timeout or cancel killed it. */
export type Outcome = 'done' | 'timed_out' | 'cancelled';

export interface ResultItem {
  taskId: string;
  command: string;
  routeReason: string;
  autoRouted: boolean;
}

export type Captures = ReturnType<Services['outputs']['open']>;

/**
 * Say how the run ended, with its output: `captured` is what streamed into the store as it
 * arrived (runChunk), else the run's own buffers are stored now.
 */
export function toResult(
  rt: Services,
  node: NodeConfig,
  item: ResultItem,
  run: RunOutput,
  outcome: Outcome,
  durationMs: number,
  opts: { timeoutS: number; streamCap?: number },
  captured?: Captures,
): CommandResult {
  // Most commands of a fan-out print nothing: then there is nothing to store or to cut.
  const capture = captured ?? (run.stdout.length > 0 || run.stderr.length > 0 ? rt.outputs.open(item.taskId, opts.streamCap) : undefined);
  capture?.stdout.write(run.stdout);
  capture?.stderr.write(run.stderr);
  capture?.stdout.close();
  capture?.stderr.close();
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
    success: state === 'completed',
    executed_on: ranOn,
    stdout: capture?.stdout.text() ?? '',
    stderr: capture?.stderr.text() ?? '',
    return_code: rc,
    auto_routed: item.autoRouted,
    task_id: item.taskId,
    error,
    duration_ms: durationMs,
    route_reason: item.routeReason,
    truncated: capture !== undefined && (capture.stdout.truncated || capture.stderr.truncated),
    workflow_url: '',
    state,
    ...(capture?.stdout.capped || capture?.stderr.capped || run.capped ? { output_capped: true } : {}),
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
