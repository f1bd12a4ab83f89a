import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createHeadStartActivities } from '../activities/headStart.js';
import type { createHubActivities } from '../activities/hub.js';
import type { createNodeActivities } from '../activities/node.js';
import {
  activityAttempts,
  errorText,
  explicitRouteReason,
  FailureType,
  inPlaceWorkspace,
  needsSync,
  nodeQueue,
  unranResult,
  type CommandResult,
  type CommandSpec,
  type TaskState,
  type WorkspaceResult,
} from '../shared.js';
import { afterCommand, asTree, originOf, type SyncedTree } from './workspace.js';
import { ClusterExitCode, ClusterNode, ClusterState } from './searchAttributes.js';

const { placeCommand, releasePlacement } = proxyLocalActivities<ReturnType<typeof createHubActivities>>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
});

/** headStartResult, once: a process that cannot answer says null, and runCommand does the work as before. */
function headStartOf(summary?: string) {
  return proxyLocalActivities<ReturnType<typeof createHeadStartActivities>>({
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 1 },
    ...(summary ? { summary } : {}),
  }).headStartResult;
}

/** Failures that mean "the command never started there", so an auto-routed task may go elsewhere. */
const NOT_STARTED = new Set<string>([FailureType.NodeUnreachable]);
const MAX_REROUTES = 2;
const REATTACH_PAUSE_MS = 5000;
const DEFAULT_HEARTBEAT_TIMEOUT_S = 20;
/** A synced tree's lease outlasts the command's own timeout by this much (outputs still come back). */
const LEASE_MARGIN_S = 600;
/** Marks histories whose commands may sync the origin's files to the node first (older ones never do). */
const WORKSPACE_PATCH = 'workspace-sync';
/**
 * Marks histories where the Web UI gets a dashboard (memo node, current details) and a task that
 * produced no result of its own (no eligible node, host key refused, input refused, outcome
 * unknown) fails the workflow, so `ExecutionStatus="Failed"` finds it. Older histories return
 * such results as a completed workflow.
 */
const DASHBOARD_PATCH = 'dashboard-and-failed-status';
/** Marks histories whose head-started command may be recorded from the first workflow task (headStartResult). */
const HEAD_START_PATCH = 'head-start-first-task';
/**
 * How long the first workflow task waits for a head-started command to end. Short: it holds the
 * task open meanwhile, and only short commands gain (the work saved is ~20 ms of Temporal's).
 */
const HEAD_START_WAIT_MS = 500;
/**
 * Marks lean histories: this one marker stands for every patch above (each patched() call costs
 * its history a marker and a TemporalChangeVersion upsert, and the server a search-attribute
 * check and a visibility update), and the node and the memo are upserted only when they change
 * (the start usually named the node already). Older histories call each patch where it applies.
 */
const LEAN_PATCH = 'lean-history';

