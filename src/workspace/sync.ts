// The origin side of a sync: scan the tree, hash what changed (hash cache), build the
// manifest, then one exec of the node agent: digest → SAME | SEND manifest → NEED list →
// blobs → DONE (see agent/sync.ts for the node side).

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Exec } from '../activities/exec.js';
import { ExecAbortedError } from '../ssh/errors.js';
import type { StdinSink } from '../ssh/pool.js';
import { nodeLabel, runAgent, type AgentStream } from './agentRun.js';
import { hashEntries, HashCache } from './hashCache.js';
import { decodeToken, encodeToken } from './relPath.js';
import { checkLimits, scanTree, type TreeEntry } from './scan.js';
import {
  DEFAULT_LIMITS, DEFAULT_NODE_BLOBS, DEFAULT_NODE_ROOT, WorkspaceError, type SyncProgress, type SyncRequest, type SyncSummary,
} from './types.js';

const PIECE = 256 * 1024;

/** `<readable slug>-<hash of origin host and path>`: one tree per (origin host, origin path). */
export function treeKey(originHost: string, root: string): string {
  const slug = basename(root).replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'tree';
  return `${slug}-${createHash('sha256').update(`${originHost}\0${root}`).digest('hex').slice(0, 16)}`;
}

export interface Manifest { text: string; digest: string; distinctBlobs: number }

/** One line per entry, sorted by path: `f sha x|- size path%` or `l target% - size path%`. */
export function buildManifest(entries: readonly TreeEntry[]): Manifest {
  const lines: string[] = [];
  const shas = new Set<string>();
  for (const e of entries) {
    if (e.kind === 'f') {
      shas.add(e.sha!);
      lines.push(`f ${e.sha} ${e.exec ? 'x' : '-'} ${e.size} ${encodeToken(e.path)}\n`);
    } else lines.push(`l ${encodeToken(e.target!)} - ${e.size} ${encodeToken(e.path)}\n`);
  }
  const text = lines.join('');
  return { text, digest: createHash('sha256').update(text).digest('hex'), distinctBlobs: shas.size };
}

export async function syncWorkspace(exec: Exec, req: SyncRequest): Promise<SyncSummary> {
  const started = performance.now();
  if (!req.taskId) throw new WorkspaceError('bad-input', 'syncWorkspace needs a task id');
  if (!(req.lockTtlS > 0)) throw new WorkspaceError('bad-input', `lockTtlS must be positive, got ${req.lockTtlS}`);
  const progress = (p: SyncProgress) => req.onProgress?.(p);
  progress({ phase: 'scan', bytesSent: 0, bytesTotal: 0 });
  const tree = await scanTree(req.cwd, req.signal);
  checkLimits(tree, { ...DEFAULT_LIMITS, ...req.limits });
  progress({ phase: 'hash', bytesSent: 0, bytesTotal: 0 });
  const cache = HashCache.load(req.stateDir, tree.root);
  await hashEntries(tree.root, tree.entries, cache, req.signal);
  cache.save();
  const manifest = buildManifest(tree.entries);

  const bySha = new Map<string, TreeEntry>();
  for (const e of tree.entries) if (e.kind === 'f' && !bySha.has(e.sha!)) bySha.set(e.sha!, e);
  let needed = 0;
  let bytesSent = 0;
  let done: string[] = [];
  const args = [
    req.node.root ?? DEFAULT_NODE_ROOT, req.node.blobs ?? DEFAULT_NODE_BLOBS, treeKey(req.originHost, tree.root), encodeToken(req.taskId),
    String(Math.ceil(req.lockTtlS)), encodeToken(req.originHost), encodeToken(tree.root), manifest.digest, String(tree.entries.length),
    encodeToken(tree.cwdRel),
  ];
  await runAgent(exec, {
    op: 'sync', args, node: req.node, signal: req.signal, stdin: true,
    converse: async (replies, sink) => {
      const first = await replies.line();
      if (first === 'SEND') {
        const text = Buffer.from(`${manifest.text}.\n`);
        for (let off = 0; off < text.length; off += PIECE) await sink!.write(text.subarray(off, off + PIECE));
        const shas = await readNeed(replies, bySha, req.node.id);
        needed = shas.length;
        const total = shas.reduce((sum, sha) => sum + bySha.get(sha)!.size, 0);
        progress({ phase: 'send', bytesSent: 0, bytesTotal: total });
        bytesSent = await sendBlobs(sink!, tree.root, shas.map((sha) => bySha.get(sha)!), req.signal, (n) => progress({ phase: 'send', bytesSent: n, bytesTotal: total }));
        progress({ phase: 'apply', bytesSent, bytesTotal: total });
      } else if (first !== 'SAME') {
        throw new WorkspaceError('transport', `${nodeLabel(req.node)}: unexpected reply from the workspace agent: ${first.slice(0, 200)}`);
      }
      done = (await replies.line()).split(' ');
    },
  });
  if (done[0] !== 'DONE' || done.length < 5) throw new WorkspaceError('transport', `${nodeLabel(req.node)}: the workspace agent did not confirm the sync`);
  const treePath = decodeToken(done[1]!);
  return {
    mode: 'sync',
    node_path: tree.cwdRel === '' ? treePath : `${treePath}/${tree.cwdRel}`,
    tree: treePath,
    files: Number(done[2]),
    bytes_sent: bytesSent,
    blobs_reused: manifest.distinctBlobs - needed,
    sync_ms: Math.round(performance.now() - started),
  };
}

