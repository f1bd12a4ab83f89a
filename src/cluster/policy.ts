// Refuse destructive commands before any workflow starts. Rules look at parsed simple
// commands (after sudo/xargs/env/… and inside `bash -c`, `$( )`, subshells), so
// `echo "rm -rf /"` and `grep 'rm -rf /' notes` pass while `sudo rm -fr /` does not.
import { posix } from 'node:path';
import { parseShell, type SimpleCommand } from './shellParse.js';
import { baseName } from './shellWrappers.js';

export interface PolicyViolation { rule: string; message: string }

type TargetKind = 'root' | 'system' | 'home' | 'cwd' | 'parent';
interface Target { kind: TargetKind; what: string }

const SYSTEM_DIRS = new Set([
  '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/root', '/sbin', '/sys',
  '/usr', '/var', '/home', '/opt', '/srv', '/usr/bin', '/usr/sbin', '/usr/lib', '/usr/local', '/usr/share', '/var/lib',
  '/System', '/Library', '/Applications', '/Users', '/private',
]);
const BLOCK_DEVICE = /^\/dev\/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|md\d|dm-\d|mapper\/|disk\/by-)/;
const WRITE_REDIRECTS = new Set(['>', '>>', '>|', '&>', '&>>', '<>', '>&']);
const SYSTEM_KINDS: TargetKind[] = ['root', 'system', 'home'];

/** Returns the first rule the command breaks, or null when it may run. */
export function checkDangerous(command: string): PolicyViolation | null {
  const parsed = parseShell(command);
  const note = parsed.ok ? '' : ' (the command did not parse; checked a best-effort split of it)';
  const refuse = (rule: string, text: string, why: string): PolicyViolation =>
    ({ rule, message: `refused by rule ${rule}: \`${text.trim()}\` ${why}${note}` });

  const bomb = parsed.functions.find((f) => f.forksItself);
  if (bomb) return refuse('fork-bomb', command, `defines \`${bomb.name}\`, a function that starts copies of itself in a pipeline or in the background (a fork bomb)`);
  for (const cmd of parsed.commands) {
    for (const rule of COMMAND_RULES) {
      const found = rule(cmd);
      if (found) return refuse(found[0], cmd.text, found[1]);
    }
  }
  for (const r of parsed.redirections) {
    if (!WRITE_REDIRECTS.has(r.op)) continue;
    if (BLOCK_DEVICE.test(r.target)) return refuse('redirect-block-device', command, `writes onto the block device ${r.target}`);
    if (r.target === '/proc/sysrq-trigger') return refuse('power', command, 'writes to /proc/sysrq-trigger, which can reboot or halt the machine');
  }
  return null;
}

type Finding = [rule: string, why: string] | null;

