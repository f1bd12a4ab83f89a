// A command's workspace in workflow code: the origin's activities (sync before the command,
// outputs and release after) proxied on the origin's queue, and the bookkeeping of one tree.
import { CancellationScope, proxyActivities } from '@temporalio/workflow';
import type { createWorkspaceActivities, SyncOutcome } from '../activities/workspace.js';
import { errorText, FailureType, type CommandResult, type WorkspaceResult, type WorkspaceSpec } from '../shared.js';

/** The origin's workspace activities; `timeoutS` bounds a sync (the command's own timeout covers it too). */
export function originOf(ws: WorkspaceSpec, timeoutS: number, nodeId: string) {
  return proxyActivities<ReturnType<typeof createWorkspaceActivities>>({
    taskQueue: ws.originQueue,
    startToCloseTimeout: `${Math.max(60, timeoutS)} seconds`,
    // The origin's worker must be there (it holds the files): say so soon when it is not.
    scheduleToStartTimeout: '30 seconds',
    heartbeatTimeout: '30 seconds',
    retry: {
      initialInterval: '1 second',
      maximumAttempts: 3,
      nonRetryableErrorTypes: [FailureType.Workspace, FailureType.HostKey, FailureType.Auth, FailureType.UnknownNode],
    },
    summary: `workspace ${ws.cwd} on ${nodeId}`,
  });
}

/** A synced tree on a node: what the command needs, and what comes back after it. */
export interface SyncedTree {
  nodeId: string;
  tree: string;
  nodePath: string;
  info: WorkspaceResult;
}

export function asTree(nodeId: string, outcome: SyncOutcome): SyncedTree | { skipped: string } {
  if ('skipped' in outcome) return outcome;
  return {
    nodeId,
    tree: outcome.tree,
    nodePath: outcome.node_path,
    info: {
      mode: 'sync',
      node_path: outcome.node_path,
      files: outcome.files,
      bytes_sent: outcome.bytes_sent,
      blobs_reused: outcome.blobs_reused,
      sync_ms: outcome.sync_ms,
    },
  };
}

/**
 * After the command (whatever its exit code, cancelled too): the outputs back to the origin, then
 * the tree's lease given back. A failure to return outputs becomes part of the result's error.
 */
export async function afterCommand(ws: WorkspaceSpec, t: SyncedTree, taskId: string, timeoutS: number, result: CommandResult): Promise<CommandResult> {
  return CancellationScope.nonCancellable(async () => {
    const origin = originOf(ws, timeoutS, t.nodeId);
    let out: CommandResult = { ...result, workspace: t.info };
    if (ws.outputs?.length) {
      try {
        out = {
          ...out,
          outputs_returned: await origin.returnOutputs({ nodeId: t.nodeId, tree: t.tree, nodeCwd: t.nodePath, globs: ws.outputs, originCwd: ws.cwd }),
        };
      } catch (err) {
        const why = `outputs not returned: ${errorText(err)}`;
        out = { ...out, outputs_returned: [], error: out.error ? `${out.error}; ${why}` : why };
      }
    }
    await origin.releaseWorkspace({ nodeId: t.nodeId, tree: t.tree, taskId }).catch(() => undefined);
    return out;
  });
}
