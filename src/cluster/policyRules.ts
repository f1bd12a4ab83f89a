// Rules for commands that destroy data where it lies: rm, find -delete, mkfs, partition
// tools, dd, writes onto system files and devices, power, recursive chmod/chown, mv, kill.
// Each looks at one resolved command (policyWalk.ts) and says why it is refused.
import { getopt, SPECS } from './policyOptions.js';
import { deleteTarget, isBlockDevice, resolvePath, writeTarget, type Target } from './policyTargets.js';
import type { Arg, RunCmd } from './policyTypes.js';
import { findRule } from './policyFind.js';
import { eachValue, hiddenTarget, refuse, SYSTEM_KINDS, targetFinding, type Found } from './policyFound.js';

const RULES: Record<string, (cmd: RunCmd) => Found[]> = {
  rm: rmRule,
  unlink: rmRule,
  find: findRule,
  dd: ddRule,
  tee: teeRule,
  truncate: truncateRule,
  sed: sedRule,
  cp: copyRule,
  install: copyRule,
  pv: copyRule,
  ln: copyRule,
  mv: mvRule,
  chmod: chmodRule,
  chown: chmodRule,
  chgrp: chmodRule,
  kill: killRule,
  pkill: pkillRule,
  killall: pkillRule,
  killall5: () => [refuse('kill-all', 'would kill every process on the machine')],
  wipefs: wipeRule,
  blkdiscard: wipeRule,
  shred: wipeRule,
  rsync: rsyncRule,
};

const OTHER_RULED =
  /^(mkfs(\..+)?|mke2fs|mkswap|mkdosfs|mkntfs|newfs(_.+)?|fdisk|gdisk|cfdisk|parted|sfdisk|sgdisk|shutdown|reboot|halt|poweroff|init|telinit|systemctl|loginctl)$/;

/** Whether any rule here looks at `program` (most commands skip them all). */
export function hasFileRule(program: string): boolean {
  return RULES[program] !== undefined || OTHER_RULED.test(program);
}

export function fileRules(cmd: RunCmd): Found[] {
  const rule = RULES[cmd.program];
  const out = rule ? rule(cmd) : [];
  const mk = mkfsRule(cmd) ?? partitionRule(cmd) ?? powerRule(cmd);
  return mk ? [...out, mk] : out;
}

function rmRule(cmd: RunCmd): Found[] {
  const o = getopt(cmd.args, SPECS['rm']!);
  const recursive = o.short.has('r') || o.short.has('R') || o.long.has('recursive');
  if (recursive && o.long.has('no-preserve-root')) return [refuse('rm-root', "uses --no-preserve-root, which turns off rm's own guard for /")];
  const out: Found[] = [];
  eachValue(o.operands, 'path to delete', out, (v) => {
    const t = recursive ? deleteTarget(v, cmd.dir, cmd.home) : writeTarget(v, cmd.dir, cmd.home);
    if (t) out.push(targetFinding(t, 'rm-root', 'delete'));
  });
  return out;
}

function isDeviceLike(arg: Arg): boolean {
  return arg.hidden !== undefined || arg.values.some((v) => v.startsWith('/dev/'));
}

function shown(arg: Arg): string {
  return arg.hidden ?? arg.values.join(', ');
}

function mkfsRule(cmd: RunCmd): Found | null {
  if (!/^(mkfs(\..+)?|mke2fs|mkswap|mkdosfs|mkntfs|newfs(_.+)?)$/.test(cmd.program)) return null;
  const device = getopt(cmd.args, {}).operands.find(isDeviceLike);
  return device ? refuse('mkfs', `would format ${shown(device)}, destroying its data`) : null;
}

/** options that only print a partition table */
const LISTING_FLAGS: Record<string, string[]> = {
  fdisk: ['-l', '--list'],
  gdisk: ['-l'],
  cfdisk: [],
  parted: ['-l', '--list'],
  sfdisk: ['-l', '--list', '-d', '--dump', '-J', '--json', '-s', '--show-size', '-V', '--verify'],
  sgdisk: ['-p', '--print', '-v', '--verify', '-i', '--info'],
};

