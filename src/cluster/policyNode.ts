// Per-node settings from cluster.yaml (`policy: { allow, deny, read_only }`): what a parser
// cannot decide, the cluster's owner decides. deny refuses a program on that node; allow
// trusts it there (its confirm-level findings are dropped, and read_only lets it run);
// read_only refuses every command not known to leave files alone.
import { formatMessage, type Arg, type NodePolicy, type PolicyFinding } from './policyTypes.js';
import type { Visited } from './policyWalkTypes.js';
import { SHELLS } from './policyExec.js';

const READ_ONLY = new Set(
  `ls cat head tail less more grep egrep fgrep zgrep rg ag ack wc uniq cut tr paste join comm nl tac rev
  column fold fmt expand unexpand od xxd hexdump strings file stat du df free uptime w who whoami id groups hostname uname arch
  nproc lscpu lsblk lsusb lspci lsmod lsof ps pgrep pidof top htop vmstat iostat mpstat dmesg journalctl ss netstat ping
  traceroute tracepath dig nslookup host getent date cal env printenv locale which whereis type command true false test [ [[
  echo printf pwd cd pushd popd basename dirname realpath readlink diff cmp md5sum sha1sum sha256sum sha512sum b2sum cksum sum
  jq yq xmllint tree sleep seq expr bc factor numfmt export set unset local declare typeset readonly read shift exit return
  break continue wait : times getconf zcat bzcat xzcat nvidia-smi sensors last eval source . time`.split(/\s+/),
);
const MUTATING = new Set(
  `rm rmdir mv cp dd tee touch mkdir chmod chown chgrp ln truncate install shred unlink make gmake
  ninja cmake cargo npm yarn pnpm pip pip3 apt apt-get dnf yum brew docker podman kubectl kill pkill killall systemctl mount
  umount rsync scp tar zip unzip gzip gunzip patch wget curl git sed perl python python3 node ruby`.split(/\s+/),
);
const SUBCOMMANDS: Record<string, Set<string>> = {
  git: new Set([
    'status',
    'log',
    'diff',
    'show',
    'blame',
    'grep',
    'ls-files',
    'ls-tree',
    'ls-remote',
    'rev-parse',
    'rev-list',
    'describe',
    'shortlog',
    'cat-file',
    'show-ref',
    'for-each-ref',
    'count-objects',
    'whatchanged',
    'help',
    'version',
    'name-rev',
    'merge-base',
    'var',
    'cherry',
    '--version',
    '--help',
  ]),
  docker: new Set(['ps', 'images', 'inspect', 'logs', 'version', 'info', 'stats', 'top', 'port', 'history', 'events', 'search', '--version']),
  kubectl: new Set(['get', 'describe', 'logs', 'top', 'version', 'explain', 'api-resources', 'api-versions', 'cluster-info']),
  systemctl: new Set(['status', 'show', 'cat', 'is-active', 'is-enabled', 'is-failed', 'list-units', 'list-unit-files', 'list-timers', 'list-dependencies']),
  npm: new Set(['ls', 'list', 'view', 'info', 'outdated', 'help', 'ping', 'whoami', 'search', 'root', 'prefix', '--version', '-v']),
  pip: new Set(['list', 'show', 'freeze', 'check', 'help', '--version']),
  cargo: new Set(['tree', 'metadata', 'search', '--version', 'verify-project', 'locate-project']),
  go: new Set(['version', 'env', 'list', 'doc', 'help']),
  apt: new Set(['list', 'show', 'search', 'policy']),
  brew: new Set(['list', 'info', 'search', 'config', 'doctor', '--version']),
};
SUBCOMMANDS['pip3'] = SUBCOMMANDS['pip']!;
const HARMLESS_WRITE = /^\/dev\/(null|stdout|stderr|tty|fd\/\d+)$/;

