// Tasks as every module sees them: what a client asks for (specs), what activities get, and the
// results users read (field names follow the original tool's). Types only.
import type { Arch, Os } from './clusterTypes.js';
import type { FanoutPlacement } from './cluster/fanoutPlan.js';

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
  /** The workflow has more to do after the command (outputs back): no early answer from this result. */
  notFinal?: boolean;
  /**
   * The workspace the command ran in, which the workflow adds to its result: the early answer
   * carries it too. (Giving a synced tree's lease back changes nothing in the result.)
   */
  workspace?: WorkspaceResult;
  /** CLUSTER_SSH_RETRIES of the task: after this many retries of a connection failure the node counts as unreachable. */
  sshRetries?: number;
}

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
  /** Placed (and reserved) by the starting process when it runs the hub (fastpath/fastPath.ts); else the workflow places it. */
  placement?: FanoutPlacement;
  /** Nodes whose (single) batch the starting process launched itself (fastpath/fanoutHeadStart.ts): their commands may have been sent. */
  headStart?: string[];
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
  /** The starting process launched this batch (fastpath/fanoutHeadStart.ts): an attempt that cannot take that launch counts its commands as sent. */
  headStart?: boolean;
  /**
   * The batch workflow before this one on the node, in a fan-out that starts a node's next batch
   * while the one before runs (fanout.ts, CHAINED_BATCHES_PATCH): each lane of this batch starts
   * when a lane of that one has run out of commands, or once that workflow closed.
   */
  after?: string;
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
