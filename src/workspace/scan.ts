// What a sync copies, found on the origin: the enclosing git work tree's tracked and
// untracked-not-ignored files (`git ls-files --cached --others --exclude-standard`, tracked
// files deleted from disk skipped, submodules listed by their own git), or outside git the cwd
// tree minus `.clusterflowignore` rules, never `.git`. Regular files keep their exec bit;
// symlinks are entries of their own (never followed); directories are not entries (as in git).

import { execFile } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { ExecAbortedError } from '../ssh/errors.js';
import { isIgnored, parseIgnore, type IgnoreLayer } from './ignore.js';
import { WorkspaceError, type WorkspaceLimits } from './types.js';

export interface TreeEntry {
  /** Relative to the tree root, '/'-separated. */
  path: string;
  kind: 'f' | 'l';
  size: number;
  exec: boolean;
  /** Symlinks: the link's text. */
  target?: string;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  /** sha256 hex, filled in by hashEntries, and when it was computed (for the racy-git rule). */
  sha?: string;
  hashedAtMs?: number;
}

export interface LocatedTree {
  /** Absolute, real path of the tree root on the origin. */
  root: string;
  /** The cwd relative to the root ('' at the root). */
  cwdRel: string;
  git: boolean;
}

export interface ScannedTree extends LocatedTree {
  /** Sorted by path (UTF-16 code units, as Array.prototype.sort). */
  entries: TreeEntry[];
}

export const IGNORE_FILE = '.clusterflowignore';

/** The tree that holds cwd: its git work tree, else cwd itself. Fails on a missing cwd. */
export async function locateTree(cwd: string): Promise<LocatedTree> {
  if (!isAbsolute(cwd)) throw new WorkspaceError('bad-input', `cwd must be an absolute path, got ${JSON.stringify(cwd)}`);
  let real: string;
  try {
    real = realpathSync(cwd);
    if (!statSync(real).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new WorkspaceError('bad-input', `cwd ${cwd} does not exist on the origin or is not a directory (${(err as Error).message})`);
  }
  const gitRoot = await gitTopLevel(real);
  const root = gitRoot ?? real;
  return { root, cwdRel: relative(root, real).split('\\').join('/'), git: gitRoot !== null };
}

export async function scanTree(cwd: string, signal?: AbortSignal): Promise<ScannedTree> {
  return listTree(await locateTree(cwd), signal);
}

export async function listTree(tree: LocatedTree, signal?: AbortSignal): Promise<ScannedTree> {
  const entries = tree.git ? await gitEntries(tree.root, '', signal) : await statAll(tree.root, walk(tree.root, signal), false, signal);
  if (!isSorted(entries)) entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ...tree, entries };
}

/**
 * Tracked files (`--cached`) and untracked ones (`--others --exclude-standard`) come from two
 * git processes started together: the tracked ones are lstat'ed while git still looks for
 * untracked files. The two sorted lists are merged.
 */
async function gitEntries(root: string, prefix: string, signal?: AbortSignal): Promise<TreeEntry[]> {
  const dir = prefix === '' ? root : join(root, prefix);
  const cached = gitNames(['ls-files', '-z', '--cached'], dir, prefix);
  const others = gitNames(['ls-files', '-z', '--others', '--exclude-standard'], dir, prefix);
  others.catch(() => undefined);
  const tracked = await statAll(root, await cached, true, signal);
  const untracked = await statAll(root, await others, true, signal);
  return merge(tracked, untracked);
}

async function gitNames(args: string[], dir: string, prefix: string): Promise<string[]> {
  let out: Buffer;
  try {
    out = await git(args, dir);
  } catch (err) {
    throw new WorkspaceError('bad-input', `git ${args.join(' ')} failed in ${dir}: ${(err as { stderrText?: string }).stderrText || (err as Error).message}`);
  }
  const text = out.toString('utf8');
  // U+FFFD only appears when a name is not valid UTF-8 (or really holds one): then check each.
  if (text.includes('\uFFFD')) for (const raw of splitBuffer(out)) utf8Name(raw, prefix);
  const names = text.split('\0');
  if (names[names.length - 1] === '') names.pop();
  const paths: string[] = [];
  for (let name of names) {
    if (name.endsWith('/')) name = name.replace(/\/+$/, ''); // an embedded repository
    const path = prefix === '' ? name : `${prefix}/${name}`;
    if (path !== paths[paths.length - 1]) paths.push(path); // a conflicted file is listed once per stage
  }
  return paths;
}

async function statAll(root: string, paths: readonly string[], git: boolean, signal?: AbortSignal): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  for (let i = 0; i < paths.length; i++) {
    if (i % 4096 === 4095) await yieldCheck(signal);
    const entry = entryFor(root, paths[i]!);
    // git lists a submodule (or an embedded repository) as one directory: its own git lists its files.
    if (entry === 'dir') {
      if (git && safeExists(join(root, paths[i]!, '.git'))) for (const e of await gitEntries(root, paths[i]!, signal)) entries.push(e);
    } else if (entry) entries.push(entry);
  }
  if (signal?.aborted) throw new ExecAbortedError(signal.reason);
  return entries;
}

