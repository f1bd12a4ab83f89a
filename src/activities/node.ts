// runCommand: the activity of a node's queue. One command, run detached on the node (SSH, or
// child_process for the local node) by one engine attempt; or, when the fast path of this
// process already ran it to the end, that result (same run files, no second exec).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { findNode, unknownNodeMessage } from '../cluster/nodes.js';
import { workerRefusal } from '../cluster/policyGate.js';
import { runAttempt } from '../engine/attempt.js';
import { spendRetryBudget } from '../engine/failures.js';
import type { FastPath } from '../fastpath/fastPath.js';
import { log } from '../log.js';
import type { Services } from '../runtime/services.js';
import { FailureType, type CommandResult, type RunCommandInput } from '../shared.js';
import { activityControl } from './control.js';

export interface NodeActivityDeps {
  services: Services;
  /** This process's fast path, when it has one: its finished runs are taken instead of re-attached. */
  fastPath?: FastPath;
}

export function createNodeActivities({ services: rt, fastPath }: NodeActivityDeps) {
  return {
    async runCommand(input: RunCommandInput): Promise<CommandResult> {
      const ctx = Context.current();
      const node = findNode(rt.config, input.nodeId);
      if (!node) throw ApplicationFailure.nonRetryable(unknownNodeMessage(rt.config, input.nodeId), FailureType.UnknownNode);
      // The worker decides what it runs: the same policy as the client's, on this node, again.
      const refusal = workerRefusal({ command: input.command, cwd: input.cwd, env: input.env, node, approved: input.approved });
      if (refusal) throw ApplicationFailure.nonRetryable(`refused on ${node.id}: ${refusal}`, FailureType.Refused);
      const early = fastPath?.take(input.taskId);
      if (early) {
        log.debug({ taskId: input.taskId }, "took the fast path's result");
        return { ...early, route_reason: input.routeReason, auto_routed: input.autoRouted };
      }
      // A fast-path launch may have sent it already: never report the node unreachable then (a re-route could run it twice).
      const { control, dispose } = activityControl(ctx, { sent: input.headStart === true });
      try {
        const [result] = await runAttempt(
          rt,
          node,
          [
            {
              taskId: input.taskId,
              command: input.command,
              routeReason: input.routeReason,
              autoRouted: input.autoRouted,
              // The timeout counts from the first attempt: a retry re-attaches, it does not restart the clock.
              deadline: ctx.info.scheduledTimestampMs + input.timeoutS * 1000,
            },
          ],
          {
            lanes: 1,
            timeoutS: input.timeoutS,
            cwd: input.cwd,
            env: input.env,
            // A command the fast path of this process runs holds its slot already.
            slotHeld: fastPath?.holdsSlot(input.taskId) ?? false,
          },
          control,
        );
        // The workflow returns this result as it is: a waiter in this process may answer now, and
        // the node's placement is free from now on (when placement runs in this process).
        rt.book.releaseOne(input.taskId);
        // Not when the workflow still returns outputs after it: that result is the workflow's to give.
        if (!input.notFinal) rt.results.publish(input.workspace ? { ...result!, workspace: input.workspace } : result!);
        return result!;
      } catch (err) {
        throw spendRetryBudget(err, ctx.info.attempt, input.sshRetries);
      } finally {
        dispose();
      }
    },
  };
}
