// What a simple command prints, when the check can tell without running it: `echo`,
// `printf`, `cat` of a visible here-document, `pwd`, `mktemp`, `which`, `basename`, … So
// `D=$(mktemp -d); rm -rf "$D"` and `rm -rf "$(pwd)/build"` stay checkable, while
// `rm -rf $(cat list)` is hidden. Outputs that are only numbers or names fold to a
// stand-in of the same shape ('0', 'user'), which is all a path check needs.
import { posix } from 'node:path';
import { resolvePath } from './policyTargets.js';
import type { RunCmd } from './policyTypes.js';

const NUMERIC = new Set(['seq', 'nproc', 'wc', 'expr', 'getconf', 'stat', 'du', 'bc']);

export function fold(run: RunCmd): string | null {
  if (run.programHidden !== undefined || run.args.some((a) => a.hidden !== undefined || a.values.length !== 1 || a.complex)) return null;
  const args = run.args.map((a) => a.values[0]!);
  const operands = args.filter((a) => !a.startsWith('-'));
  switch (run.program) {
    case 'echo': {
      let i = 0;
      while (i < args.length && /^-[neE]+$/.test(args[i]!)) i++;
      const text = args.slice(i).join(' ');
      return args.slice(0, i).some((a) => a.includes('e')) && text.includes('\\') ? null : text;
    }
    case 'printf':
      return printf(args);
    case 'cat':
      return args.length === 0 && run.stdin.kind === 'code' ? run.stdin.text : null;
    case 'pwd':
      return run.dir.kind === 'known' ? run.dir.path : run.dir.kind === 'default' ? '.' : null;
    case 'mktemp':
      return mktemp(run, args);
    case 'which':
    case 'type':
      return operands.length === 1 && /^[\w.+-]+$/.test(operands[0]!) ? `/usr/bin/${operands[0]}` : null;
    case 'command':
      return args[0] === '-v' && args.length === 2 && /^[\w.+-]+$/.test(args[1]!) ? `/usr/bin/${args[1]}` : null;
    case 'basename':
      return operands.length >= 1 ? stripSuffix(posix.basename(operands[0]!), operands[1]) : null;
    case 'dirname':
      return operands.length === 1 ? posix.dirname(operands[0]!) : null;
    case 'realpath':
    case 'readlink': {
      if (run.program === 'readlink' && !args.some((a) => /^-[a-zA-Z]*[fem]/.test(a))) return null;
      if (operands.length !== 1) return null;
      const p = resolvePath(operands[0]!, run.dir, run.home);
      return p.startsWith('?') ? null : p;
    }
    case 'date':
      return args.every((a) => !a.startsWith('+') || !/[./]/.test(a)) ? '0' : null;
    case 'uname':
      return 'Linux';
    case 'hostname':
      return 'host';
    case 'whoami':
    case 'logname':
      return 'user';
    case 'id':
      return args.some((a) => /n/.test(a)) ? 'user' : '0';
    case 'git':
      if (args[0] === 'rev-parse' && args.slice(1).every((a) => ['HEAD', '--short', '--verify', '-q'].includes(a) || /^--short=\d+$/.test(a))) return 'abc1234';
      if (args[0] === 'branch' && args[1] === '--show-current' && args.length === 2) return 'main';
      return null;
    default:
      return NUMERIC.has(run.program) ? '0' : null;
  }
}

/** printf with %s, %% and simple escapes; the format repeats for extra arguments, as in bash. */
function printf(args: string[]): string | null {
  const [format, ...rest] = args;
  if (format === undefined || /%(?![s%])/.test(format) || /\\[^nt\\"']/.test(format) || rest.length > 64) return null;
  const escapes: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'" };
  const unescaped = format.replace(/\\(.)/g, (m, c: string) => escapes[c] ?? m);
  const slots = (unescaped.match(/%s/g) ?? []).length;
  let out = '';
  let i = 0;
  do {
    out += unescaped.replace(/%([s%])/g, (_m, c: string) => (c === '%' ? '%' : (rest[i++] ?? '')));
  } while (slots > 0 && i < rest.length);
  return out;
}

function stripSuffix(name: string, suffix: string | undefined): string {
  return suffix && name.endsWith(suffix) && name !== suffix ? name.slice(0, -suffix.length) : name;
}

/** mktemp makes a fresh name: under /tmp unless told otherwise. */
function mktemp(run: RunCmd, args: string[]): string | null {
  let dir = '/tmp';
  let template = 'tmp.XXXXXXXXXX';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-p' || a === '--tmpdir') dir = args[++i] ?? dir;
    else if (a.startsWith('--tmpdir=')) dir = a.slice('--tmpdir='.length);
    else if (a.startsWith('-p') && a.length > 2) dir = a.slice(2);
    else if (!a.startsWith('-')) template = a;
  }
  if (template.startsWith('/')) return template;
  const base = resolvePath(dir, run.dir, run.home);
  if (base.startsWith('?')) return null;
  const hasDirOption = args.some((a) => /^(-p|--tmpdir|-t)/.test(a) || /^-[a-zA-Z]*t/.test(a));
  return hasDirOption || template === 'tmp.XXXXXXXXXX' ? `${base}/${posix.basename(template)}` : template;
}