export function nodeFindings(visited: Visited[], node: { id: string; policy?: NodePolicy } | undefined): PolicyFinding[] {
  const policy = node?.policy;
  if (!node || !policy) return [];
  const allow = new Set(policy.allow ?? []);
  const deny = new Set(policy.deny ?? []);
  const out: PolicyFinding[] = [];
  const push = (rule: string, text: string, why: string, program: string, hint: string): void => {
    const message = formatMessage('refuse', rule, text, why);
    if (!out.some((f) => f.message === message)) out.push({ verdict: 'refuse', rule, message, hint, program });
  };
  for (const v of visited) {
    const denied = [v.program, ...v.wrappers].find((p) => p !== '' && deny.has(p));
    if (denied) {
      push(
        'node-deny',
        v.text,
        `runs \`${denied}\`, which policy.deny of node ${node.id} refuses`,
        denied,
        `run it on a node that does not deny \`${denied}\`, or remove it from policy.deny of node ${node.id} in cluster.yaml`,
      );
    }
    if (!policy.readOnly) continue;
    const hint = (p: string): string =>
      `node ${node.id} is read_only: run it on another node, or add \`${p}\` to policy.allow of node ${node.id} in cluster.yaml`;
    const write = v.writes.find((w) => !(w.hidden === undefined && w.values.every((x) => HARMLESS_WRITE.test(x))));
    if (write && !allow.has(v.program))
      push('read-only', v.text, `writes to ${write.hidden ?? write.text}, and node ${node.id} is read_only`, v.program, hint(v.program || 'the program'));
    if (v.program === '' || allow.has(v.program)) continue;
    const problem = readOnlyProblem(v.program, v.args);
    if (problem) push('read-only', v.text, `${problem}, and node ${node.id} is read_only`, v.program, hint(v.program));
  }
  return out;
}

/** Why `program args` may modify something, or null when it is known to only read. */
export function readOnlyProblem(program: string, args: Arg[]): string | null {
  const texts = args.map((a) => a.text);
  const modifies = `\`${program}\` modifies files`;
  if (SHELLS.has(program)) return texts.some((t) => /^-[A-Za-z]*c/.test(t)) ? null : `\`${program}\` runs a script the check cannot see`;
  const sub = SUBCOMMANDS[program];
  if (sub) {
    const first = texts.find((t, i) => !t.startsWith('-') && !['-C', '-c'].includes(texts[i - 1] ?? '')) ?? texts[0] ?? '';
    return sub.has(first) || (texts.length === 1 && sub.has(texts[0]!)) ? null : `\`${program} ${first}\` may modify files or state`;
  }
  switch (program) {
    case 'sed':
      return texts.some((t) => /^-[^-]*i/.test(t) || t.startsWith('--in-place')) ? `\`sed -i\` edits files in place` : null;
    case 'sort':
      return texts.some((t) => /^-[^-]*o/.test(t) || t.startsWith('--output')) ? `\`sort -o\` writes a file` : null;
    case 'find': {
      const writes = texts.find((t) => ['-delete', '-fprint', '-fprint0', '-fprintf', '-fls'].includes(t));
      if (writes) return `\`find ${writes}\` modifies files`;
      const exec = texts.findIndex((t) => ['-exec', '-execdir', '-ok', '-okdir'].includes(t));
      return exec >= 0 ? readOnlyProblem(texts[exec + 1] ?? '', args.slice(exec + 2)) : null;
    }
    case 'awk':
    case 'gawk':
    case 'mawk': {
      const code = texts.find((t) => !t.startsWith('-')) ?? '';
      return /system|\||print[^;]*>/.test(code) ? `this \`${program}\` program writes files or runs commands` : null;
    }
    case 'tar':
      return texts.some((t) => /^-?[a-zA-Z]*t/.test(t) || t === '--list') && !texts.some((t) => /^-?[a-zA-Z]*[xcru]/.test(t)) ? null : modifies;
    case 'ip':
      return texts.some((t) => ['add', 'del', 'delete', 'set', 'flush', 'change', 'replace', 'append'].includes(t)) ? `\`ip\` changes network settings` : null;
    case 'sysctl':
      return texts.some((t) => t === '-w' || t.includes('=')) ? `\`sysctl -w\` changes kernel settings` : null;
    case 'curl':
      return texts.some((t) => /^-[a-zA-Z]*[oOTdFX]/.test(t) || /^--(output|remote-name|upload-file|data|form|request)/.test(t))
        ? `this \`curl\` writes a file or sends data`
        : null;
    default:
      if (READ_ONLY.has(program)) return null;
      return MUTATING.has(program) ? modifies : `\`${program}\` is not known to be read-only`;
  }
}