const COMMAND_RULES: Array<(cmd: SimpleCommand) => Finding> = [
  function rmRoot({ program, args }) {
    if (program !== 'rm') return null;
    const { flags, operands } = splitArgs(args);
    if (!flags.some((f) => f === '--recursive' || /^-[A-Za-z]*[rR]/.test(f))) return null;
    if (flags.includes('--no-preserve-root')) return ['rm-root', "uses --no-preserve-root, which turns off rm's own guard for /"];
    const target = firstProtected(operands);
    return target ? ['rm-root', `would delete ${target.what}`] : null;
  },
  function findDelete({ program, args }) {
    if (program !== 'find') return null;
    let i = 0;
    while (i < args.length && /^-([HLP]|O\d|D)$/.test(args[i]!)) i += args[i] === '-D' ? 2 : 1;
    const starts: string[] = [];
    while (i < args.length && !/^[-(!]/.test(args[i]!)) starts.push(args[i++]!);
    const { tests, deletes } = findExpression(args.slice(i));
    if (!deletes) return null;
    const narrowed = tests.some((t, j) => NAME_TESTS.has(t) && tests[j + 1] !== undefined && !/^\*+$/.test(tests[j + 1]!));
    for (const start of starts.length > 0 ? starts : ['.']) {
      const target = protectedTarget(start);
      if (!target) continue;
      const everything = SYSTEM_KINDS.includes(target.kind) ? !narrowed : tests.length === 0;
      if (everything) return ['rm-root', `would delete ${target.what}`];
    }
    return null;
  },
  function mkfs({ program, args }) {
    if (!/^(mkfs(\..+)?|mke2fs|mkswap|mkdosfs|mkntfs|newfs(_.+)?)$/.test(program)) return null;
    const device = splitArgs(args).operands.find(isDeviceLike);
    return device ? ['mkfs', `would format ${device}, destroying its data`] : null;
  },
  function partition({ program, args }) {
    const listing = LISTING_FLAGS[program];
    if (listing === undefined) return null;
    const { flags, operands } = splitArgs(args);
    const lists = (f: string): boolean => listing.includes(f) || (/^-[A-Za-z]{2,}$/.test(f) && listing.includes(f.slice(0, 2)));
    // sgdisk mixes listing and writing options (`-p -Z`), so every option must be a listing one
    const readOnly = (program === 'sgdisk' ? flags.length > 0 && flags.every(lists) : flags.some(lists))
      || (program === 'parted' && operands.length > 1 && operands.slice(1).every((o) => o === 'print'));
    const device = operands.find(isDeviceLike);
    return device && !readOnly ? ['partition', `would rewrite the partition table of ${device}`] : null;
  },
  function wipeDisk({ program, args }) {
    const { flags, operands } = splitArgs(args);
    const device = program === 'shred' ? operands.find((o) => BLOCK_DEVICE.test(o)) : operands.find(isDeviceLike);
    if (!device) return null;
    const wipes = program === 'wipefs'
      ? flags.some((f) => /^-[A-Za-z]*[ao]/.test(f) || f.startsWith('--all') || f.startsWith('--offset'))
        && !flags.some((f) => f === '--no-act' || /^-[A-Za-z]*n/.test(f))
      : ['blkdiscard', 'shred'].includes(program);
    return wipes ? ['wipe-disk', `would erase ${device}`] : null;
  },
  function ddBlockDevice({ program, args }) {
    if (program !== 'dd') return null;
    const out = args.find((a) => a.startsWith('of='))?.slice(3);
    return out && BLOCK_DEVICE.test(out) ? ['dd-block-device', `would overwrite the block device ${out}`] : null;
  },
  function copyOntoDevice({ program, args }) {
    const { operands } = splitArgs(args);
    if (program === 'tee') {
      const device = operands.find((o) => BLOCK_DEVICE.test(o));
      return device ? ['redirect-block-device', `writes onto the block device ${device}`] : null;
    }
    const last = operands[operands.length - 1];
    return ['cp', 'install', 'pv'].includes(program) && operands.length > 1 && last && BLOCK_DEVICE.test(last)
      ? ['write-block-device', `would overwrite the block device ${last}`] : null;
  },
  function power({ program, args }) {
    const { flags, operands } = splitArgs(args);
    if (['shutdown', 'reboot', 'halt', 'poweroff'].includes(program)) {
      const harmless = flags.includes('--help') || (program === 'shutdown' && flags.includes('-c'));
      return harmless ? null : ['power', `would ${program === 'shutdown' ? 'shut down' : program} the machine`];
    }
    if ((program === 'init' || program === 'telinit') && ['0', '6'].includes(operands[0] ?? '')) {
      return ['power', `would ${operands[0] === '0' ? 'halt' : 'reboot'} the machine`];
    }
    if ((program === 'systemctl' || program === 'loginctl') && !INSPECT_VERBS.has(operands[0] ?? '')) {
      const verb = operands.find((o) => POWER_VERBS.has(o) || /^(poweroff|reboot|halt|kexec)\.target$/.test(o));
      if (verb) return ['power', `would ${verb.replace(/\.target$/, '')} the machine`];
    }
    return null;
  },
  function chmodChownRoot({ program, args }) {
    if (!['chmod', 'chown', 'chgrp'].includes(program)) return null;
    const { flags, operands } = splitArgs(args);
    // only -R: `chmod -r` removes read permission, it does not recurse
    if (!flags.some((f) => f === '--recursive' || /^-[A-Za-z]*R/.test(f))) return null;
    const target = firstProtected(operands, SYSTEM_KINDS);
    const rule = program === 'chmod' ? 'chmod-root' : 'chown-root';
    return target ? [rule, `would change ${program === 'chmod' ? 'permissions' : 'ownership'} of everything in ${target.what}`] : null;
  },
  function mvRoot({ program, args }) {
    if (program !== 'mv') return null;
    const { flags, operands } = splitArgs(args);
    const explicitTarget = flags.some((f) => f === '-t' || f.startsWith('--target-directory'));
    const sources = explicitTarget ? operands : operands.slice(0, -1);
    const target = firstProtected(sources, SYSTEM_KINDS);
    return target ? ['mv-root', `would move away ${target.what}`] : null;
  },
];

const POWER_VERBS = new Set(['poweroff', 'reboot', 'halt', 'kexec', 'soft-reboot']);
const INSPECT_VERBS = new Set(['status', 'show', 'cat', 'help', 'list-dependencies', 'is-active', 'is-enabled']);
/** options that only print a partition table */
const LISTING_FLAGS: Record<string, string[]> = {
  fdisk: ['-l', '--list'], gdisk: ['-l'], cfdisk: [], parted: ['-l', '--list'],
  sfdisk: ['-l', '--list', '-d', '--dump', '-J', '--json', '-s', '--show-size', '-V', '--verify'],
  sgdisk: ['-p', '--print', '-v', '--verify', '-i', '--info'],
};
const NAME_TESTS = new Set(['-name', '-iname', '-path', '-ipath', '-wholename', '-iwholename', '-regex', '-iregex',
  '-lname', '-ilname', '-inum', '-samefile']);
const NOT_TESTS = new Set(['-delete', '-depth', '-d', '-maxdepth', '-mindepth', '-xdev', '-mount', '-print', '-print0',
  '-ignore_readdir_race', '-noignore_readdir_race', '-noleaf', '-follow', '-daystart', '-regextype', '-warn', '-nowarn']);
const DELETERS = new Set(['rm', 'rmdir', 'unlink', 'shred']);

/** The tests of a find expression (without -exec bodies) and whether it deletes what it finds. */
function findExpression(expr: string[]): { tests: string[]; deletes: boolean } {
  const tests: string[] = [];
  let deletes = false;
  for (let i = 0; i < expr.length; i++) {
    const word = expr[i]!;
    if (['-exec', '-execdir', '-ok', '-okdir'].includes(word)) {
      if (DELETERS.has(baseName(expr[i + 1] ?? ''))) deletes = true;
      while (i < expr.length && expr[i] !== ';' && expr[i] !== '+') i++;
    } else if (word === '-delete') {
      deletes = true;
    } else if (word.startsWith('-') && !NOT_TESTS.has(word)) {
      tests.push(word, expr[i + 1] ?? '');
      i++;
    }
  }
  return { tests, deletes };
}

function splitArgs(args: string[]): { flags: string[]; operands: string[] } {
  const end = args.indexOf('--');
  const before = end < 0 ? args : args.slice(0, end);
  const flags = before.filter((a) => a.startsWith('-') && a !== '-');
  const operands = [...before.filter((a) => !a.startsWith('-') || a === '-'), ...(end < 0 ? [] : args.slice(end + 1))];
  return { flags, operands };
}

function isDeviceLike(path: string): boolean {
  return path.startsWith('/dev/') || /^\$\{?[A-Za-z_]/.test(path);
}

function firstProtected(paths: string[], kinds?: TargetKind[]): Target | undefined {
  return paths.flatMap((p) => expandBraces(p)).map(protectedTarget).find((t): t is Target => t !== null && (!kinds || kinds.includes(t.kind)));
}

/** Whether deleting / chmod-ing this path would hit /, a system directory, home, or the whole cwd. */
function protectedTarget(raw: string): Target | null {
  if (raw.trim() === '') return null;
  let path = raw.trim().replace(/^(\$HOME|\$\{HOME\})(?=\/|$)/, '~');
  if (path.startsWith('/')) path = posix.normalize(path);
  // `dir/`, `dir/.`, `dir/*`, `dir/.*` all empty `dir` just as surely
  for (let prev = ''; prev !== path && path !== '';) {
    prev = path;
    path = path.replace(/\/(\*|\.\*|\.)?$/, '');
  }
  if (path === '') return { kind: 'root', what: 'the root filesystem' };
  if (/^\/[^/]*[*?[][^/]*$/.test(path)) return { kind: 'root', what: `top-level directories of the root filesystem (${path})` };
  if (/^~[A-Za-z0-9._-]*$/.test(path)) return { kind: 'home', what: 'the home directory' };
  if (path === '.' || path === '.*' || /^\*+$/.test(path)) return { kind: 'cwd', what: 'everything in the current directory' };
  if (/^\.\.(\/\.\.)*$/.test(path)) return { kind: 'parent', what: 'the parent directory' };
  if (SYSTEM_DIRS.has(path)) return { kind: 'system', what: `the system directory ${path}` };
  return null;
}

/** `/{bin,etc}` → `/bin`, `/etc`: the parser keeps brace expressions as literal text. */
function expandBraces(word: string, budget = 64): string[] {
  const m = /^(.*?)\{([^{}]*,[^{}]*)\}(.*)$/s.exec(word);
  if (!m || budget <= 0) return [word];
  return m[2]!.split(',').flatMap((alt) => expandBraces(`${m[1]}${alt}${m[3]}`, budget - 1));
}
