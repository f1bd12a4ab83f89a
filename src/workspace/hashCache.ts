// The origin's hash cache: (inode, size, mtime, ctime) → sha256 per path, one file per tree
// under <stateDir>/workspace-hashes/ (columns of plain JSON arrays sorted by path, read with
// one merge walk over the sorted entries), so an unchanged file is never read again. Racy-git rule:
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
import type { TreeEntry } from './scan.js';
import { WorkspaceError } from './types.js';

const RACY_MS = 2000;

interface Columns {
  v: 1;
  path: string[];
  ino: number[];
  size: number[];
  mtime: number[];
  ctime: number[];
  at: number[];
  sha: string[];
}

export class HashCache {
  private constructor(
    private readonly file: string,
    private readonly cols: Columns | null,
  ) {}

  static load(stateDir: string, root: string): HashCache {
    const file = `${originStateBase(stateDir, root)}.json`;
    let cols: Columns | null = null;
    try {
      const c = JSON.parse(readFileSync(file, 'utf8')) as Columns;
      const n = c.path.length;
      if (c.v === 1 && [c.ino, c.size, c.mtime, c.ctime, c.at, c.sha].every((col) => Array.isArray(col) && col.length === n)) cols = c;
    } catch {
      /* first sync of this tree, or a damaged file: everything is hashed again */
    }
    return new HashCache(file, cols);
  }

  /**
   * Fills sha (and hashedAtMs) of every file entry the cache vouches for: same inode, size,
   * mtime and ctime, and not racy. Entries and cache are both sorted by path: one merge walk.
   */
  fill(entries: readonly TreeEntry[]): void {
    const c = this.cols;
    if (!c) return;
    let j = 0;
    for (const e of entries) {
      if (e.kind !== 'f') continue;
      while (j < c.path.length && c.path[j]! < e.path) j++;
      if (j === c.path.length) return;
      if (c.path[j] !== e.path || c.ino[j] !== e.ino || c.size[j] !== e.size || c.mtime[j] !== e.mtimeMs || c.ctime[j] !== e.ctimeMs) continue;
      if (c.at[j]! - Math.max(e.mtimeMs, e.ctimeMs) < RACY_MS || typeof c.sha[j] !== 'string' || c.sha[j]!.length !== 64) continue;
      e.sha = c.sha[j];
      e.hashedAtMs = c.at[j];
    }
  }

  /**
   * Writes the entries' hashes (atomic, 0600). A few files hashed again do not justify
   * rewriting the whole cache: a stale cache only costs hashing those few again next time.
   */
  save(entries: readonly TreeEntry[], hashed: { files: number; bytes: number }): void {
    const files = entries.filter((e) => e.kind === 'f');
    const fresh = this.cols === null || this.cols.path.length !== files.length;
    if (!fresh && hashed.files < 64 && hashed.bytes < 4 * 1024 * 1024) return;
    const c: Columns = { v: 1, path: [], ino: [], size: [], mtime: [], ctime: [], at: [], sha: [] };
    for (const e of files) {
      c.path.push(e.path);
      c.ino.push(e.ino);
      c.size.push(e.size);
      c.mtime.push(e.mtimeMs);
      c.ctime.push(e.ctimeMs);
      c.at.push(e.hashedAtMs!);
      c.sha.push(e.sha!);
    }
    mkdirSync(join(this.file, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(c), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/** Was every file hashed long enough after its last change to be trusted next time (no racy entry)? */
export function allTrusted(entries: readonly TreeEntry[]): boolean {
  return entries.every((e) => e.kind !== 'f' || e.hashedAtMs! - Math.max(e.mtimeMs, e.ctimeMs) >= RACY_MS);
}

/** Where the origin keeps what it knows of a tree: <base>.json (hashes), .last, .m.<digest> (manifests). */
export const originStateBase = (stateDir: string, root: string) =>
  join(stateDir, 'workspace-hashes', createHash('sha256').update(root).digest('hex').slice(0, 24));

/** Stat data (and symlink targets) of every entry: equal fingerprints, same files on disk. */
export function fingerprint(entries: readonly TreeEntry[]): string {
  const parts = entries.map((e) => `${e.path}\0${e.kind}${e.exec ? 'x' : '-'}\0${e.ino}\0${e.size}\0${e.mtimeMs}\0${e.ctimeMs}\0${e.target ?? ''}\n`);
  return createHash('sha256').update(parts.join('')).digest('hex');
}

export interface LastManifest {
  fingerprint: string;
  digest: string;
  distinctBlobs: number;
  count: number;
}

export function readLast(stateDir: string, root: string): LastManifest | null {
  try {
    const [fp, digest, distinct, count] = readFileSync(`${originStateBase(stateDir, root)}.last`, 'utf8')
      .trim()
      .split(' ');
    if (!/^[0-9a-f]{64}$/.test(fp ?? '') || !/^[0-9a-f]{64}$/.test(digest ?? '')) return null;
    return { fingerprint: fp!, digest: digest!, distinctBlobs: Number(distinct), count: Number(count) };
  } catch {
    return null;
  }
}

/** Remembers the manifest (null: forget it, e.g. when some hash was racy). */
export function writeLast(stateDir: string, root: string, last: LastManifest | null): void {
  const file = `${originStateBase(stateDir, root)}.last`;
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
export async function hashEntries(
  root: string,
  entries: TreeEntry[],
  cache: HashCache,
  signal?: AbortSignal,
  onBytes?: (n: number) => void,
): Promise<{ hashedFiles: number; hashedBytes: number }> {
  let hashedFiles = 0;
  let hashedBytes = 0;
  let slice = performance.now();
  cache.fill(entries);
  for (const e of entries) {
    if (e.kind !== 'f' || e.sha) continue;
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
      Object.assign(e, {
        size,
        ino: st.ino,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        exec: (st.mode & 0o100) !== 0,
        sha: hash.digest('hex'),
        hashedAtMs: Date.now(),
      });
      hashedFiles++;
      hashedBytes += size;
    } finally {
      closeSync(fd);
    }
  }
  return { hashedFiles, hashedBytes };
}
