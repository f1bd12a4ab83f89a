// Workspace activities. syncWorkspace, returnOutputs and releaseWorkspace run on the origin's
// queue (the workers of the state dir and host that hold the files: only they can read the tree
// and write outputs back), talking to the node over this process's SSH pool. workspaceAdmin
// (list / prune) runs on the node's queue. Each is idempotent under retry: a sync retried with
// the same task id completes the same tree; outputs are written atomically; release is a no-op
// when the lease is gone.
import { hostname } from 'node:os';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { findNode, unknownNodeMessage } from '../cluster/nodes.js';
import { execFor } from '../engine/exec.js';
import { toFailure } from '../engine/failures.js';
import { log } from '../log.js';
import type { Services } from '../runtime/services.js';
import { FailureType, type NodeConfig, type WorkspaceSpec } from '../shared.js';
import { SshError } from '../ssh/errors.js';
import {
  listWorkspaces,
  pruneWorkspaces,
  releaseWorkspace,
  returnOutputs,
  syncWorkspace,
  WorkspaceError,
  type NodeWorkspaceConfig,
  type PruneResult,
  type ReturnedFile,
  type SyncSummary,
  type WorkspaceInfo,
} from '../workspace/index.js';
import { activityControl } from './control.js';

export interface SyncWorkspaceInput {
  taskId: string;
  nodeId: string;
  ws: WorkspaceSpec;
  /** Seconds the lease on the node's tree lasts (the command's timeout and a margin). */
  leaseS: number;
}

export type SyncOutcome = SyncSummary | { skipped: string };

/** This host's name as the origin of a workspace (trees of two hosts with the same path stay apart). */
export const originHostName = (): string => hostname();

function nodeWorkspace(node: NodeConfig): NodeWorkspaceConfig {
  return {
    id: node.id,
    ...(node.workspaceRoot ? { root: node.workspaceRoot } : {}),
    ...(node.workspaceCacheMax ? { cacheMaxBytes: node.workspaceCacheMax } : {}),
  };
}

function nodeOf(rt: Services, nodeId: string): NodeConfig {
  const node = findNode(rt.config, nodeId);
  if (!node) throw ApplicationFailure.nonRetryable(unknownNodeMessage(rt.config, nodeId), FailureType.UnknownNode);
  return node;
}

/** WorkspaceError kinds become Temporal failures: permanent ones are never retried; transport errors are the engine's. */
function workspaceFailure(err: unknown, node: NodeConfig, rt: Services): ApplicationFailure {
  if (err instanceof WorkspaceError) {
    const msg = `${node.id}: ${err.message}`;
    return err.retryable ? ApplicationFailure.retryable(msg, FailureType.Workspace) : ApplicationFailure.nonRetryable(msg, FailureType.Workspace);
  }
  if (err instanceof SshError || !(err instanceof ApplicationFailure)) return toFailure(err, node, rt);
  return err;
}

export function createWorkspaceActivities(rt: Services) {
  return {
    /** Copy the cwd's tree to the node (only what it lacks), leased to the task; {skipped} when an optional (defaulted) cwd is over the limits. */
    async syncWorkspace(input: SyncWorkspaceInput): Promise<SyncOutcome> {
      const ctx = Context.current();
      const node = nodeOf(rt, input.nodeId);
      const { control, dispose } = activityControl(ctx);
      const abort = AbortSignal.any([control.cancel!, control.abandon!]);
      const beat = setInterval(() => ctx.heartbeat(), 1000);
      try {
        const exec = await execFor(rt, node);
        return await syncWorkspace(exec, {
          originHost: input.ws.originHost,
          cwd: input.ws.cwd,
          taskId: input.taskId,
          lockTtlS: input.leaseS,
          stateDir: rt.stateDir,
          limits: { maxBytes: rt.config.settings.workspaceMaxBytes, maxFiles: rt.config.settings.workspaceMaxFiles },
          node: nodeWorkspace(node),
          signal: abort,
          onProgress: (p) => ctx.heartbeat(p),
        });
      } catch (err) {
        if (input.ws.optional && err instanceof WorkspaceError && err.kind === 'limits') return { skipped: err.message };
        throw workspaceFailure(err, node, rt);
      } finally {
        clearInterval(beat);
        dispose();
      }
    },

    /** Copy the outputs globs from the node's tree into the origin cwd (each file atomically). */
    async returnOutputs(input: { nodeId: string; tree: string; nodeCwd: string; globs: string[]; originCwd: string }): Promise<ReturnedFile[]> {
      const node = nodeOf(rt, input.nodeId);
      try {
        return await returnOutputs(await execFor(rt, node), {
          tree: input.tree,
          nodeCwd: input.nodeCwd,
          globs: input.globs,
          originCwd: input.originCwd,
          node: nodeWorkspace(node),
        });
      } catch (err) {
        throw workspaceFailure(err, node, rt);
      }
    },

    /** Give the tree's lease back (the next command of the same tree may use it); ask for the node's cache to be kept within its cap. */
    async releaseWorkspace(input: { nodeId: string; tree: string; taskId: string }): Promise<void> {
      const node = nodeOf(rt, input.nodeId);
      try {
        const exec = await execFor(rt, node);
        await releaseWorkspace(exec, { tree: input.tree, taskId: input.taskId, node: nodeWorkspace(node) });
        rt.prunes.request(
          node.id,
          () => pruneWorkspaces(exec, nodeWorkspace(node), {}),
          (err) => log.warn({ nodeId: node.id, err: String(err) }, 'workspace cache prune failed'),
        );
      } catch (err) {
        throw workspaceFailure(err, node, rt);
      }
    },

    /** `cluster-router workspace list|prune`: on the node's own queue. */
    async workspaceAdmin(input: {
      nodeId: string;
      op: 'list' | 'prune';
      names?: string[];
      all?: boolean;
    }): Promise<{ trees: WorkspaceInfo[]; blobBytes: number; blobCount: number } | PruneResult> {
      const node = nodeOf(rt, input.nodeId);
      try {
        const exec = await execFor(rt, node);
        if (input.op === 'list') return await listWorkspaces(exec, nodeWorkspace(node));
        return await pruneWorkspaces(exec, nodeWorkspace(node), { ...(input.all ? { all: true } : {}), ...(input.names ? { names: input.names } : {}) });
      } catch (err) {
        throw workspaceFailure(err, node, rt);
      }
    },
  };
}
