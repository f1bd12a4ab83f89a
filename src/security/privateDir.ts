// Everything the state dir holds (db, output, keys, tokens) is its owner's alone, whatever the
// umask or the mode the directory already had (DESIGN.md, "Trust boundary"): fixed on every start.
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Subdirectories whose every file is fixed too (small); the rest is protected by the 0700 dirs above it. */
const DEEP = new Set(['temporal']);

export function securePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  fixTree(dir, 0);
}

function fixTree(dir: string, depth: number): void {
  fix(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth === 0 && !DEEP.has(entry.name)) fix(p, 0o700);
      else fixTree(p, depth + 1);
    } else if (entry.isFile()) {
      fix(p, 0o600);
    }
    // Symlinks (a cluster.yaml pointing at the test cluster's) are left alone: chmod would follow them.
  }
}

function fix(p: string, mode: number): void {
  try {
    const st = lstatSync(p);
    // Only what we own (chmod of another user's file fails anyway), and only when too open.
    if (st.uid === process.getuid?.() && (st.mode & 0o077) !== 0) chmodSync(p, (st.mode & 0o7700 & ~0o077) | (mode & 0o700));
  } catch {
    // Gone meanwhile (a run finished): nothing to fix.
  }
}