/** Proxy for runCommand on one node's own task queue, where that node's worker polls. */
function runOn(nodeId: string, timeoutS: number, heartbeatTimeoutS = DEFAULT_HEARTBEAT_TIMEOUT_S, sshRetries?: number, summary?: string) {
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
      nonRetryableErrorTypes: [FailureType.HostKey, FailureType.Auth, FailureType.BadInput, FailureType.UnknownNode, FailureType.Lost, FailureType.Refused],
    },
    ...(summary ? { summary } : {}),
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
  const lean = patched(LEAN_PATCH);
  const dashboard = lean || patched(DASHBOARD_PATCH);
  const excluded: string[] = [];
  const notes: string[] = [];
  const deadline = started + spec.timeoutS * 1000;
  // Set once the command may be running on a node we lost: from then on only re-attach there.
  let pinned: { nodeId: string; routeReason: string } | undefined;
  // The cwd's files on the node the command went to: synced there (outputs come back, lease given back), or used in place.
  let synced: SyncedTree | undefined;
  let inPlace: WorkspaceResult | undefined;
  const end = (result: CommandResult, ranItself: boolean): Promise<CommandResult> => {
    const ending = (async () => {
      const withFiles = synced
        ? await afterCommand(spec.workspace!, synced, taskId, spec.timeoutS, result)
        : inPlace
          ? { ...result, workspace: inPlace }
          : result;
      return finish({ ...withFiles, ...(dashboard && spec.workflowUrl ? { workflow_url: spec.workflowUrl } : {}) }, dashboard, ranItself);
    })();
    // `return end(...)` in the loop adopts this promise only after `finally` has given the placement
    // back (a local activity): a failure (finish throws TaskFailed) left unhandled that long is an
    // unhandled rejection, which fails the workflow task over and over instead of the workflow.
    // Marked handled here; the command order stays what recorded histories have.
    ending.catch(() => undefined);
    return ending;
  };
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
          taskId,
          weight: spec.weight,
          classifyReason: spec.classifyReason,
          requires: spec.requires,
          exclude: excluded,
          ...(spec.excludeNodes ? { excludeNodes: spec.excludeNodes } : {}),
          ...(spec.kinds ? { kinds: spec.kinds } : {}),
        }));
      } catch (err) {
        return end(failed(taskId, started, '', errorText(err), notes.join('; '), autoRouted), false);
      }
    }
    if (notes.length && !pinned) routeReason = `${routeReason} (after ${notes.join('; ')})`;
    const { typedSearchAttributes, memo } = workflowInfo();
    if (!lean || typedSearchAttributes.get(ClusterNode) !== nodeId) upsertSearchAttributes([{ key: ClusterNode, value: nodeId }]);
    if (dashboard) {
      if (!lean || memo?.node !== nodeId) upsertMemo({ node: nodeId });
      setCurrentDetails(`running on ${nodeId}`);
    }
    try {
      // The origin's files first, where the node cannot see them (not again when re-attaching).
      if (spec.workspace && !pinned && (lean || patched(WORKSPACE_PATCH))) {
        synced = undefined;
        inPlace = needsSync(spec.workspace, nodeId) ? undefined : inPlaceWorkspace(spec.workspace);
        if (!inPlace) {
          setCurrentDetails(`copying ${spec.workspace.cwd} to ${nodeId}`);
          const got = asTree(
            nodeId,
            await originOf(spec.workspace, (deadline - Date.now()) / 1000, nodeId).syncWorkspace({
              taskId,
              nodeId,
              ws: spec.workspace,
              leaseS: spec.timeoutS + LEASE_MARGIN_S,
            }),
          );
          if ('skipped' in got) inPlace = { mode: 'skipped', node_path: '', note: `no workspace: ${got.skipped}` };
          else synced = got;
          setCurrentDetails(`running on ${nodeId}`);
        }
      }
      // What the Web UI shows of the step that runs the command: where, and why there.
      const summary = dashboard ? `${nodeId}: ${routeReason.slice(0, 200)}` : undefined;
      // A command this process's fast path launched and that ended at once: recorded without runCommand.
      // A cancel meanwhile ends the workflow at once; the fast path then kills the run (killIfAbandoned).
      if (spec.headStart && excluded.length === 0 && !pinned && !synced && (lean || patched(HEAD_START_PATCH))) {
        const early = await headStartOf(summary)({ taskId, maxWaitMs: HEAD_START_WAIT_MS }).catch((err: unknown) => {
          if (isCancellation(err)) throw err;
          return null;
        });
        // eslint-disable-next-line @typescript-eslint/return-await -- on purpose: `finally` gives the placement back first (see end())
        if (early) return end({ ...early, route_reason: routeReason, auto_routed: autoRouted, duration_ms: Date.now() - started }, true);
      }
      const cwd = synced ? synced.nodePath : inPlace?.mode === 'skipped' ? undefined : spec.cwd;
      const result = await runOn(
        nodeId,
        spec.timeoutS,
        spec.heartbeatTimeoutS,
        spec.sshRetries,
        summary,
      )({
        taskId,
        nodeId,
        command: spec.command,
        cwd,
        env: spec.env,
        timeoutS: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
        routeReason,
        autoRouted,
        ...(spec.headStart && excluded.length === 0 ? { headStart: true } : {}),
        ...(spec.approved ? { approved: spec.approved } : {}),
        // Outputs still to come back: no early answer. Otherwise it may be given with the workspace
        // it ran in while the lease goes back (same result either way).
        ...(synced && spec.workspace!.outputs?.length ? { notFinal: true } : {}),
        ...(synced ? { workspace: synced.info } : inPlace ? { workspace: inPlace } : {}),
        ...(spec.sshRetries !== undefined ? { sshRetries: spec.sshRetries } : {}),
      });
      // eslint-disable-next-line @typescript-eslint/return-await -- on purpose: `finally` gives the placement back first, the command order of recorded histories (see end())
      return end({ ...result, duration_ms: Date.now() - started }, true);
    } catch (err) {
      if (isCancellation(err)) {
        // eslint-disable-next-line @typescript-eslint/return-await -- on purpose: `finally` gives the placement back first, the command order of recorded histories (see end())
        return end(failed(taskId, started, nodeId, 'cancelled before the command finished', routeReason, autoRouted, 'cancelled'), true);
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
      const why =
        type === FailureType.ConnectionLost
          ? `${errorText(err)}; lost contact with ${nodeId} until the ${spec.timeoutS} s timeout, so the command's outcome is unknown (it may still be running there)`
          : errorText(err);
      // eslint-disable-next-line @typescript-eslint/return-await -- on purpose: `finally` gives the placement back first, the command order of recorded histories (see end())
      return end(failed(taskId, started, nodeId, why, routeReason, autoRouted), false);
    } finally {
      if (autoRouted) await CancellationScope.nonCancellable(() => releasePlacement({ taskId }));
    }
  }
}

/**
 * Record the outcome where `temporal workflow list --query` and the Web UI can see it. A task
 * that got no result of its own (`ranItself` false) fails the workflow (dashboard histories),
 * carrying the result as the failure's details for clients.
 */
function finish(result: CommandResult, dashboard: boolean, ranItself: boolean): CommandResult {
  upsertSearchAttributes([
    { key: ClusterState, value: result.state },
    ...(result.return_code !== null ? [{ key: ClusterExitCode, value: result.return_code }] : []),
  ]);
  if (!dashboard) return result;
  setCurrentDetails(detailsLine(result));
  if (!ranItself && result.state === 'failed')
    throw ApplicationFailure.create({ message: result.error ?? 'failed', type: FailureType.TaskFailed, nonRetryable: true, details: [result] });
  return result;
}

/** "n1 · exit 2 · 1.2 s": where it ran and how it ended, at a glance in the Web UI. */
export function detailsLine(r: CommandResult): string {
  const how = r.return_code !== null ? `exit ${r.return_code}` : r.state === 'completed' ? 'ok' : r.state.replace('_', ' ');
  const why = r.return_code === null && r.error ? ` · ${r.error.slice(0, 160)}` : '';
  return `${r.executed_on || 'not run'} · ${how} · ${(r.duration_ms / 1000).toFixed(1)} s${why}`;
}

function failed(
  taskId: string,
  started: number,
  nodeId: string,
  error: string,
  routeReason: string,
  autoRouted: boolean,
  state: TaskState = 'failed',
): CommandResult {
  return unranResult(taskId, nodeId, error, state, routeReason, autoRouted, Date.now() - started);
}
