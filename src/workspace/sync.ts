// The origin side of a sync: locate the tree (a missing cwd fails here, before any exec),
// start the node agent, and meanwhile list the tree, hash what changed (hash cache) and build
// the manifest; then digest → SAME | SEND manifest → NEED list → blobs → DONE, all in that one
// exec (see agent/sync.ts for the node side). The node checks its tree while the origin scans:
// a no-change sync costs about the longer of the two, not their sum.

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Exec } from '../engine/exec.js';
import { ExecAbortedError, isAbortError } from '../ssh/errors.js';
import type { StdinSink } from '../ssh/pool.js';
import { nodeLabel, runAgent, type AgentStream } from './agentRun.js';
import { allTrusted, fingerprint, hashEntries, HashCache, originStateBase, readLast, writeLast } from './hashCache.js';
import { blobSources, blobSourcesOf, buildManifest, loadManifest, manifestDelta, saveManifest, type BlobSources } from './manifest.js';
import { decodeToken, encodeToken } from './relPath.js';
import { checkLimits, listTree, locateTree, type LocatedTree, type ScannedTree } from './scan.js';
import { DEFAULT_LIMITS, DEFAULT_NODE_BLOBS, DEFAULT_NODE_ROOT, WorkspaceError, type SyncProgress, type SyncRequest, type SyncSummary } from './types.js';

const PIECE = 256 * 1024;

/** `<readable slug>-<hash of origin host and path>`: one tree per (origin host, origin path). */
export function treeKey(originHost: string, root: string): string {
  const slug =
    basename(root)
      .replace(/[^A-Za-z0-9_-]+/g, '_')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 40) || 'tree';
  return `${slug}-${createHash('sha256').update(`${originHost}\0${root}`).digest('hex').slice(0, 16)}`;
}

export async function syncWorkspace(exec: Exec, req: SyncRequest): Promise<SyncSummary> {
  const started = performance.now();
  if (!req.taskId) throw new WorkspaceError('bad-input', 'syncWorkspace needs a task id');
  if (!(req.lockTtlS > 0)) throw new WorkspaceError('bad-input', `lockTtlS must be positive, got ${req.lockTtlS}`);
  const progress = (p: SyncProgress) => req.onProgress?.(p);
  progress({ phase: 'scan', bytesSent: 0, bytesTotal: 0 });
  const located = await locateTree(req.cwd);
  // Stops the scan when the exec fails first (or the caller aborts).
  const scanStop = new AbortController();
  const stopScan = () => scanStop.abort(req.signal?.reason);
  req.signal?.addEventListener('abort', stopScan, { once: true });
  const prepared = prepare(located, req, scanStop.signal);
  prepared.catch(() => undefined); // judged in the conversation

  let needed = 0;
  let bytesSent = 0;
  let files = 0;
  let done: string[] = [];
  const args = [
    req.node.root ?? DEFAULT_NODE_ROOT,
    req.node.blobs ?? DEFAULT_NODE_BLOBS,
    treeKey(req.originHost, located.root),
    encodeToken(req.taskId),
    String(Math.ceil(req.lockTtlS)),
    encodeToken(req.originHost),
    encodeToken(located.root),
    encodeToken(located.cwdRel),
  ];
  // The agent ended (an error before it read the digest, a dropped connection): stop scanning now.
  const execThenStop: Exec = (script, h) => exec(script, h).finally(() => scanStop.abort());
  try {
    await runAgent(execThenStop, {
      op: 'sync',
      args,
      node: req.node,
      signal: req.signal,
      stdin: true,
      converse: async (replies, sink) => {
        let ready: Prepared;
        try {
          ready = await prepared;
        } catch (err) {
          await sink!.write('X\n').catch(() => undefined);
          // Our own stop (the agent ended first) is not the caller's abort.
          if (isAbortError(err) && !req.signal?.aborted)
            throw new WorkspaceError('transport', `${nodeLabel(req.node)}: the workspace agent ended before the origin had listed the tree`);
          throw err;
        }
        const { tree } = ready;
        files = tree.entries.length;
        await sink!.write(`H ${ready.digest} ${files}\n`);
        const first = await replies.line();
        const send = /^SEND (\S+)$/.exec(first);
        if (send) {
          const { text, sources } = await ready.full();
          // The lines that differ from the manifest the node's tree holds, when we still have that one.
          const base = send[1] === '-' ? null : loadManifest(originStateBase(req.stateDir, tree.root), send[1]!);
          const body = Buffer.from(base !== null ? `D\n${manifestDelta(base, text)}.\n` : `M\n${text}.\n`);
          for (let off = 0; off < body.length; off += PIECE) await sink!.write(body.subarray(off, off + PIECE));
          const shas = await readNeed(replies, sources, req.node.id);
          needed = shas.length;
          const total = shas.reduce((sum, sha) => sum + sources.get(sha)!.size, 0);
          progress({ phase: 'send', bytesSent: 0, bytesTotal: total });
          bytesSent = await sendBlobs(
            sink!,
            tree.root,
            shas.map((sha) => ({ sha, ...sources.get(sha)! })),
            req.signal,
            (n) => progress({ phase: 'send', bytesSent: n, bytesTotal: total }),
          );
          progress({ phase: 'apply', bytesSent, bytesTotal: total });
        } else if (first !== 'SAME') {
          throw new WorkspaceError('transport', `${nodeLabel(req.node)}: unexpected reply from the workspace agent: ${first.slice(0, 200)}`);
        }
        done = (await replies.line()).split(' ');
      },
    });
  } finally {
    req.signal?.removeEventListener('abort', stopScan);
    scanStop.abort();
  }
  if (done[0] !== 'DONE' || done.length < 5) throw new WorkspaceError('transport', `${nodeLabel(req.node)}: the workspace agent did not confirm the sync`);
  const treePath = decodeToken(done[1]!);
  const { distinctBlobs } = await prepared;
  return {
    mode: 'sync',
    node_path: located.cwdRel === '' ? treePath : `${treePath}/${located.cwdRel}`,
    tree: treePath,
    files,
    bytes_sent: bytesSent,
    blobs_reused: distinctBlobs - needed,
    sync_ms: Math.round(performance.now() - started),
  };
}