function partitionRule(cmd: RunCmd): Found | null {
  const listing = LISTING_FLAGS[cmd.program];
  if (listing === undefined) return null;
  const flags = cmd.args.filter((a) => a.text.startsWith('-') && a.text !== '-').map((a) => a.text);
  const operands = cmd.args.filter((a) => !a.text.startsWith('-') || a.text === '-');
  const lists = (f: string): boolean => listing.includes(f) || (/^-[A-Za-z]{2,}$/.test(f) && listing.includes(f.slice(0, 2)));
  // sgdisk mixes listing and writing options (`-p -Z`), so every option must be a listing one
  const readOnly =
    (cmd.program === 'sgdisk' ? flags.length > 0 && flags.every(lists) : flags.some(lists)) ||
    (cmd.program === 'parted' && operands.length > 1 && operands.slice(1).every((o) => o.text === 'print'));
  const device = operands.find(isDeviceLike);
  return device && !readOnly ? refuse('partition', `would rewrite the partition table of ${shown(device)}`) : null;
}

function wipeRule(cmd: RunCmd): Found[] {
  const o = getopt(cmd.args, SPECS[cmd.program === 'shred' ? 'shred' : 'wipefs']!);
  const out: Found[] = [];
  if (cmd.program === 'wipefs') {
    const wipes = (o.short.has('a') || o.short.has('o') || o.long.has('all') || o.long.has('offset')) && !o.short.has('n') && !o.long.has('no-act');
    const device = o.operands.find(isDeviceLike);
    return wipes && device ? [refuse('wipe-disk', `would erase ${shown(device)}`)] : [];
  }
  eachValue(o.operands, 'device or file to erase', out, (v) => {
    if (isBlockDevice(v, cmd.dir, cmd.home) || (cmd.program === 'blkdiscard' && v.startsWith('/dev/'))) out.push(refuse('wipe-disk', `would erase ${v}`));
    else {
      const t = writeTarget(v, cmd.dir, cmd.home);
      if (t) out.push(targetFinding(t, 'write-system', 'overwrite'));
    }
  });
  return cmd.program === 'shred' ? out.filter((f) => f.rule !== 'hidden-target') : out;
}

