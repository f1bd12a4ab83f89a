// Shared names of the workspace engine: inputs, outputs, limits and the one error class.

export interface WorkspaceLimits {
  /** Total bytes of the copied tree (default 2 GiB). */
  maxBytes: number;
  /** Number of copied entries, files and symlinks (default 200 000). */
  maxFiles: number;
}

export const DEFAULT_LIMITS: WorkspaceLimits = { maxBytes: 2 * 1024 ** 3, maxFiles: 200_000 };

/** Where a node keeps workspaces; `~` is the node user's home, expanded on the node. */
export interface NodeWorkspaceConfig {
  /** Node id, for messages ("node n1: …"). */
  id?: string;
  /** workspace_root: one directory per tree (default ~/.cache/clusterflow/workspaces). */
  root?: string;
  /** The blob store (default ~/.cache/clusterflow/blobs). */
  blobs?: string;
  /** workspace_cache_max: LRU cap for trees + blobs, used by pruneWorkspaces (default 10 GiB). */
  cacheMaxBytes?: number;
}

export const DEFAULT_NODE_ROOT = '~/.cache/clusterflow/workspaces';
export const DEFAULT_NODE_BLOBS = '~/.cache/clusterflow/blobs';
export const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 ** 3;

export interface SyncProgress {
  phase: 'scan' | 'hash' | 'send' | 'apply';
  /** Blob bytes sent so far, and in all (known once the node answered which blobs it lacks). */
  bytesSent: number;
  bytesTotal: number;
}

export interface SyncRequest {
  /** Names the origin in the tree's key: trees of two hosts with the same path stay apart. */
  originHost: string;
  /** Absolute path on the origin; the command runs in the matching directory of the tree. */
  cwd: string;
  /** Holds the tree's lock; a retry with the same id takes the same tree again. */
  taskId: string;
  /** The lock expires after this many seconds (then another sync may reclaim the tree). */
  lockTtlS: number;
  limits?: Partial<WorkspaceLimits>;
  /** The origin's hash cache lives under <stateDir>/workspace-hashes/. */
  stateDir: string;
  signal?: AbortSignal;
  node: NodeWorkspaceConfig;
  onProgress?: (p: SyncProgress) => void;
}

export interface SyncSummary {
  mode: 'sync';
  /** Directory the command runs in, on the node. */
  node_path: string;
  /** The tree's root on the node: pass it to returnOutputs and releaseWorkspace. */
  tree: string;
  files: number;
  /** Blob bytes that travelled (0 when the node had everything). */
  bytes_sent: number;
  /** Distinct file contents of the manifest the node already had. */
  blobs_reused: number;
  sync_ms: number;
}

export interface OutputsRequest {
  tree: string;
  /** SyncSummary.node_path: the globs are relative to it. */
  nodeCwd: string;
  globs: string[];
  /** Absolute path on the origin where the files land (same relative paths). */
  originCwd: string;
  signal?: AbortSignal;
  /** Total bytes allowed back (default 2 GiB). */
  maxBytes?: number;
  node?: NodeWorkspaceConfig;
}

export interface ReturnedFile {
  path: string;
  size: number;
}

export interface WorkspaceInfo {
  name: string;
  node_path: string;
  origin_host: string;
  origin_path: string;
  /** Bytes of regular files in the tree, build products included. */
  bytes: number;
  /** Entries of the last synced manifest. */
  files: number;
  last_used: string;
  locked: boolean;
  lock_task?: string;
  lock_expires?: string;
}

export interface PruneOptions {
  all?: boolean;
  names?: string[];
  /** Remove least recently used unlocked trees until trees + blobs fit (default node.cacheMaxBytes). */
  capBytes?: number;
}

export interface PruneResult {
  removed: string[];
  freedBytes: number;
  skippedLocked: string[];
}

export type WorkspaceErrorKind =
  | 'bad-input' // missing cwd, bad option: permanent
  | 'limits' // tree too big (maxBytes / maxFiles): permanent
  | 'unsafe-path' // `..`, absolute, a symlink on the way: permanent
  | 'no-perl' // the node lacks perl (or its core modules): permanent
  | 'disk-full' // ENOSPC on the node: permanent until someone frees space
  | 'busy' // every tree of this origin path is locked, or a sync of the same tree still runs: retryable
  | 'node' // another I/O error on the node (permissions…): permanent
  | 'transport'; // the conversation broke (agent killed, blob corrupted, stream cut): retryable

const RETRYABLE: ReadonlySet<WorkspaceErrorKind> = new Set(['busy', 'transport']);

export class WorkspaceError extends Error {
  override name = 'WorkspaceError';
  readonly retryable: boolean;
  constructor(
    readonly kind: WorkspaceErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = RETRYABLE.has(kind);
  }
}