/** What the conversation needs: the digest at once; the manifest text and blob sources only on SEND. */
interface Prepared {
  tree: ScannedTree;
  digest: string;
  distinctBlobs: number;
  full: () => Promise<{ text: string; sources: BlobSources }>;
}

/**
 * List, check limits, then hash (through the cache) and build the manifest, unless nothing
 * moved since the last sync: then the last manifest's digest stands, and its kept text (not
 * the hash cache) answers a node that asks for it.
 */
async function prepare(located: LocatedTree, req: SyncRequest, signal: AbortSignal): Promise<Prepared> {
  const tree = await listTree(located, signal);
  checkLimits(tree, { ...DEFAULT_LIMITS, ...req.limits });
  const base = originStateBase(req.stateDir, tree.root);
  const fp = fingerprint(tree.entries);
  const build = async () => {
    req.onProgress?.({ phase: 'hash', bytesSent: 0, bytesTotal: 0 });
    const cache = HashCache.load(req.stateDir, tree.root);
    const { hashedFiles, hashedBytes } = await hashEntries(tree.root, tree.entries, cache, signal);
    cache.save(tree.entries, { files: hashedFiles, bytes: hashedBytes });
    const manifest = buildManifest(tree.entries);
    saveManifest(base, manifest);
    const trusted = allTrusted(tree.entries);
    writeLast(
      req.stateDir,
      tree.root,
      trusted ? { fingerprint: fp, digest: manifest.digest, distinctBlobs: manifest.distinctBlobs, count: tree.entries.length } : null,
    );
    return { manifest, sources: blobSources(tree.entries) };
  };
  const last = readLast(req.stateDir, tree.root);
  if (last && last.fingerprint === fp && last.count === tree.entries.length) {
    const full = async () => {
      const text = loadManifest(base, last.digest);
      if (text !== null) return { text, sources: blobSourcesOf(text) };
      const b = await build();
      if (b.manifest.digest !== last.digest) throw new WorkspaceError('transport', `the origin's record of ${tree.root} was inconsistent (now rebuilt); retry`);
      return { text: b.manifest.text, sources: b.sources };
    };
    return { tree, digest: last.digest, distinctBlobs: last.distinctBlobs, full };
  }
  const b = await build();
  return { tree, digest: b.manifest.digest, distinctBlobs: b.manifest.distinctBlobs, full: async () => ({ text: b.manifest.text, sources: b.sources }) };
}

async function readNeed(replies: AgentStream, bySha: BlobSources, nodeId?: string): Promise<string[]> {
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
async function sendBlobs(
  sink: StdinSink,
  root: string,
  entries: Array<{ sha: string; path: string; size: number }>,
  signal: AbortSignal | undefined,
  onSent: (n: number) => void,
): Promise<number> {
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
