// Helpers for workspace tests: build trees, snapshot them (contents, exec bits, symlink
// targets, empty directories), and an Exec that runs the node agent locally and counts calls.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Exec } from '../../src/engine/exec.js';
import { localExec } from '../../src/ssh/localExec.js';

export type Snap = Record<string, string>;

/** path → "f <x|-> <sha256>" | "l <target>" | "d (empty)" for everything under dir, never following symlinks. */
export function snapshot(dir: string, only?: Iterable<string>): Snap {
  const out: Snap = {};
  const describe = (rel: string): string | null => {
    let st;
    try {
      st = lstatSync(join(dir, rel));
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) return `l ${readlinkSync(join(dir, rel))}`;
    if (st.isFile())
      return `f ${st.mode & 0o100 ? 'x' : '-'} ${createHash('sha256')
        .update(readFileSync(join(dir, rel)))
        .digest('hex')}`;
    return st.isDirectory() ? 'd' : 'other';
  };
  if (only) {
    for (const rel of only) {
      const d = describe(rel);
      if (d) out[rel] = d;
    }
    return out;
  }
  const walk = (rel: string) => {
    const names = readdirSync(rel === '' ? dir : join(dir, rel));
    if (names.length === 0 && rel !== '') out[rel] = 'd (empty)';
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const d = describe(path)!;
      if (d === 'd') walk(path);
      else out[path] = d;
    }
  };
  walk('');
  return out;
}

/** What git says a sync must copy: tracked + untracked-not-ignored, minus files gone from disk. */
export function gitListed(repo: string): string[] {
  const out = execFileSync('git', ['-C', repo, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' });
  return [...new Set(out.split('\0').filter(Boolean))].filter((p) => {
    try {
      lstatSync(join(repo, p));
      return true;
    } catch {
      return false;
    }
  });
}

export function write(root: string, rel: string, content: string | Buffer, mode?: number): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), content, mode === undefined ? undefined : { mode });
}

export function git(repo: string, ...args: string[]): string {
  return execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' });
}

export function initRepo(repo: string): void {
  mkdirSync(repo, { recursive: true });
  git(repo, 'init', '-q', '-b', 'main');
}

/** The local transport, counting execs (a refused request must not reach the node). */
export function countingExec(): Exec & { calls: number } {
  const f = ((script, h) => {
    f.calls++;
    return localExec(script, h);
  }) as Exec & { calls: number };
  f.calls = 0;
  return f;
}

export { sleep } from './wait.js';