/** A write onto `arg` by `rule`'s program: block devices, system files, ~/.ssh. */
/** A write onto `arg`: block devices, system files, ~/.ssh (appending there is allowed: known_hosts, authorized_keys). */
export function writeFindings(arg: Arg, cmd: RunCmd, blockRule: string, verb: string): Found[] {
  const appends = verb === 'append to';
  const counts = (t: Target): boolean => !(appends && t.kind === 'home');
  if (arg.hidden !== undefined) {
    // a write to a hidden path is everyday (`> "$LOG"`); only a visible system prefix counts
    const t = /^[/~]/.test(arg.text) ? writeTarget(arg.text, cmd.dir, cmd.home) : null;
    return t && counts(t) ? [targetFinding(t, 'write-system', verb)] : [];
  }
  const out: Found[] = [];
  for (const v of arg.values) {
    if (v === '/proc/sysrq-trigger') out.push(refuse('power', 'writes to /proc/sysrq-trigger, which can reboot or halt the machine'));
    else if (isBlockDevice(v, cmd.dir, cmd.home))
      out.push(refuse(blockRule, `${blockRule === 'redirect-block-device' ? 'writes onto' : 'would overwrite'} the block device ${v}`));
    else {
      const direct = writeTarget(v, cmd.dir, cmd.home);
      if (direct) {
        if (counts(direct)) out.push(targetFinding(direct, 'write-system', verb));
      } else if (!arg.complex && /^\/[^/]+\/*$/.test(resolvePath(v, cmd.dir, cmd.home)) && writeTarget(`${v.replace(/\/+$/, '')}/x`, cmd.dir, cmd.home)) {
        out.push(refuse('write-system', `would ${verb} into ${v}, a system directory`));
      }
    }
  }
  return out;
}

function ddRule(cmd: RunCmd): Found[] {
  const of = cmd.args.find((a) => a.text.startsWith('of='));
  if (!of) return [];
  if (of.hidden !== undefined) return [hiddenTarget(of, 'output file (of=)')];
  return writeFindings({ ...of, text: of.text.slice(3), values: of.values.map((v) => v.slice(3)) }, cmd, 'dd-block-device', 'overwrite');
}

function teeRule(cmd: RunCmd): Found[] {
  const o = getopt(cmd.args, SPECS['tee']!);
  const verb = o.short.has('a') || o.long.has('append') ? 'append to' : 'overwrite';
  return o.operands.flatMap((a) => writeFindings(a, cmd, 'redirect-block-device', verb));
}

function truncateRule(cmd: RunCmd): Found[] {
  const out: Found[] = [];
  for (const a of getopt(cmd.args, SPECS['truncate']!).operands) {
    out.push(...(a.hidden !== undefined ? [hiddenTarget(a, 'file to truncate')] : writeFindings(a, cmd, 'write-system', 'truncate')));
  }
  return out;
}

function sedRule(cmd: RunCmd): Found[] {
  // `-i.bak` / `-ie`: what follows i in a cluster is its backup suffix
  const args = cmd.args.map((a) => (/^-[^-]*i/.test(a.text) ? { ...a, text: a.text.replace(/^(-[^-i]*i).*$/, '$1') } : a));
  const o = getopt(args, SPECS['sed']!);
  if (!o.short.has('i') && !o.long.has('in-place')) return [];
  const scripted = o.short.has('e') || o.short.has('f') || o.long.has('expression') || o.long.has('file');
  return (scripted ? o.operands : o.operands.slice(1)).flatMap((a) => writeFindings(a, cmd, 'write-system', 'edit in place'));
}

function destination(cmd: RunCmd): { dest?: Arg; sources: Arg[] } {
  const o = getopt(cmd.args, SPECS[cmd.program === 'pv' ? 'tee' : cmd.program]!);
  const t = o.values.get('-t')?.[0] ?? o.values.get('--target-directory')?.[0];
  if (t) return { dest: t, sources: o.operands };
  if (o.operands.length < 2 && cmd.program !== 'ln') return { sources: o.operands };
  return { dest: o.operands[o.operands.length - 1]!, sources: o.operands.slice(0, -1) };
}

function copyRule(cmd: RunCmd): Found[] {
  const { dest } = destination(cmd);
  if (!dest || (cmd.program === 'install' && getopt(cmd.args, SPECS['install']!).short.has('d'))) return [];
  return writeFindings(dest, cmd, 'write-block-device', 'write');
}

function mvRule(cmd: RunCmd): Found[] {
  const { dest, sources } = destination(cmd);
  const out: Found[] = [];
  eachValue(sources, 'path to move', out, (v) => {
    const t = deleteTarget(v, cmd.dir, cmd.home);
    const file = t && SYSTEM_KINDS.includes(t.kind) ? t : writeTarget(v, cmd.dir, cmd.home);
    if (t?.kind === 'hidden') out.push(targetFinding(t, 'mv-root', 'move away'));
    else if (file) out.push(targetFinding(file, 'mv-root', 'move away'));
  });
  return dest ? [...out, ...writeFindings(dest, cmd, 'write-block-device', 'write')] : out;
}

function chmodRule(cmd: RunCmd): Found[] {
  const spec = SPECS[cmd.program]!;
  const o = getopt(cmd.args, spec);
  if (!o.short.has('R') && !o.long.has('recursive')) return []; // `chmod -r` removes read permission; it does not recurse
  const targets = o.long.has('reference') ? o.operands : o.operands.slice(1);
  const rule = cmd.program === 'chmod' ? 'chmod-root' : 'chown-root';
  const what = cmd.program === 'chmod' ? 'permissions' : 'ownership';
  const out: Found[] = [];
  eachValue(targets, `path whose ${what} it changes`, out, (v) => {
    const t = deleteTarget(v, cmd.dir, cmd.home);
    if (t && (t.kind === 'hidden' || SYSTEM_KINDS.includes(t.kind))) out.push(targetFinding(t, rule, `change ${what} of everything in`));
  });
  return out;
}

/** `rsync -a --delete empty/ /`: the destination loses everything the source lacks. */
function rsyncRule(cmd: RunCmd): Found[] {
  const deletes = cmd.args.some((a) => /^--(del|delete(-\w+)?|remove-source-files)$/.test(a.text));
  const operands = cmd.args.filter((a) => a.hidden !== undefined || !a.text.startsWith('-'));
  const dest = operands.length > 1 ? operands[operands.length - 1]! : undefined;
  if (!deletes || !dest) return [];
  if (dest.hidden !== undefined) return [hiddenTarget(dest, 'destination it deletes in')];
  const out: Found[] = [];
  for (const v of dest.values) {
    const remote = /^[^/:]+:/.exec(v);
    const path = remote ? v.slice(remote[0].length) || '~' : v;
    const dir = remote ? { kind: 'default' as const } : cmd.dir;
    const t = deleteTarget(path, dir, cmd.home);
    // only a whole tree (/, /etc, a home) counts: `--delete` into /var/www/app stays inside the app
    const shallow = resolvePath(path, dir, cmd.home).replace(/\/+$/, '').split('/').filter(Boolean).length <= 1;
    if (t && (t.kind === 'hidden' || (SYSTEM_KINDS.includes(t.kind) && (t.kind !== 'system' || shallow))))
      out.push(targetFinding(t, 'rm-root', 'delete what the source lacks in'));
  }
  return out;
}

function killRule(cmd: RunCmd): Found[] {
  const texts = cmd.args.map((a) => a.text);
  if (texts.length === 1 && texts[0] === '-1') return [refuse('kill-all', '(`kill -1`) is read as a signal to every process; name the process id')];
  let i = 0;
  const first = texts[0] ?? '';
  if (['-l', '-L', '--list', '--table'].includes(first)) return [];
  if (['-s', '-n', '--signal'].includes(first)) i = 2;
  else if (first.startsWith('--signal=') || (/^-/.test(first) && first !== '--')) i = 1;
  const pids = texts.slice(i).filter((t) => t !== '--');
  if (pids.includes('-1')) return [refuse('kill-all', 'would signal every process it may (pid -1), the runner and the ssh session included')];
  return pids.includes('1') ? [refuse('kill-all', 'would signal init (pid 1): the machine, or the container, goes down with it')] : [];
}

function pkillRule(cmd: RunCmd): Found[] {
  const o = getopt(cmd.args, SPECS[cmd.program]!);
  const user = o.values.get('-u') ?? o.values.get('-U') ?? o.values.get('--euid') ?? o.values.get('--uid') ?? o.values.get('--user');
  const patterns = o.operands.map((a) => a.text);
  if (user && patterns.length === 0) return [refuse('kill-all', `would kill every process of user ${user.map((u) => u.text).join(',')}`)];
  return patterns.some((p) => ['', '.', '.*', '^', '$'].includes(p)) ? [refuse('kill-all', 'uses a pattern that matches every process')] : [];
}

const POWER_VERBS = new Set(['poweroff', 'reboot', 'halt', 'kexec', 'soft-reboot']);
const INSPECT_VERBS = new Set(['status', 'show', 'cat', 'help', 'list-dependencies', 'is-active', 'is-enabled']);

function powerRule({ program, args }: RunCmd): Found | null {
  const texts = args.map((a) => a.text);
  const operands = texts.filter((t) => !t.startsWith('-'));
  if (['shutdown', 'reboot', 'halt', 'poweroff'].includes(program)) {
    const harmless = texts.includes('--help') || (program === 'shutdown' && texts.includes('-c'));
    return harmless ? null : refuse('power', `would ${program === 'shutdown' ? 'shut down' : program} the machine`);
  }
  if ((program === 'init' || program === 'telinit') && ['0', '6'].includes(operands[0] ?? '')) {
    return refuse('power', `would ${operands[0] === '0' ? 'halt' : 'reboot'} the machine`);
  }
  if ((program === 'systemctl' || program === 'loginctl') && !INSPECT_VERBS.has(operands[0] ?? '')) {
    const verb = operands.find((o) => POWER_VERBS.has(o) || /^(poweroff|reboot|halt|kexec)\.target$/.test(o));
    if (verb) return refuse('power', `would ${verb.replace(/\.target$/, '')} the machine`);
  }
  return null;
}
