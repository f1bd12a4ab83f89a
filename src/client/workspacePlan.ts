// A request's cwd, before anything starts: which directory the command runs in, and whether the
// workflow must bring the origin's files to the node (DESIGN.md, "Workspaces").
//   none   the cwd is ignored (the command runs in the node user's home);
//   shared the node sees cwd at the same path (an NFS mount): it runs there, nothing is copied;
//   sync   the cwd's tree is copied to the node first and the command runs in the copy;
//   auto   (default) in place where the node sees it (the local node, a node whose shared_paths
//          cover it), sync elsewhere.
// A system directory (/tmp, /var/tmp, /) names the node's own directory: nothing to copy.
import { statSync } from 'node:fs';
import path from 'node:path';
import type { ClusterConfig, WorkspaceMode, WorkspaceSpec } from '../shared.js';
import { UserError } from './errors.js';

const NODE_OWN_DIRS = new Set(['/', '/tmp', '/var/tmp', '/dev/shm']);

export interface WorkspaceRequest {
  cwd?: string;
  workspace?: WorkspaceMode;
  outputs?: string[];
  /** The cwd is the CLI's default (the current directory), not one the user gave. */
  cwdIsDefault?: boolean;
}

export interface Origin {
  queue: string;
  host: string;
}

/** The cwd the command gets (absent: the node user's home) and the workspace the workflow handles. */
export function planWorkspace(config: ClusterConfig, origin: Origin, req: WorkspaceRequest): { cwd?: string; workspace?: WorkspaceSpec } {
  const mode = req.workspace ?? 'auto';
  const outputs = req.outputs?.length ? req.outputs : undefined;
  if (outputs && (mode === 'none' || mode === 'shared' || !req.cwd)) {
    throw new UserError(
      `outputs come back from a synced workspace: give a cwd with workspace "auto" or "sync" (with "${mode}" there is no copy to take them from)`,
    );
  }
  if (!req.cwd || mode === 'none') {
    if (!req.cwd && (mode === 'sync' || mode === 'shared')) throw new UserError(`workspace "${mode}" needs a cwd`);
    return {};
  }
  if (mode === 'shared') return { cwd: req.cwd };
  if (!path.isAbsolute(req.cwd))
    throw new UserError(
      `cwd "${req.cwd}" must be an absolute path of a directory here (the origin), whose files the node gets; for a directory of the node's own, use workspace "shared"`,
    );
  const cwd = path.resolve(req.cwd);
  if (mode === 'auto' && NODE_OWN_DIRS.has(cwd)) return { cwd };
  let isDir = false;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    /* missing */
  }
  if (!isDir) {
    throw new UserError(
      `cwd ${cwd} is not a directory here (the origin), so there are no files to bring to the node; for a directory that exists only on the node, use workspace "shared" (or "none" to run in the node's home)`,
    );
  }
  const inPlace = mode === 'auto' ? config.nodes.filter((n) => n.local || n.sharedPaths?.some((p) => isUnder(cwd, p))).map((n) => n.id) : [];
  return {
    cwd,
    workspace: {
      mode,
      cwd,
      inPlace,
      originQueue: origin.queue,
      originHost: origin.host,
      ...(outputs ? { outputs } : {}),
      ...(req.cwdIsDefault ? { optional: true } : {}),
    },
  };
}

function isUnder(p: string, dir: string): boolean {
  const d = path.resolve(dir);
  return p === d || p.startsWith(d.endsWith('/') ? d : `${d}/`);
}