async function readNeed(replies: AgentStream, bySha: Map<string, TreeEntry>, nodeId?: string): Promise<string[]> {
  const head = /^NEED (\d+)$/.exec(await replies.line());
  if (!head) throw new WorkspaceError('transport', `node ${nodeId ?? '?'}: the workspace agent did not say which blobs it needs`);
  const shas: string[] = [];
  for (let i = Number(head[1]); i > 0; i--) {
    const sha = await replies.line();
    if (!bySha.has(sha)) throw new WorkspaceError('transport', `node ${nodeId ?? '?'}: the workspace agent asked for an unknown blob ${sha.slice(0, 80)}`);
    shas.push(sha);
  }
  return shas;
}

/**
 * `B sha size` + the bytes, per blob, then `E`. Small files are gathered into ~256 KiB writes.
 * A file that changed since it was hashed is sent as it was sized (cut or zero-padded): the
 * node's hash check then fails the sync, and a retry hashes it again.
 */
async function sendBlobs(sink: StdinSink, root: string, entries: TreeEntry[], signal: AbortSignal | undefined, onSent: (n: number) => void): Promise<number> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let sent = 0;
  let lastReport = 0;
  const flush = async () => {
    if (batchBytes === 0) return;
    if (signal?.aborted) throw new ExecAbortedError(signal.reason);
    const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch);
    batch = [];
    batchBytes = 0;
    await sink.write(data);
    if (performance.now() - lastReport > 250) {
      lastReport = performance.now();
      onSent(sent);
    }
  };
  const add = async (b: Buffer) => {
    batch.push(b);
    batchBytes += b.length;
    if (batchBytes >= PIECE) await flush();
  };
  for (const e of entries) {
    await add(Buffer.from(`B ${e.sha} ${e.size}\n`));
    let fd: number;
    try {
      fd = openSync(join(root, e.path), 'r');
    } catch (err) {
      throw new WorkspaceError('transport', `${e.path} vanished from ${root} during the sync (${(err as Error).message}); retry`);
    }
    try {
      for (let left = e.size; left > 0;) {
        const chunk = Buffer.allocUnsafe(Math.min(left, PIECE));
        let n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) n = chunk.fill(0).length; // shrank meanwhile: pad; the node refuses the blob
        await add(n === chunk.length ? chunk : chunk.subarray(0, n));
        left -= n;
        sent += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  await add(Buffer.from('E\n'));
  await flush();
  onSent(sent);
  return sent;
}
