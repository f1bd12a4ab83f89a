// Housekeeping of a node's workspaces: drop a tree's lock after its command, list trees,
// prune them (by name, all, or least recently used beyond the cap) and drop blobs no tree
// uses. Locked trees (live lease, or a sync writing them) are never removed.

import type { Exec } from '../engine/exec.js';
import { runAgent } from './agentRun.js';
import { decodeToken, encodeToken } from './relPath.js';
import {
  DEFAULT_CACHE_MAX_BYTES,
  DEFAULT_NODE_BLOBS,
  DEFAULT_NODE_ROOT,
  WorkspaceError,
  type NodeWorkspaceConfig,
  type PruneOptions,
  type PruneResult,
  type WorkspaceInfo,
} from './types.js';

/** Drops the tree's lock if `taskId` holds it (a no-op otherwise); returns what happened. */
export async function releaseWorkspace(exec: Exec, req: { tree: string; taskId: string; node?: NodeWorkspaceConfig }): Promise<'released' | 'other' | 'none'> {
  let answer = '';
  await runAgent(exec, {
    op: 'release',
    node: req.node,
    stdin: false,
    args: [encodeToken(req.tree), encodeToken(req.taskId)],
    converse: async (replies) => {
      answer = await replies.line();
    },
  });
  const m = /^OK (released|other|none)$/.exec(answer);
  if (!m) throw new WorkspaceError('transport', `node ${req.node?.id ?? '?'}: unexpected answer to release: ${answer.slice(0, 100)}`);
  return m[1] as 'released' | 'other' | 'none';
}

export async function listWorkspaces(exec: Exec, node: NodeWorkspaceConfig): Promise<{ trees: WorkspaceInfo[]; blobBytes: number; blobCount: number }> {
  const trees: WorkspaceInfo[] = [];
  let blobBytes = 0;
  let blobCount = 0;
  const root = node.root ?? DEFAULT_NODE_ROOT;
  await runAgent(exec, {
    op: 'list',
    node,
    stdin: false,
    args: [root, node.blobs ?? DEFAULT_NODE_BLOBS],
    converse: async (replies) => {
      for (;;) {
        const f = (await replies.line()).split(' ');
        if (f[0] === 'S') {
          blobBytes = Number(f[1]);
          blobCount = Number(f[2]);
          return;
        }
        if (f[0] !== 'T' || f.length < 10) throw new WorkspaceError('transport', `node ${node.id ?? '?'}: bad list line from the workspace agent`);
        const name = decodeToken(f[1]!);
        const locked = f[7] === '1';
        trees.push({
          name,
          node_path: `${root.replace(/\/+$/, '')}/${name}`,
          origin_host: decodeToken(f[2]!),
          origin_path: decodeToken(f[3]!),
          bytes: Number(f[4]),
          files: Number(f[5]),
          last_used: new Date(Number(f[6]) * 1000).toISOString(),
          locked,
          ...(f[8] !== '-' ? { lock_task: decodeToken(f[8]!), lock_expires: new Date(Number(f[9]) * 1000).toISOString() } : {}),
        });
      }
    },
  });
  return { trees, blobBytes, blobCount };
}

/**
 * One of: `all`, `names`, or (neither) the LRU cap (`capBytes`, else node.cacheMaxBytes, else
 * 10 GiB). Unreferenced blobs are dropped in every mode (unless a sync is running meanwhile).
 */
export async function pruneWorkspaces(exec: Exec, node: NodeWorkspaceConfig, opts: PruneOptions = {}): Promise<PruneResult> {
  const mode = opts.all ? 'all' : opts.names ? 'names' : 'cap';
  const cap = opts.capBytes ?? node.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES;
  const result: PruneResult = { removed: [], freedBytes: 0, skippedLocked: [] };
  await runAgent(exec, {
    op: 'prune',
    node,
    stdin: false,
    args: [
      node.root ?? DEFAULT_NODE_ROOT,
      node.blobs ?? DEFAULT_NODE_BLOBS,
      mode,
      String(Math.max(0, Math.floor(cap))),
      ...(opts.names ?? []).map(encodeToken),
    ],
    converse: async (replies) => {
      for (;;) {
        const f = (await replies.line()).split(' ');
        if (f[0] === 'R') {
          result.removed.push(decodeToken(f[1]!));
          result.freedBytes += Number(f[2]);
        } else if (f[0] === 'K') result.skippedLocked.push(decodeToken(f[1]!));
        else if (f[0] === 'M')
          continue; // no such tree: already gone
        else if (f[0] === 'G') {
          if (f[1] !== 'busy') result.freedBytes += Number(f[2]);
          return;
        } else throw new WorkspaceError('transport', `node ${node.id ?? '?'}: bad prune line from the workspace agent`);
      }
    },
  });
  return result;
}
