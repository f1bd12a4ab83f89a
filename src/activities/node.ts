// runCommand: the activity of a node's queue. Runs one command detached on the node (SSH, or
// child_process for the local node), enforces the timeout by killing the process group, and
// turns the outcome into a CommandResult. A non-zero exit is a result, never an exception.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Runtime } from '../runtime.js';
import { FailureType, type CommandResult, type NodeConfig, type RunCommandInput, type TaskState } from '../shared.js';
import { killScript, parseRunOutput, runScript } from '../ssh/detachedRun.js';
import { SshError } from '../ssh/errors.js';
import type { ExecResult } from '../ssh/pool.js';
import { execFor, type Exec } from './exec.js';

const KILL_GRACE_S = 5;
const HEARTBEAT_MS = 1000;

export function createNodeActivities(rt: Runtime) {
  return {
    async runCommand(input: RunCommandInput): Promise<CommandResult> {
      const ctx = Context.current();
      const node = rt.config.nodes.find((n) => n.id === input.nodeId);
      if (!node) {
        throw ApplicationFailure.nonRetryable(
          `unknown node "${input.nodeId}"; known nodes: ${rt.config.nodes.map((n) => n.id).join(', ')}`, FailureType.UnknownNode);
      }
      const started = Date.now();
      const baseDir = node.local ? rt.localRunsDir : undefined;
      // Whether this or an earlier attempt handed the command to a live connection: from then on
      // the command may run on the node, so a failure to reach the node again must not send it
      // elsewhere (it would run twice). Heartbeat details carry this across attempts.
      const progress: RunProgress = { bytes: 0, sent: (ctx.info.heartbeatDetails as Partial<RunProgress> | undefined)?.sent === true };
      let exec: Exec;
      try {
        exec = await execFor(rt, node);
      } catch (err) {
        throw toFailure(err, node, rt, progress.sent);
      }

      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      // An object, so TypeScript does not narrow it: the timer and the cancel handler change it.
      const end: { outcome: 'done' | 'timed_out' | 'cancelled' } = { outcome: 'done' };
      let killing: Promise<unknown> | undefined;
      const kill = (why: 'timed_out' | 'cancelled') => {
        if (killing) return;
        end.outcome = why;
        killing = exec(killScript(input.taskId, { graceS: KILL_GRACE_S, baseDir })).catch((e) => ctx.log.warn('kill failed', { error: String(e) }));
      };
      const timer = setTimeout(() => kill('timed_out'), input.timeoutS * 1000);
      // Cancellation reaches an activity only through heartbeats, so heartbeat while running.
      const beat = setInterval(() => ctx.heartbeat(progress), HEARTBEAT_MS);
      // Only a cancel the workflow asked for kills the command. Temporal also cancels an attempt it
      // has given up on (heartbeat timeout, e.g. across a server restart; not found; worker
      // shutdown): then another attempt re-attaches to the command, so this one only lets go.
      const detach = new AbortController();
      const onCancel = () => {
        if (cancelRequested(ctx)) kill('cancelled');
        else detach.abort(ctx.cancellationSignal.reason);
      };
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      if (ctx.cancellationSignal.aborted) onCancel();
      let exit: ExecResult;
      try {
        exit = await exec(runScript({ runId: input.taskId, command: input.command, cwd: input.cwd, env: input.env, baseDir }), {
          onStdout: (b: Buffer) => { out.push(b); progress.bytes += b.length; },
          onStderr: (b: Buffer) => { errOut.push(b); progress.bytes += b.length; },
          // Recorded at once: a failure report carries the latest details to the next attempt.
          onSent: () => { progress.sent = true; ctx.heartbeat(progress); },
          signal: detach.signal,
        });
        await killing;
      } catch (err) {
        if (detach.signal.aborted) throw ctx.cancellationSignal.reason;
        throw toFailure(err, node, rt, progress.sent);
      } finally {
        clearTimeout(timer);
        clearInterval(beat);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }

      const run = parseRunOutput(Buffer.concat(out), Buffer.concat(errOut), exit);
      const capture = rt.outputs.open(input.taskId);
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
      return {
        success: state === 'completed',
        executed_on: node.id,
        stdout: capture.stdout.text(),
        stderr: capture.stderr.text(),
        return_code: rc,
        auto_routed: input.autoRouted,
        task_id: input.taskId,
        error,
        duration_ms: Date.now() - started,
        route_reason: input.routeReason,
        truncated: capture.stdout.truncated || capture.stderr.truncated,
        workflow_url: '',
        state,
      };
    },
  };
}

/** Exit codes with a conventional meaning get a word; the rest are plain numbers. */
export function describeExit(rc: number): string {
  if (rc === 126) return 'exit code 126 (command not executable)';
  if (rc === 127) return 'exit code 127 (command not found)';
  if (rc > 128 && rc < 160) return `exit code ${rc} (killed by signal ${rc - 128})`;
  return `exit code ${rc}`;
}

/** True for a cancel the workflow requested (task_cancel), not for an attempt Temporal abandoned. */
function cancelRequested(ctx: Context): boolean {
  const reason = ctx.cancellationSignal.reason as { message?: string } | undefined;
  return ctx.cancellationDetails?.cancelRequested === true || reason?.message === 'CANCELLED';
}

/** runCommand's heartbeat details. */
interface RunProgress {
  bytes: number;
  /** The command was handed to a live SSH connection (by this attempt or an earlier one). */
  sent: boolean;
}

/**
 * Transport errors become typed ApplicationFailures; the workflow's retry policy knows which are
 * final, and re-routes NodeUnreachable only: so once the command may have started (`sent`), an
 * unreachable node is 'ConnectionLost' (retried here, to re-attach), never a re-route.
 */
function toFailure(err: unknown, node: NodeConfig, rt: Runtime, sent: boolean): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err instanceof SshError ? err : null;
  const msg = `${node.id}: ${err instanceof Error ? err.message : String(err)}`;
  if (!e) return ApplicationFailure.retryable(msg, sent ? 'ConnectionLost' : FailureType.NodeUnreachable);
  if (e.kind === 'host-key') return ApplicationFailure.nonRetryable(msg, FailureType.HostKey);
  if (e.kind === 'auth') return ApplicationFailure.nonRetryable(msg, FailureType.Auth);
  if (e.kind === 'connect' || e.kind === 'dns' || e.kind === 'timeout') {
    rt.resolver.invalidate(node.id);
    if (sent) return ApplicationFailure.retryable(`${msg}; the command was already sent to ${node.id} and may have run there, so it is not re-run elsewhere`, 'ConnectionLost');
    return ApplicationFailure.retryable(msg, FailureType.NodeUnreachable);
  }
  // Lost mid-run or a channel failure: the next attempt re-attaches to the detached command.
  return ApplicationFailure.retryable(msg, 'ConnectionLost');
}
