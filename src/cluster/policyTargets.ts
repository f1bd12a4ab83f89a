// Which paths a destructive command must not touch. Paths resolve against the task's cwd
// and any `cd` the walker saw; `~` and $HOME stay symbolic ('~'), because the check runs
// before the node (and its home) is known.
import type { Dir } from './policyTypes.js';

export type TargetKind = 'root' | 'system' | 'home' | 'cwd' | 'parent' | 'hidden';
export interface Target {
  kind: TargetKind;
  what: string;
}

/** Top-level directories deleting which (or anything inside which) breaks the machine. */
const SYSTEM_TREES = new Set([
  'bin',
  'boot',
  'dev',
  'etc',
  'lib',
  'lib32',
  'lib64',
  'libx32',
  'proc',
  'root',
  'sbin',
  'sys',
  'usr',
  'var',
  'System',
  'Library',
  'private',
  'Applications',
  'efi',
  'snap',
  'nix',
]);
/** Temporary trees inside the system ones: free to delete in. */
const FREE_INSIDE = [
  /^\/var\/tmp\/./,
  /^\/var\/folders\/./,
  /^\/private\/tmp\/./,
  /^\/private\/var\/folders\/./,
  /^\/dev\/shm\/./,
  /^\/var\/www\/./,
  /^\/usr\/src\/./,
  /^\/usr\/local\/src\/./,
];
/** Directories of homes, mounts and add-on software: the directory and each entry directly in it are protected. */
const CONTAINERS = new Set(['home', 'Users', 'opt', 'srv', 'mnt', 'media', 'Volumes']);
/** Writes onto files here (redirection, tee, cp, truncate, dd, sed -i) are refused. */
const WRITE_TREES = new Set(['etc', 'boot', 'usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'dev']);
const SECRET_HOME_DIRS = new Set(['.ssh', '.gnupg']);
const CANONICAL = new Map([...SYSTEM_TREES, ...CONTAINERS, ...WRITE_TREES].map((n) => [n.toLowerCase(), n]));
export const BLOCK_DEVICE =
  /^\/dev\/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|md\d|dm-\d|mapper\/|disk\/|root$|loop\d|nbd\d|rbd\d|zram\d|bcache\d|mtdblock\d|sr\d)/;
const HARMLESS_DEV = /^\/dev\/(null|zero|full|random|urandom|stdin|stdout|stderr|tty|ptmx|fd\/\d+|pts\/\d+|shm\/.+|tcp\/.+|udp\/.+)$/;
const GLOB = /[*?[]/;
const PLAIN_NAME = /^(?!\.\.?$)[^/~]+$/;

/** Normalize `path` (absolute, `~…` or relative) against `dir`; returns '/…', '~', '~/…', '~/..…' (above home), a relative path, or '?/…' (relative to an unknown directory). */
export function resolvePath(raw: string, dir: Dir, home = '~'): string {
  if (dir.kind === 'default' && PLAIN_NAME.test(raw)) return raw; // `build.log`: nothing to resolve
  let path = raw;
  if (path === '~' || path.startsWith('~/')) path = home + path.slice(1);
  if (path.startsWith('/')) return normalize('/', path.slice(1));
  if (path.startsWith('~')) {
    const slash = path.indexOf('/');
    return slash < 0 ? path : normalize(`${path.slice(0, slash)}/`, path.slice(slash + 1));
  }
  if (dir.kind === 'unknown') return normalize('?/', path);
  if (dir.kind === 'default') return normalize('', path);
  return resolvePath(dir.path === '' ? path : `${dir.path}/${path}`, { kind: 'default' }, home);
}

/** `a/./b/../c` → `a/c` under `base` ('/', '~/', '?/' or '' for relative); climbing above '~/' yields '~/..'. */
function normalize(base: string, rest: string): string {
  const out: string[] = [];
  let above = 0;
  for (const seg of rest.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (base === '/') continue;
      else above++;
    } else out.push(seg);
  }
  const prefix = base === '' ? Array(above).fill('..') : base.startsWith('~') && above > 0 ? ['..'] : [];
  const joined = [...prefix, ...out].join('/');
  if (base === '/') return `/${joined}`;
  if (base === '') return joined === '' ? '.' : joined;
  const root = base.slice(0, -1);
  return joined === '' ? root : `${root}/${joined}`;
}

/** `dir/`, `dir/.`, `dir/*`, `dir/.*` all empty `dir` just as surely. */
function stripContents(path: string): string {
  let p = path;
  for (let prev = ''; prev !== p && p !== '';) {
    prev = p;
    p = p.replace(/\/(\*|\.\*|\.)?$/, '');
  }
  return p;
}

/** What deleting (rm -r, find -delete, chmod -R, mv) `raw` would destroy, or null when it is an ordinary path. */
export function deleteTarget(raw: string, dir: Dir, home = '~'): Target | null {
  const literal = stripContents(raw.trim());
  if (raw.trim() === '') return null;
  const path = stripContents(resolvePath(raw.trim(), dir, home));
  const resolved = classify(path === '' ? '/' : path, false);
  // `cd / && rm -rf *` is about /, not just "the current directory"
  if (resolved && resolved.kind !== 'parent') return resolved;
  if (literal === '.' || literal === '.*' || /^\*+$/.test(literal) || (literal === '' && !raw.trim().startsWith('/'))) {
    return { kind: 'cwd', what: 'everything in the current directory' };
  }
  if (/^\.\.(\/\.\.)*$/.test(literal)) return { kind: 'parent', what: 'the parent directory' };
  if (path === '.' || path === '?') return { kind: 'cwd', what: `everything in the current directory (${raw.trim()})` };
  return resolved;
}

/** A file a write (or a plain `rm`) must not touch: system files, devices, ~/.ssh. */
export function writeTarget(raw: string, dir: Dir, home = '~'): Target | null {
  if (raw.trim() === '') return null;
  const path = resolvePath(raw.trim(), dir, home);
  if (HARMLESS_DEV.test(path)) return null;
  return classify(path, true);
}

export function isBlockDevice(raw: string, dir: Dir, home = '~'): boolean {
  return BLOCK_DEVICE.test(resolvePath(raw.trim(), dir, home));
}

function classify(path: string, write: boolean): Target | null {
  const segs = path.split('/');
  if (path.startsWith('/')) {
    // macOS file systems ignore case: /users is /Users
    const top = CANONICAL.get((segs[1] ?? '').toLowerCase()) ?? segs[1] ?? '';
    if (top === '') return write ? null : { kind: 'root', what: 'the root filesystem' };
    if (GLOB.test(top)) return write ? null : { kind: 'root', what: `top-level directories of the root filesystem (${path})` };
    if (write) {
      return WRITE_TREES.has(top) && segs.length > 2 && !FREE_INSIDE.some((re) => re.test(path))
        ? { kind: 'system', what: top === 'dev' ? `the device ${path}` : `${path}, a file of the system directory /${top}` }
        : (secretInHome(segs.slice(3), path, CONTAINERS.has(top) && segs.length > 3) ?? (top === 'root' ? secretInHome(segs.slice(2), path, true) : null));
    }
    if (SYSTEM_TREES.has(top) && !FREE_INSIDE.some((re) => re.test(path))) {
      return { kind: 'system', what: segs.length === 2 ? `the system directory ${path}` : `${path}, inside the system directory /${top}` };
    }
    if (CONTAINERS.has(top)) {
      if (segs.length === 2) return { kind: 'system', what: `the system directory ${path}` };
      if (segs.length === 3) {
        const home = top === 'home' || top === 'Users';
        return { kind: home ? 'home' : 'system', what: home ? `the home directory ${path}` : `${path}, a whole directory directly under /${top}` };
      }
      if (top === 'home' || top === 'Users') return secretInHome(segs.slice(3), path, true);
    }
    return null;
  }
  if (path.startsWith('~')) {
    if (segs.length === 1) return write ? null : { kind: 'home', what: 'the home directory' };
    if (segs[1] === '..') return write ? null : { kind: 'system', what: `the directory that holds the home directories (${path})` };
    return secretInHome(segs.slice(1), path, true);
  }
  if (path.startsWith('?/')) {
    const top = segs[1] ?? '';
    return SYSTEM_TREES.has(top) || WRITE_TREES.has(top) || CONTAINERS.has(top) || SECRET_HOME_DIRS.has(top)
      ? { kind: 'hidden', what: `${path.slice(2)} in a directory the check cannot see (after a \`cd\` to a hidden path)` }
      : null;
  }
  // relative to the task's default directory, which is home on SSH nodes
  if (segs[0] === '..') return write ? null : { kind: 'parent', what: `the parent directory (${path})` };
  return secretInHome(segs, path, true);
}

function secretInHome(rest: string[], path: string, applies: boolean): Target | null {
  if (!applies || !SECRET_HOME_DIRS.has(rest[0] ?? '')) return null;
  return { kind: 'home', what: `${path}, the ${rest[0] === '.ssh' ? 'ssh keys and config' : 'gpg keys'} of a home directory` };
}
