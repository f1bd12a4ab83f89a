// runCommand: the activity of a node's queue. Runs one command detached on the node (SSH, or
// child_process for the local node) through runChunk, and owns the Temporal side: heartbeats,
// which cancellations kill the command, and which failures may be re-routed.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Runtime } from '../runtime.js';
import { FailureType, type CommandResult, type RunCommandInput } from '../shared.js';
import { log } from '../log.js';
import { execFor, type Exec } from './exec.js';
import { toFailure } from './failures.js';
import { runOne } from './runChunk.js';

const HEARTBEAT_MS = 1000;

/** runCommand's heartbeat details. */
interface RunProgress {
  bytes: number;
  /** The command was handed to a live SSH connection (by this attempt or an earlier one). */
  sent: boolean;
}

export function createNodeActivities(rt: Runtime) {
  return {
    async runCommand(input: RunCommandInput): Promise<CommandResult> {
      const ctx = Context.current();
      const node = rt.config.nodes.find((n) => n.id === input.nodeId);
      if (!node) {
        throw ApplicationFailure.nonRetryable(
          `unknown node "${input.nodeId}"; known nodes: ${rt.config.nodes.map((n) => n.id).join(', ')}`, FailureType.UnknownNode);
      }
      // The head start in this process has seen the command end: its result is this task's,
      // read from the same run files a re-attach would read, so skip the exec.
      const early = rt.headStartResults.get(input.taskId);
      if (early) {
        rt.headStartResults.delete(input.taskId);
        log.debug({ taskId: input.taskId }, 'took the head start\'s result');
        return { ...early, route_reason: input.routeReason, auto_routed: input.autoRouted };
      }
      // Heartbeat details carry `sent` across attempts: once the command may run on the node, a
      // failure to reach it again must not send it elsewhere (it would run twice).
      const progress: RunProgress = { bytes: 0, sent: input.headStart === true || (ctx.info.heartbeatDetails as Partial<RunProgress> | undefined)?.sent === true };
      let exec: Exec;
      try {
        exec = await execFor(rt, node);
      } catch (err) {
        throw toFailure(err, node, rt, progress.sent);
      }
      // Cancellation reaches an activity only through heartbeats, so heartbeat while running.
      const beat = setInterval(() => ctx.heartbeat(progress), HEARTBEAT_MS);
      // Only a cancel the workflow asked for kills the command. Temporal also cancels an attempt it
      // has given up on (heartbeat timeout, e.g. across a server restart; not found; worker
      // shutdown): then another attempt re-attaches to the command, so this one only lets go.
      const cancel = new AbortController();
      const detach = new AbortController();
      const onCancel = () => {
        if (cancelRequested(ctx)) cancel.abort();
        else detach.abort(ctx.cancellationSignal.reason);
      };
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      if (ctx.cancellationSignal.aborted) onCancel();
      let release: (() => void) | undefined;
      try {
        // A command a head start of this process runs already holds its slot; anything else
        // waits (heartbeating) for one of the node's max_parallel.
        if (!rt.headStarted.has(input.taskId)) release = await rt.slots.take(node.id, node.maxParallel, AbortSignal.any([cancel.signal, detach.signal]));
        const item = {
          taskId: input.taskId, command: input.command, routeReason: input.routeReason, autoRouted: input.autoRouted, signal: cancel.signal,
          // The timeout counts from the first attempt: a retry re-attaches, it does not restart the clock.
          deadline: ctx.info.scheduledTimestampMs + input.timeoutS * 1000,
        };
        const result = await runOne(rt, node, exec, item, {
          timeoutS: input.timeoutS, cwd: input.cwd, env: input.env,
          detach: detach.signal,
          onBytes: (n) => { progress.bytes += n; },
          // Recorded at once: a failure report carries the latest details to the next attempt.
          onSent: () => { progress.sent = true; ctx.heartbeat(progress); },
        });
        // The workflow returns this result as it is: a waiter in this process may answer now. The
        // node's slot is free from now on (when placement runs in this process, as under serve).
        rt.book.releaseOne(input.taskId);
        rt.completions.emit(input.taskId, result);
        return result;
      } catch (err) {
        if (detach.signal.aborted) throw err;
        throw toFailure(err, node, rt, progress.sent);
      } finally {
        release?.();
        clearInterval(beat);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },
  };
}

/** True for a cancel the workflow requested (task_cancel), not for an attempt Temporal abandoned. */
export function cancelRequested(ctx: Context): boolean {
  const reason = ctx.cancellationSignal.reason as { message?: string } | undefined;
  return ctx.cancellationDetails?.cancelRequested === true || reason?.message === 'CANCELLED';
}