function merge(a: TreeEntry[], b: TreeEntry[]): TreeEntry[] {
  if (b.length === 0) return a;
  const out: TreeEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i]!.path < b[j]!.path ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

function isSorted(entries: readonly TreeEntry[]): boolean {
  for (let i = 1; i < entries.length; i++) if (entries[i - 1]!.path >= entries[i]!.path) return false;
  return true;
}

function entryFor(root: string, path: string): TreeEntry | 'dir' | null {
  // A tracked file deleted from disk, or gone since the listing: not an entry.
  const st = lstatSync(`${root}/${path}`, { throwIfNoEntry: false });
  if (!st) return null;
  if (st.isFile()) return { path, kind: 'f', size: st.size, exec: (st.mode & 0o100) !== 0, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  if (st.isSymbolicLink()) {
    const target = readlinkSync(`${root}/${path}`);
    return { path, kind: 'l', size: Buffer.byteLength(target), exec: false, target, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  }
  if (st.isDirectory()) return 'dir';
  return null; // sockets, fifos
}

async function yieldCheck(signal?: AbortSignal): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw new ExecAbortedError(signal.reason);
}

// GIT_DIR and friends from our own environment must not redirect git to another repository.
const gitEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^GIT_/.test(k)));

function git(args: string[], cwd: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env: gitEnv(), encoding: 'buffer', maxBuffer: 1024 ** 3 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderrText: stderr.toString('utf8').trim() }));
      else resolve(stdout);
    });
  });
}

/** The work tree's top level, or null outside git (or without git installed). */
async function gitTopLevel(dir: string): Promise<string | null> {
  try {
    return realpathSync((await git(['rev-parse', '--show-toplevel'], dir)).toString('utf8').trim());
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderrText?: string };
    if (e.code === 'ENOENT' || /not a git repository/i.test(e.stderrText ?? '')) return null;
    throw new WorkspaceError('bad-input', `git cannot read the work tree at ${dir}: ${e.stderrText || e.message}`);
  }
}

function splitBuffer(buf: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let start = 0; start < buf.length;) {
    let end = buf.indexOf(0, start);
    if (end < 0) end = buf.length;
    parts.push(buf.subarray(start, end));
    start = end + 1;
  }
  return parts;
}

function utf8Name(raw: Buffer, where: string): string {
  const name = raw.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(raw)) {
    throw new WorkspaceError(
      'unsafe-path',
      `a file name under ${where || 'the tree root'} is not valid UTF-8 (${JSON.stringify(name)}); rename it or ignore it`,
    );
  }
  return name;
}

function safeExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Outside git: every file and symlink under root, minus .clusterflowignore rules and `.git`. */
function walk(root: string, signal?: AbortSignal): string[] {
  const out: string[] = [];
  const visit = (rel: string, layers: IgnoreLayer[]) => {
    if (signal?.aborted) throw new ExecAbortedError(signal.reason);
    const dir = rel === '' ? root : join(root, rel);
    let here = layers;
    try {
      here = [...layers, { base: rel, rules: parseIgnore(readFileSync(join(dir, IGNORE_FILE), 'utf8')) }];
    } catch {
      /* no ignore file here */
    }
    for (const d of readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })) {
      const name = utf8Name(d.name, rel);
      if (name === '.git') continue;
      const path = rel === '' ? name : `${rel}/${name}`;
      const isDir = d.isDirectory();
      if (isIgnored(here, path, isDir)) continue;
      if (isDir) visit(path, here);
      else out.push(path);
    }
  };
  visit('', []);
  return out;
}

/** Refuses a tree over the limits, naming its five biggest top-level directories. */
export function checkLimits(tree: ScannedTree, limits: WorkspaceLimits): void {
  let bytes = 0;
  for (const e of tree.entries) bytes += e.size;
  const files = tree.entries.length;
  if (files <= limits.maxFiles && bytes <= limits.maxBytes) return;
  const dirs = new Map<string, { bytes: number; files: number }>();
  for (const e of tree.entries) {
    const slash = e.path.indexOf('/');
    const top = slash < 0 ? '(files at the top)' : `${e.path.slice(0, slash)}/`;
    const d = dirs.get(top) ?? { bytes: 0, files: 0 };
    d.bytes += e.size;
    d.files++;
    dirs.set(top, d);
  }
  const biggest = [...dirs]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, 5)
    .map(([name, d]) => `${name} ${mb(d.bytes)} in ${d.files} files`)
    .join(', ');
  const over = files > limits.maxFiles ? `${files} files (limit ${limits.maxFiles})` : `${mb(bytes)} (limit ${mb(limits.maxBytes)})`;
  const how = tree.git ? 'add them to .gitignore' : `add them to ${IGNORE_FILE}`;
  throw new WorkspaceError(
    'limits',
    `the workspace ${tree.root} is too big to sync: ${over}. Biggest directories: ${biggest}. Exclude what the command does not need (${how}) or raise the limit`,
  );
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
