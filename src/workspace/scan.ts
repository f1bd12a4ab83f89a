// What a sync copies, found on the origin: the enclosing git work tree's tracked and
// untracked-not-ignored files (`git ls-files --cached --others --exclude-standard`, tracked
// files deleted from disk skipped, submodules listed by their own git), or outside git the cwd
// tree minus `.clusterflowignore` rules, never `.git`. Regular files keep their exec bit;
// symlinks are entries of their own (never followed); directories are not entries (as in git).

import { execFile } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
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
  /** sha256 hex, filled in by hashEntries. */
  sha?: string;
}

export interface ScannedTree {
  /** Absolute, real path of the tree root on the origin. */
  root: string;
  /** The cwd relative to the root ('' at the root). */
  cwdRel: string;
  git: boolean;
  entries: TreeEntry[];
}

export const IGNORE_FILE = '.clusterflowignore';

export async function scanTree(cwd: string, signal?: AbortSignal): Promise<ScannedTree> {
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
  const cwdRel = relative(root, real).split('\\').join('/');
  const paths = gitRoot ? await gitFiles(root, '', signal) : walk(root, signal);
  const entries: TreeEntry[] = [];
  for (let i = 0; i < paths.length; i++) {
    if (i % 4096 === 4095) await yieldCheck(signal);
    const path = paths[i]!;
    const entry = entryFor(root, path);
    // git lists a submodule (or an embedded repository) as one directory: its own git lists its files.
    if (entry === 'dir') {
      if (gitRoot && safeExists(join(root, path, '.git'))) for (const p of await gitFiles(root, path, signal)) paths.push(p);
    } else if (entry) entries.push(entry);
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { root, cwdRel, git: gitRoot !== null, entries };
}

function entryFor(root: string, path: string): TreeEntry | 'dir' | null {
  let st: Stats;
  try {
    st = lstatSync(join(root, path));
  } catch {
    return null; // a tracked file deleted from disk, or gone since the listing
  }
  const base = { path, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  if (st.isFile()) return { ...base, kind: 'f', size: st.size, exec: (st.mode & 0o100) !== 0 };
  if (st.isSymbolicLink()) {
    const target = readlinkSync(join(root, path));
    return { ...base, kind: 'l', size: Buffer.byteLength(target), exec: false, target };
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

async function gitFiles(root: string, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const dir = prefix === '' ? root : join(root, prefix);
  let out: Buffer;
  try {
    out = await git(['ls-files', '-z', '--cached', '--others', '--exclude-standard'], dir);
  } catch (err) {
    throw new WorkspaceError('bad-input', `git ls-files failed in ${dir}: ${(err as { stderrText?: string }).stderrText || (err as Error).message}`);
  }
  if (signal?.aborted) throw new ExecAbortedError(signal.reason);
  const seen = new Set<string>();
  const files: string[] = [];
  for (let start = 0; start < out.length;) {
    const end = out.indexOf(0, start);
    const raw = out.subarray(start, end < 0 ? out.length : end);
    start = end < 0 ? out.length : end + 1;
    const name = utf8Name(raw, prefix).replace(/\/+$/, '');
    const path = prefix === '' ? name : `${prefix}/${name}`;
    if (seen.has(path)) continue; // a conflicted file is listed once per stage
    seen.add(path);
    files.push(path);
  }
  return files;
}

function utf8Name(raw: Buffer, where: string): string {
  const name = raw.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(raw)) {
    throw new WorkspaceError('unsafe-path', `a file name under ${where || 'the tree root'} is not valid UTF-8 (${JSON.stringify(name)}); rename it or ignore it`);
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
    } catch { /* no ignore file here */ }
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
  const biggest = [...dirs].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 5)
    .map(([name, d]) => `${name} ${mb(d.bytes)} in ${d.files} files`).join(', ');
  const over = files > limits.maxFiles ? `${files} files (limit ${limits.maxFiles})` : `${mb(bytes)} (limit ${mb(limits.maxBytes)})`;
  const how = tree.git ? 'add them to .gitignore' : `add them to ${IGNORE_FILE}`;
  throw new WorkspaceError('limits', `the workspace ${tree.root} is too big to sync: ${over}. Biggest directories: ${biggest}. Exclude what the command does not need (${how}) or raise the limit`);
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
