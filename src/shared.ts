// Names and types shared by workflows, activities, the client, the MCP server and tests.
// Workflow code imports this file, so it must stay free of Node imports.
import type { NodePolicy } from './cluster/policyTypes.js';

export const HUB_QUEUE = 'clusterflow';
/** The one cluster monitor workflow (clusterMonitorWorkflow). */
export const MONITOR_WORKFLOW_ID = 'clusterflow-monitor';
export const nodeQueue = (nodeId: string): string => `clusterflow-node-${nodeId}`;
/** The queue of an origin: the workers of one state dir on one host, which hold the files a workspace comes from. */
export const originQueue = (originId: string): string => `clusterflow-origin-${originId}`;
/** Whether the command must have the cwd's files copied to `nodeId` first (auto: unless the node sees them in place). */
export const needsSync = (ws: WorkspaceSpec | undefined, nodeId: string): boolean =>
  ws !== undefined && (ws.mode === 'sync' || !ws.inPlace.includes(nodeId));
/** Task ids: `cmd-<ulid>`, `par-<ulid>`, and `par-<ulid>/<i>` for command i of a fan-out. Nothing else is a task. */
export const TASK_ID_PATTERN = /^(cmd|par)-[0-9a-z]{26}$|^par-[0-9a-z]{26}\/\d{1,6}$/;
/** Env names the runner keeps for itself (the command and cwd travel under them): no task may set them. */
export const RESERVED_ENV = /^__cf/i;
/** route_reason of a command sent to a named node. */
export const explicitRouteReason = (nodeId: string): string => `explicit: offload to ${nodeId}`;

export type Os = 'linux' | 'macos';
export type Arch = 'x86_64' | 'arm64';
export type HostKeyPolicy = 'accept-new' | 'strict';

/** One node of the cluster, after config file, env vars and ~/.ssh/config are merged. */
export interface NodeConfig {
  id: string;
  /** Runs by child_process on the worker's machine, no SSH. */
  local: boolean;
  /** Set when `local` was found rather than written: why this node is this machine (cluster/thisMachine.ts). */
  localReason?: string;
  host?: string;
  /** Fallback address when `host` does not resolve or answer. */
  ip?: string;
  port: number;
  user?: string;
  identityFile?: string;
  os?: Os;
  arch?: Arch;
  capabilities: string[];
  specialties: string[];
  maxParallel: number;
  priority: number;
  /**
   * Extra metrics source: a shell command run on the node after the built-in probe whose
   * `key=value` lines override probed figures (e.g. `load1=9.5`). Lets a node report a
   * site-specific load (GPU queue, scheduler backlog), and lets tests make loopback nodes differ.
   */
  metricsCommand?: string;
  /** Per-node command policy from cluster.yaml `policy:` (allow / deny programs, read_only). */
  policy?: NodePolicy;
  /** Absolute paths this node sees as the origin does (NFS mounts): a cwd under one runs in place. */
  sharedPaths?: string[];
  /** Where synced workspaces live on the node (default ~/.cache/clusterflow/workspaces). */
  workspaceRoot?: string;
  /** Bytes of workspaces and blobs kept on the node before the least recently used go (default 10 GiB). */
  workspaceCacheMax?: number;
}

export interface Settings {
  sshUser?: string;
  sshTimeoutS: number;
  sshConnectTimeoutS: number;
  sshRetries: number;
  cpuThreshold: number;
  loadThreshold: number;
  memoryThreshold: number;
  cmdTimeoutS: number;
  statusTimeoutS: number;
  ipCacheTtlS: number;
  hostKeyPolicy: HostKeyPolicy;
  /** Programs that make a command heavy (offloaded). */
  offloadCommands: string[];
  /** Programs that keep a command light when it uses only these. */
  localCommands: string[];
  /** A synced workspace's limits (settings workspace_max_bytes / workspace_max_files). */
  workspaceMaxBytes: number;
  workspaceMaxFiles: number;
  /** CLUSTER_DNS: DNS servers (`addr` or `addr:port`) node names are resolved with, instead of the system's resolver. */
  dnsServers?: string[];
  /** CLUSTER_GATEWAY: the gateway whose route gives this machine's own address (local node detection). */
  gateway?: string;
}

