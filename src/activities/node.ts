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
      let exec: Exec;
      try {
        exec = await execFor(rt, node);
      } catch (err) {
        throw toFailure(err, node, rt);
      }

      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let bytes = 0;
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
      const beat = setInterval(() => ctx.heartbeat({ bytes }), HEARTBEAT_MS);
      const onCancel = () => kill('cancelled');
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      let exit: ExecResult;
      try {
        exit = await exec(runScript({ runId: input.taskId, command: input.command, cwd: input.cwd, env: input.env, baseDir }), {
          onStdout: (b: Buffer) => { out.push(b); bytes += b.length; },
          onStderr: (b: Buffer) => { errOut.push(b); bytes += b.length; },
        });
        await killing;
      } catch (err) {
        throw toFailure(err, node, rt);
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

/** Transport errors become typed ApplicationFailures; the workflow's retry policy knows which are final. */
function toFailure(err: unknown, node: NodeConfig, rt: Runtime): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err instanceof SshError ? err : null;
  const msg = `${node.id}: ${err instanceof Error ? err.message : String(err)}`;
  if (!e) return ApplicationFailure.retryable(msg, FailureType.NodeUnreachable);
  if (e.kind === 'host-key') return ApplicationFailure.nonRetryable(msg, FailureType.HostKey);
  if (e.kind === 'auth') return ApplicationFailure.nonRetryable(msg, FailureType.Auth);
  if (e.kind === 'connect' || e.kind === 'dns' || e.kind === 'timeout') {
    rt.resolver.invalidate(node.id);
    return ApplicationFailure.retryable(msg, FailureType.NodeUnreachable);
  }
  // Lost mid-run or a channel failure: the next attempt re-attaches to the detached command.
  return ApplicationFailure.retryable(msg, 'ConnectionLost');
}
