// The manifest: one line per entry, sorted by path, `f sha x|- size path%` or
// `l target% - size path%`; its sha256 names it. The origin keeps the last few manifests of
// each tree (<stateDir>/workspace-hashes/<id>.m.<digest>) so it can send a node only the
// lines that differ from the manifest the node's tree holds, and find blobs without the cache.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { decodeToken, encodeToken } from './relPath.js';
import type { TreeEntry } from './scan.js';

export interface Manifest {
  text: string;
  digest: string;
  distinctBlobs: number;
}

/** Where blob contents are read from when the node needs them: sha → one path with it. */
export type BlobSources = Map<string, { path: string; size: number }>;

const KEEP = 4;

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
  return { text, digest: sha256(text), distinctBlobs: shas.size };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function blobSources(entries: readonly TreeEntry[]): BlobSources {
  const out: BlobSources = new Map();
  for (const e of entries) if (e.kind === 'f' && !out.has(e.sha!)) out.set(e.sha!, { path: e.path, size: e.size });
  return out;
}

export function blobSourcesOf(text: string): BlobSources {
  const out: BlobSources = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('f ')) continue;
    const [, sha, , size, path] = line.split(' ');
    if (!out.has(sha!)) out.set(sha!, { path: decodeToken(path!), size: Number(size) });
  }
  return out;
}

/** `+ <line>` for each new or changed entry, `- <path%>` for each removed one (both lists sorted by path). */
export function manifestDelta(base: string, next: string): string {
  const a = base.split('\n');
  const b = next.split('\n');
  a.pop();
  b.pop();
  const pathOf = (line: string) => line.slice(line.lastIndexOf(' ') + 1);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const pa = i < a.length ? decodeToken(pathOf(a[i]!)) : null;
    const pb = j < b.length ? decodeToken(pathOf(b[j]!)) : null;
    if (pa !== null && (pb === null || pa < pb)) {
      out.push(`- ${pathOf(a[i++]!)}\n`);
    } else if (pb !== null && (pa === null || pb < pa)) {
      out.push(`+ ${b[j++]}\n`);
    } else {
      if (a[i] !== b[j]) out.push(`+ ${b[j]}\n`);
      i++;
      j++;
    }
  }
  return out.join('');
}

/** Keeps the manifest text under its digest (atomic, 0600), and only the KEEP newest of the tree. */
export function saveManifest(base: string, m: Manifest): void {
  const file = `${base}.m.${m.digest}`;
  try {
    statSync(file);
    return;
  } catch {
    /* not kept yet */
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.${process.pid}.tmp`, m.text, { mode: 0o600 });
  renameSync(`${file}.${process.pid}.tmp`, file);
  const prefix = `${basename(base)}.m.`;
  const kept = readdirSync(dirname(file))
    .filter((n) => n.startsWith(prefix) && !n.endsWith('.tmp'))
    .map((n) => ({ n, t: statSync(`${dirname(file)}/${n}`).mtimeMs }))
    .sort((x, y) => y.t - x.t);
  for (const { n } of kept.slice(KEEP)) rmSync(`${dirname(file)}/${n}`, { force: true });
}

/** The kept manifest with this digest (checked), or null. */
export function loadManifest(base: string, digest: string): string | null {
  if (!/^[0-9a-f]{64}$/.test(digest)) return null;
  try {
    const text = readFileSync(`${base}.m.${digest}`, 'utf8');
    return sha256(text) === digest ? text : null;
  } catch {
    return null;
  }
}
