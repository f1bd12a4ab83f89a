// Workspace sync: the agent's tree, on the node that runs the command (DESIGN.md, Workspaces).
//
//   const ws = await syncWorkspace(exec, { originHost, cwd, taskId, lockTtlS, stateDir, node });
//   … run the command in ws.node_path on that node …
//   const files = await returnOutputs(exec, { tree: ws.tree, nodeCwd: ws.node_path, globs, originCwd: cwd });
//   await releaseWorkspace(exec, { tree: ws.tree, taskId });
//
// `exec` is the node's Exec (SSH pool or local child_process). Every operation is one exec of
// a perl agent (sent with the command; nodes need only sshd, sh and perl's core modules).
//
// syncWorkspace copies the enclosing git work tree (tracked + untracked-not-ignored files;
// outside git the cwd tree minus .clusterflowignore) content-addressed: the origin hashes with
// a cache, sends a manifest; the node answers which blobs it lacks; only those travel, in the
// same exec, verified by sha256. One tree per (origin host, origin path) per node: changed files
// replaced (fresh mtime), unchanged ones untouched (same mtime), files removed at the origin
// removed, build products left alone, files changed on the node restored. The tree is leased
// to `taskId` until releaseWorkspace (or lockTtlS); a concurrent sync gets `<key>.2`, … A retry
// with the same task id takes the same tree and completes an interrupted sync.
// Tree files are copies from the blob store, not hard links: a build that writes a tracked file
// in place must neither corrupt the store nor another tree, and each tree keeps its own mtimes.
//
// Errors: WorkspaceError with a kind (bad-input, limits, unsafe-path, no-perl, disk-full, node:
// permanent; busy, transport: retryable). The exec's own errors (SshError, AbortError) pass
// through unchanged.

export { syncWorkspace, treeKey } from './sync.js';
export { returnOutputs } from './outputs.js';
export { listWorkspaces, pruneWorkspaces, releaseWorkspace } from './housekeeping.js';
export {
  DEFAULT_CACHE_MAX_BYTES,
  DEFAULT_LIMITS,
  DEFAULT_NODE_BLOBS,
  DEFAULT_NODE_ROOT,
  WorkspaceError,
  type NodeWorkspaceConfig,
  type OutputsRequest,
  type PruneOptions,
  type PruneResult,
  type ReturnedFile,
  type SyncProgress,
  type SyncRequest,
  type SyncSummary,
  type WorkspaceErrorKind,
  type WorkspaceInfo,
  type WorkspaceLimits,
} from './types.js';