export interface ClusterConfig {
  nodes: NodeConfig[];
  settings: Settings;
  /** Where the config came from: a file path, or "default (no config file)". */
  source: string;
  /** Things that are valid but probably not meant (e.g. `nodes: []`), one line each with the fix. */
  warnings?: string[];
}

/** Live figures for one node, from one probe round trip. */
export interface NodeMetrics {
  cpu_percent: number;
  memory_percent: number;
  load_avg: [number, number, number];
  cores: number;
  os: Os;
  arch: Arch;
  uptime_s: number;
}

export type NodeHealth = 'healthy' | 'busy' | 'unreachable' | 'unknown';

export interface NodeState {
  id: string;
  status: NodeHealth;
  os?: Os;
  arch?: Arch;
  cpu_percent?: number;
  memory_percent?: number;
  load_avg?: [number, number, number];
  cores?: number;
  in_flight: number;
  capabilities: string[];
  last_seen?: string;
  /** Why the node is unreachable, when it is. */
  reason?: string;
  /** Whether a worker serves this node's queue (its probe ran there); false: nobody does. */
  worker?: boolean;
}

export type TaskState = 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out';

/** How a command with a cwd gets the origin's files (DESIGN.md, "Workspaces"). */
export type WorkspaceMode = 'auto' | 'sync' | 'shared' | 'none';

/** A workspace the workflow still has to decide on (auto) or sync (sync): the origin's side of it. */
export interface WorkspaceSpec {
  mode: 'auto' | 'sync';
  /** The directory at the origin (absolute): the command runs in its copy (or in it, in place). */
  cwd: string;
  /** Nodes that see cwd as the origin does (the local node, nodes whose shared_paths cover it): auto runs there in place. */
  inPlace: string[];
  /** The queue of the worker that holds the files (the origin's host and state dir), and that host's name. */
  originQueue: string;
  originHost: string;
  /** Globs (relative to cwd) copied back to the origin after the command, whatever its exit code. */
  outputs?: string[];
  /** The cwd was the CLI's default, not asked for: a tree over the limits runs without a workspace instead of failing. */
  optional?: boolean;
}

/** Where a command ran with respect to the origin's files. */
export interface WorkspaceResult {
  mode: 'sync' | 'in-place' | 'skipped';
  node_path: string;
  files?: number;
  bytes_sent?: number;
  blobs_reused?: number;
  sync_ms?: number;
  /** Why there is no workspace (skipped): e.g. the default cwd was over the limits. */
  note?: string;
}

/** The result of one command. Field names follow the original tool's. */
export interface CommandResult {
  success: boolean;
  executed_on: string;
  stdout: string;
  stderr: string;
  return_code: number | null;
  auto_routed: boolean;
  task_id: string;
  error: string | null;
  duration_ms: number;
  route_reason: string;
  truncated: boolean;
  workflow_url: string;
  state: TaskState;
  /** The command printed more than CLUSTERFLOW_MAX_OUTPUT on a stream: only that much was stored. */
  output_capped?: boolean;
  /** The origin's files on the node: synced (with what it cost) or used in place. */
  workspace?: WorkspaceResult;
  /** Files copied back to the origin (outputs globs), relative to the cwd. */
  outputs_returned?: Array<{ path: string; size: number }>;
}

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

export interface Requirements {
  os?: Os;
  arch?: Arch;
  capabilities?: string[];
}

export type Weight = 'heavy' | 'light';

/** What the client asks for when it starts a commandWorkflow. */
export interface CommandSpec {
  command: string;
  /** Set by offload_to / --node: run exactly there, no routing. */
  nodeId?: string;
  requires: Requirements;
  weight: Weight;
  /** Why the classifier said heavy or light. */
  classifyReason: string;
  /** The command's kinds (compilation, testing, ...: cluster/specialties.ts), when it has any: specialists win ties. */
  kinds?: string[];
  timeoutS: number;
  cwd?: string;
  env?: Record<string, string>;
  /** runCommand's heartbeat timeout (default 20 s): how soon a dead worker's attempt is retried. */
  heartbeatTimeoutS?: number;
  /** CLUSTER_SSH_RETRIES: retries of a connection failure before the node counts as unreachable (absent: older clients, 2). */
  sshRetries?: number;
  /** Auto-routed and already placed by the serving process (same placement as placeCommand): the first node to try. */
  placed?: { nodeId: string; reason: string };
  /** The serving process launched the command itself (fastpath/fastPath.ts) on nodeId ?? placed.nodeId. */
  headStart?: boolean;
  /** The task's Web UI link (the workflow does not know the UI's address): recorded in its result. */
  workflowUrl?: string;
  /** Policy rules a person approved for this command (MCP elicitation): the worker lets those findings pass. */
  approved?: string[];
  /** Nodes whose own policy refuses the command, and why: placement passes them over. */
  excludeNodes?: Record<string, string>;
  /** The cwd's files, when the node may not see them (the workflow syncs them there first). */
  workspace?: WorkspaceSpec;
}

