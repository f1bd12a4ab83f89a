// Names and types shared by workflows, activities, the client, the MCP server and tests.
// Workflow code imports this file, so it must stay free of Node imports.
import type { CommandResult, TaskState, WorkspaceResult, WorkspaceSpec } from './taskTypes.js';

export type * from './clusterTypes.js';
export type * from './taskTypes.js';

export const HUB_QUEUE = 'clusterflow';
/** The one cluster monitor workflow (clusterMonitorWorkflow). */
export const MONITOR_WORKFLOW_ID = 'clusterflow-monitor';
export const nodeQueue = (nodeId: string): string => `clusterflow-node-${nodeId}`;
/** The queue of an origin: the workers of one state dir on one host, which hold the files a workspace comes from. */
export const originQueue = (originId: string): string => `clusterflow-origin-${originId}`;
/** Whether the command must have the cwd's files copied to `nodeId` first (auto: unless the node sees them in place). */
export const needsSync = (ws: WorkspaceSpec | undefined, nodeId: string): boolean => ws !== undefined && (ws.mode === 'sync' || !ws.inPlace.includes(nodeId));
/** A result's workspace when the node sees the cwd itself (shared_paths, the local node). */
export const inPlaceWorkspace = (ws: WorkspaceSpec): WorkspaceResult => ({ mode: 'in-place', node_path: ws.cwd });
/** Task ids: `cmd-<ulid>`, `par-<ulid>`, and `par-<ulid>/<i>` for command i of a fan-out. Nothing else is a task. */
export const TASK_ID_PATTERN = /^(cmd|par)-[0-9a-z]{26}$|^par-[0-9a-z]{26}\/\d{1,6}$/;
/** Env names the runner keeps for itself (the command and cwd travel under them): no task may set them. */
export const RESERVED_ENV = /^__cf/i;
/** route_reason of a command sent to a named node. */
export const explicitRouteReason = (nodeId: string): string => `explicit: offload to ${nodeId}`;

export const SEARCH_ATTRIBUTES = {
  ClusterNode: 'Keyword',
  ClusterTaskKind: 'Keyword',
  ClusterExitCode: 'Int',
  ClusterCommand: 'Text',
  ClusterState: 'Keyword',
} as const;

/**
 * A payload the codec could not accept as ours decodes to `{ [REFUSED_KEY]: why }`: not
 * encrypted with our key, altered, or copied from another workflow (security/codec.ts). The
 * workflow interceptor refuses any input that carries it (workflows/interceptors.ts).
 */
export const REFUSED_KEY = '__clusterflowRefused';

/** Why a decoded value is a refusal marker, or undefined when it is a real value. */
export function refusalOf(value: unknown): string | undefined {
  return value !== null && typeof value === 'object' && REFUSED_KEY in value ? String((value as Record<string, unknown>)[REFUSED_KEY]) : undefined;
}

/** Cap on each of stdout/stderr carried in a result (head + tail); the rest stays in the output store. */
export const RESULT_STREAM_CAP = 64 * 1024;

/** ApplicationFailure types the activities throw; the non-retryable ones are listed in the retry policy. */
export const FailureType = {
  NodeUnreachable: 'NodeUnreachable',
  HostKey: 'HostKeyError',
  Auth: 'AuthError',
  BadInput: 'BadInput',
  UnknownNode: 'UnknownNode',
  NoEligibleNode: 'NoEligibleNode',
  Lost: 'CommandLost',
  /** The worker refused the task's input (not ours, copied, or against the policy): never retried. */
  Refused: 'Refused',
  /** A task that got no result of its own failed its workflow; the failure's details[0] is its result. */
  TaskFailed: 'TaskFailed',
  /** A workspace could not be synced or its outputs returned (limits, unsafe path, disk full, no perl...). */
  Workspace: 'WorkspaceError',
  /** The command was sent, then the node was lost: retried to re-attach there, never re-routed. */
  ConnectionLost: 'ConnectionLost',
} as const;

/**
 * Attempts a workflow gives runCommand / runBatch: room for the CLUSTER_SSH_RETRIES budget (the
 * activity itself stops retrying an unreachable node once it is spent), and never fewer than
 * `floor`, what every build gave before the setting (so recorded histories replay unchanged:
 * they carry no sshRetries). Other retryable failures (a lost connection, a worker that died)
 * get the same number of attempts.
 */
export function activityAttempts(sshRetries: number | undefined, floor: number): number {
  return sshRetries === undefined ? floor : Math.max(floor, Math.floor(sshRetries) + 1);
}

/** Fan-outs up to this size carry every result inline; larger ones carry failures only. */
export const INLINE_RESULTS_MAX = 1000;

/** A command that got no result of its own (not run, stopped before it started, lost): executed_on '' if it never ran. */
export function unranResult(
  taskId: string,
  nodeId: string,
  error: string,
  state: TaskState,
  routeReason: string,
  autoRouted = true,
  durationMs = 0,
): CommandResult {
  return {
    success: false,
    executed_on: nodeId,
    stdout: '',
    stderr: '',
    return_code: null,
    auto_routed: autoRouted,
    task_id: taskId,
    error,
    duration_ms: durationMs,
    route_reason: routeReason,
    truncated: false,
    workflow_url: '',
    state,
  };
}

/** The innermost message: "Activity task failed" or "Child Workflow execution failed" alone tells a user nothing. */
export function errorText(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) e = (e as { cause?: unknown }).cause;
  return e instanceof Error ? e.message : String(e);
}
