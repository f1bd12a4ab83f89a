// The origin's hash cache: (inode, size, mtime, ctime) → sha256 per path, one file per tree
// under <stateDir>/workspace-hashes/, so an unchanged file is never read again. Racy-git rule:
// an entry hashed less than 2 s after the file's mtime (or ctime) may describe a file that was
// written again within the same timestamp, so it is not trusted: the file is hashed again next
// time (and then, being old enough, trusted).
// Next to it, `<id>.last` remembers the previous manifest's digest under a fingerprint of the
// stat data of every entry: when nothing moved and every hash was trusted, a sync reuses the
// digest without reading the cache (the no-change path costs a listing and an lstat per entry).

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecAbortedError } from '../ssh/errors.js';
import { decodeToken, encodeToken } from './relPath.js';
import type { TreeEntry } from './scan.js';
import { WorkspaceError } from './types.js';

const RACY_MS = 2000;

interface Cached { ino: number; size: number; mtimeMs: number; ctimeMs: number; hashedAtMs: number; sha: string; seen: boolean }

export class HashCache {
  private dirty = false;

  private constructor(private readonly file: string, private readonly entries: Map<string, Cached>) {}

  static load(stateDir: string, root: string): HashCache {
    const file = `${cacheBase(stateDir, root)}.tsv`;
    const entries = new Map<string, Cached>();
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch { /* first sync of this tree */ }
    for (const line of text.split('\n')) {
      const f = line.split('\t');
      if (f.length !== 7 || !/^[0-9a-f]{64}$/.test(f[5]!)) continue;
      try {
        entries.set(decodeToken(f[6]!), { ino: Number(f[0]), size: Number(f[1]), mtimeMs: Number(f[2]), ctimeMs: Number(f[3]), hashedAtMs: Number(f[4]), sha: f[5]!, seen: false });
      } catch { /* a damaged line: that file is hashed again */ }
    }
    return new HashCache(file, entries);
  }

  lookup(e: TreeEntry): string | undefined {
    const c = this.entries.get(e.path);
    if (c) c.seen = true;
    if (!c || c.ino !== e.ino || c.size !== e.size || c.mtimeMs !== e.mtimeMs || c.ctimeMs !== e.ctimeMs) return undefined;
    if (c.hashedAtMs - Math.max(c.mtimeMs, c.ctimeMs) < RACY_MS) return undefined;
    return c.sha;
  }

  /** Would every file of `entries` be taken from the cache as it is now (none racy)? */
  allTrusted(entries: readonly TreeEntry[]): boolean {
    return entries.every((e) => e.kind !== 'f' || this.lookup(e) === e.sha);
  }

  record(e: TreeEntry, sha: string, hashedAtMs: number): void {
    this.entries.set(e.path, { ino: e.ino, size: e.size, mtimeMs: e.mtimeMs, ctimeMs: e.ctimeMs, hashedAtMs, sha, seen: true });
    this.dirty = true;
  }

  /** Writes the cache when it changed, keeping only paths of this scan (atomic, 0600). */
  save(): void {
    for (const [path, c] of this.entries) {
      if (!c.seen) {
        this.entries.delete(path);
        this.dirty = true;
      }
    }
    if (!this.dirty) return;
    const lines: string[] = [];
    for (const [path, c] of this.entries) lines.push(`${c.ino}\t${c.size}\t${c.mtimeMs}\t${c.ctimeMs}\t${c.hashedAtMs}\t${c.sha}\t${encodeToken(path)}\n`);
    mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, lines.join(''), { mode: 0o600 });
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}

const cacheBase = (stateDir: string, root: string) => join(stateDir, 'workspace-hashes', createHash('sha256').update(root).digest('hex').slice(0, 24));

/** Stat data (and symlink targets) of every entry: equal fingerprints, same files on disk. */
export function fingerprint(entries: readonly TreeEntry[]): string {
  const parts = entries.map((e) => `${e.path}\0${e.kind}${e.exec ? 'x' : '-'}\0${e.ino}\0${e.size}\0${e.mtimeMs}\0${e.ctimeMs}\0${e.target ?? ''}\n`);
  return createHash('sha256').update(parts.join('')).digest('hex');
}

export interface LastManifest { fingerprint: string; digest: string; distinctBlobs: number; count: number }

export function readLast(stateDir: string, root: string): LastManifest | null {
  try {
    const [fp, digest, distinct, count] = readFileSync(`${cacheBase(stateDir, root)}.last`, 'utf8').trim().split(' ');
    if (!/^[0-9a-f]{64}$/.test(fp ?? '') || !/^[0-9a-f]{64}$/.test(digest ?? '')) return null;
    return { fingerprint: fp!, digest: digest!, distinctBlobs: Number(distinct), count: Number(count) };
  } catch {
    return null;
  }
}

/** Remembers the manifest (null: forget it, e.g. when some hash was racy). */
export function writeLast(stateDir: string, root: string, last: LastManifest | null): void {
  const file = `${cacheBase(stateDir, root)}.last`;
  if (!last) return void rmSync(file, { force: true });
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.${process.pid}.tmp`, `${last.fingerprint} ${last.digest} ${last.distinctBlobs} ${last.count}\n`, { mode: 0o600 });
  renameSync(`${file}.${process.pid}.tmp`, file);
}

const buffer = Buffer.allocUnsafe(1024 * 1024);

/**
 * Fills entry.sha for every file (symlinks need none), from the cache or by reading the file.
 * Size and times come from the open file (fstat), so they describe the bytes that were hashed.
 * Yields to the event loop every ~20 ms of work and stops when the signal aborts.
 */
export async function hashEntries(root: string, entries: TreeEntry[], cache: HashCache, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<{ hashedFiles: number; hashedBytes: number }> {
  let hashedFiles = 0;
  let hashedBytes = 0;
  let slice = performance.now();
  for (const e of entries) {
    if (e.kind !== 'f') continue;
    const cached = cache.lookup(e);
    if (cached) {
      e.sha = cached;
      continue;
    }
    let fd: number;
    try {
      fd = openSync(join(root, e.path), 'r');
    } catch (err) {
      throw new WorkspaceError('transport', `${e.path} vanished from ${root} during the sync (${(err as Error).message}); retry`);
    }
    try {
      const st = fstatSync(fd);
      const hash = createHash('sha256');
      let size = 0;
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, null);
        if (n === 0) break;
        hash.update(buffer.subarray(0, n));
        size += n;
        onBytes?.(n);
        if (performance.now() - slice > 20) {
          await new Promise((resolve) => setImmediate(resolve));
          if (signal?.aborted) throw new ExecAbortedError(signal.reason);
          slice = performance.now();
        }
      }
      Object.assign(e, { size, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, exec: (st.mode & 0o100) !== 0, sha: hash.digest('hex') });
      cache.record(e, e.sha!, Date.now());
      hashedFiles++;
      hashedBytes += size;
    } finally {
      closeSync(fd);
    }
  }
  return { hashedFiles, hashedBytes };
}