/** Input of the runCommand activity on a node's queue. */
export interface RunCommandInput {
  taskId: string;
  nodeId: string;
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutS: number;
  routeReason: string;
  autoRouted: boolean;
  /** A head start may have launched it already: never report it unreachable (a re-route could run it twice). */
  headStart?: boolean;
  /** Policy rules a person approved for this command (see CommandSpec.approved). */
  approved?: string[];
  /** The workflow has more to do after the command (outputs back, the tree's lease): no early answer from this result. */
  notFinal?: boolean;
  /** CLUSTER_SSH_RETRIES of the task: after this many retries of a connection failure the node counts as unreachable. */
  sshRetries?: number;
}

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

/** What the client asks for when it starts a parallelWorkflow. */
export interface ParallelSpec {
  /** The fan-out's Web UI link, recorded in its result. */
  workflowUrl?: string;
  /** Policy rules a person approved for these commands; the worker lets those findings pass. */
  approved?: string[];
  /** Nodes whose own policy refuses one of the commands, and why: placement passes them over. */
  excludeNodes?: Record<string, string>;
  /** The cwd's files, synced once to each node that needs them. */
  workspace?: WorkspaceSpec;
  /** Checked by the policy before the start. A fan-out places every command as heavy (it exists for throughput). */
  commands: string[];
  requires: Requirements;
  /** Commands in flight at once across the cluster (each node also caps at its max_parallel). */
  maxParallel: number;
  timeoutS: number;
  cwd?: string;
  env?: Record<string, string>;
  /** CLUSTER_SSH_RETRIES (absent: older clients): connection retries before a batch's node counts as unreachable. */
  sshRetries?: number;
  /** Kinds of the fan-out's commands together (cluster/specialties.ts): specialists win ties in its placement. */
  kinds?: string[];
}

/** One node-batch of a fan-out: a child workflow whose activity runs these over the pool. */
export interface BatchInput {
  /** The fan-out: command i has task id `<parentId>/<i>`. */
  parentId: string;
  nodeId: string;
  routeReason: string;
  items: Array<{ index: number; command: string }>;
  concurrency: number;
  timeoutS: number;
  cwd?: string;
  env?: Record<string, string>;
  /** Bytes of each stream kept per command in the result (the store keeps everything). */
  streamCap: number;
  /** Policy rules a person approved for these commands. */
  approved?: string[];
  /** The fan-out returns outputs after its batches: no early answer from batch results. */
  notFinal?: boolean;
  /** CLUSTER_SSH_RETRIES of the fan-out (absent: older fan-outs, one retry). */
  sshRetries?: number;
}

export interface ParallelSummary {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  by_node: Record<string, { succeeded: number; failed: number }>;
}

export interface ParallelResult {
  task_id: string;
  state: TaskState;
  summary: ParallelSummary;
  /** In input order; for very large fan-outs only failures are carried (see results_omitted). */
  results: CommandResult[];
  results_omitted?: boolean;
  duration_ms: number;
  /** Files copied back to the origin from each node's synced tree (outputs globs), by node. */
  outputs_returned?: Record<string, Array<{ path: string; size: number }>>;
}

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
export function unranResult(taskId: string, nodeId: string, error: string, state: TaskState, routeReason: string, autoRouted = true, durationMs = 0): CommandResult {
  return {
    success: false, executed_on: nodeId, stdout: '', stderr: '', return_code: null, auto_routed: autoRouted, task_id: taskId,
    error, duration_ms: durationMs, route_reason: routeReason, truncated: false, workflow_url: '', state,
  };
}

/** The innermost message: "Activity task failed" or "Child Workflow execution failed" alone tells a user nothing. */
export function errorText(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) e = (e as { cause?: unknown }).cause;
  return e instanceof Error ? e.message : String(e);
}
