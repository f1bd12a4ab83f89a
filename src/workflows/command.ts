import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createHubActivities } from '../activities/hub.js';
import type { createNodeActivities } from '../activities/node.js';
import { activityAttempts, errorText, explicitRouteReason, FailureType, nodeQueue, unranResult, type CommandResult, type CommandSpec, type TaskState } from '../shared.js';
import { ClusterExitCode, ClusterNode, ClusterState } from './searchAttributes.js';

const { placeCommand, releasePlacement } = proxyLocalActivities<ReturnType<typeof createHubActivities>>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
});

/** Failures that mean "the command never started there", so an auto-routed task may go elsewhere. */
const NOT_STARTED = new Set<string>([FailureType.NodeUnreachable]);
const MAX_REROUTES = 2;
const REATTACH_PAUSE_MS = 5000;
const DEFAULT_HEARTBEAT_TIMEOUT_S = 20;

/** Proxy for runCommand on one node's own task queue, where that node's worker polls. */
function runOn(nodeId: string, timeoutS: number, heartbeatTimeoutS = DEFAULT_HEARTBEAT_TIMEOUT_S, sshRetries?: number) {
  return proxyActivities<ReturnType<typeof createNodeActivities>>({
    taskQueue: nodeQueue(nodeId),
    // The activity enforces timeoutS itself (and kills the process group); this is the backstop.
    startToCloseTimeout: `${timeoutS + 120} seconds`,
    // A queue nobody polls (its worker is gone) must not hang the task forever.
    scheduleToStartTimeout: '2 minutes',
    // A dead worker's attempt is retried (and re-attaches to the command) this long after its last heartbeat.
    heartbeatTimeout: `${heartbeatTimeoutS} seconds`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '500 ms',
      backoffCoefficient: 2,
      // CLUSTER_SSH_RETRIES (spec.sshRetries) is enforced by the activity for connection failures; 3 without it, as before.
      maximumAttempts: activityAttempts(sshRetries, 3),
      nonRetryableErrorTypes: [FailureType.HostKey, FailureType.Auth, FailureType.BadInput, FailureType.UnknownNode, FailureType.Lost],
    },
  }).runCommand;
}

/**
 * One command = one durable workflow (workflow id = task id). Place it (unless a node was
 * named), run it on that node's queue, and return a result that says where and why.
 * An auto-routed command whose node cannot be reached is re-placed elsewhere.
 */
export async function commandWorkflow(spec: CommandSpec): Promise<CommandResult> {
  const taskId = workflowInfo().workflowId;
  const started = Date.now();
  const autoRouted = !spec.nodeId;
  const excluded: string[] = [];
  const notes: string[] = [];
  const deadline = started + spec.timeoutS * 1000;
  // Set once the command may be running on a node we lost: from then on only re-attach there.
  let pinned: { nodeId: string; routeReason: string } | undefined;
  for (;;) {
    let nodeId: string;
    let routeReason: string;
    if (pinned) {
      ({ nodeId, routeReason } = pinned);
    } else if (spec.nodeId) {
      nodeId = spec.nodeId;
      routeReason = explicitRouteReason(nodeId);
    } else if (spec.placed && excluded.length === 0) {
      ({ nodeId, reason: routeReason } = spec.placed);
    } else {
      try {
        ({ nodeId, reason: routeReason } = await placeCommand({
          taskId, weight: spec.weight, classifyReason: spec.classifyReason, requires: spec.requires, exclude: excluded, ...(spec.kinds ? { kinds: spec.kinds } : {}),
        }));
      } catch (err) {
        return finish(failed(taskId, started, '', errorText(err), notes.join('; '), autoRouted));
      }
    }
    if (notes.length && !pinned) routeReason = `${routeReason} (after ${notes.join('; ')})`;
    upsertSearchAttributes([{ key: ClusterNode, value: nodeId }]);
    try {
      const result = await runOn(nodeId, spec.timeoutS, spec.heartbeatTimeoutS, spec.sshRetries)({
        taskId, nodeId, command: spec.command, cwd: spec.cwd, env: spec.env,
        timeoutS: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)), routeReason, autoRouted,
        ...(spec.headStart && excluded.length === 0 ? { headStart: true } : {}),
        ...(spec.sshRetries !== undefined ? { sshRetries: spec.sshRetries } : {}),
      });
      return finish({ ...result, duration_ms: Date.now() - started });
    } catch (err) {
      if (isCancellation(err)) {
        return finish(failed(taskId, started, nodeId, 'cancelled before the command finished', routeReason, autoRouted, 'cancelled'));
      }
      const type = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
      if (autoRouted && type && NOT_STARTED.has(type) && excluded.length < MAX_REROUTES) {
        excluded.push(nodeId);
        notes.push(`${nodeId} unreachable: ${errorText(err)}`);
        continue;
      }
      // The connection died after the command was sent: keep re-attaching to it on that node
      // until its own timeout, so a node that comes back in time still yields the real result.
      if (type === FailureType.ConnectionLost && Date.now() + REATTACH_PAUSE_MS < deadline) {
        pinned = { nodeId, routeReason };
        await sleep(REATTACH_PAUSE_MS);
        continue;
      }
      const why = type === FailureType.ConnectionLost
        ? `${errorText(err)}; lost contact with ${nodeId} until the ${spec.timeoutS} s timeout, so the command's outcome is unknown (it may still be running there)`
        : errorText(err);
      return finish(failed(taskId, started, nodeId, why, routeReason, autoRouted));
    } finally {
      if (autoRouted) await CancellationScope.nonCancellable(() => releasePlacement({ taskId }));
    }
  }
}

/** Record the outcome where `temporal workflow list --query` can see it. */
function finish(result: CommandResult): CommandResult {
  upsertSearchAttributes([
    { key: ClusterState, value: result.state },
    ...(result.return_code !== null ? [{ key: ClusterExitCode, value: result.return_code }] : []),
  ]);
  return result;
}

function failed(taskId: string, started: number, nodeId: string, error: string, routeReason: string, autoRouted: boolean, state: TaskState = 'failed'): CommandResult {
  return unranResult(taskId, nodeId, error, state, routeReason, autoRouted, Date.now() - started);
}
