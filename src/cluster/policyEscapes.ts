// Options that make an ordinary program run a shell command line (the "GTFOBins" shapes):
// ssh -o ProxyCommand=…, rsync -e …, tar --to-command=… / --checkpoint-action=exec=… /
// -I …, git -c core.sshCommand=… / alias.x='!…', zip -TT …, and sed's `e` command. The
// command line in such an option is checked like the command itself; one the check cannot
// see needs a human's confirmation.
import type { Arg, RunCmd } from './policyTypes.js';

export interface Escape {
  /** how the command line gets run, for messages: `ssh -o ProxyCommand` */
  via: string;
  /** the command line, when visible */
  code?: string;
  /** the expansion that hides it */
  hidden?: string;
  /** the program runs code the check cannot follow at all (sed's e command) */
  opaque?: boolean;
}

const SSH_COMMANDS = /^(ProxyCommand|LocalCommand|KnownHostsCommand|RemoteCommand)\s*[= ]\s*([^]*)$/i;
const GIT_COMMANDS =
  /^(core\.sshCommand|core\.pager|core\.editor|core\.fsmonitor|core\.hooksPath|sequence\.editor|diff\.external|credential\.helper|alias\.[^=]+|[^=]*\.(?:command|cmd|textconv|clean|smudge|process))=([^]*)$/i;
const ESCAPING = new Set(['ssh', 'scp', 'sftp', 'rsync', 'tar', 'git', 'zip', 'sed']);

export function hasEscape(program: string): boolean {
  return ESCAPING.has(program);
}

export function escapes(cmd: RunCmd): Escape[] {
  const out: Escape[] = [];
  const args = cmd.args;
  const add = (via: string, arg: Arg | undefined, text?: string): void => {
    if (!arg) return;
    if (arg.hidden !== undefined) out.push({ via, hidden: arg.hidden });
    else for (const v of text !== undefined ? [text] : arg.values) out.push({ via, code: v });
  };
  const valueOf = (i: number, flag: string): [Arg | undefined, string | undefined] => {
    const a = args[i]!;
    if (a.text === flag) return [args[i + 1], undefined];
    if (a.text.startsWith(`${flag}=`)) return [a, a.text.slice(flag.length + 1)];
    if (flag.length === 2 && a.text.startsWith(flag)) return [a, a.text.slice(2)];
    return [undefined, undefined];
  };
  for (let i = 0; i < args.length; i++) {
    const t = args[i]!.text;
    switch (cmd.program) {
      case 'ssh':
      case 'scp':
      case 'sftp': {
        const [arg, attached] = valueOf(i, '-o');
        const option = attached ?? arg?.text;
        const m = option !== undefined ? SSH_COMMANDS.exec(option) : null;
        if (arg && m) add(`${cmd.program} -o ${m[1]}`, arg, m[2]);
        break;
      }
      case 'rsync':
        for (const flag of ['-e', '--rsh']) {
          const [arg, attached] = valueOf(i, flag);
          if (arg) add('rsync -e', arg, attached);
        }
        break;
      case 'tar':
        for (const flag of ['--to-command', '-I', '--use-compress-program', '--info-script', '--new-volume-script', '-F']) {
          const [arg, attached] = valueOf(i, flag);
          if (arg) add(`tar ${flag}`, arg, attached);
        }
        if (t.startsWith('--checkpoint-action=exec=')) add('tar --checkpoint-action=exec', args[i], t.slice('--checkpoint-action=exec='.length));
        break;
      case 'git': {
        const [arg, attached] = valueOf(i, '-c');
        const setting = attached ?? arg?.text;
        const m = setting !== undefined ? GIT_COMMANDS.exec(setting) : null;
        if (arg && m) {
          const [key, value] = [m[1]!, m[2]!];
          // an alias runs a shell only when it starts with '!'
          if (!key.startsWith('alias.')) add(`git -c ${key}`, arg, value);
          else if (value.startsWith('!')) add(`git -c ${key}`, arg, value.slice(1));
        }
        break;
      }
      case 'zip': {
        const [arg, attached] = valueOf(i, '-TT');
        const [long, longAttached] = valueOf(i, '--unzip-command');
        if (arg) add('zip -TT', arg, attached);
        if (long) add('zip --unzip-command', long, longAttached);
        break;
      }
      case 'sed':
        if (i === args.findIndex((a) => !a.text.startsWith('-')) || args[i - 1]?.text === '-e' || args[i - 1]?.text === '--expression') {
          const script = args[i]!;
          if (script.hidden === undefined && script.values.some(runsCommands)) out.push({ via: 'sed e', opaque: true });
        }
        break;
    }
  }
  return out;
}

// an s command: delimiter, pattern, replacement, flags (escapes and plain characters never overlap: linear)
const S_COMMAND = /s([^\\\n])((?:\\.|(?!\1)[^\\])*)\1((?:\\.|(?!\1)[^\\])*)\1([a-zA-Z0-9]*)/g;

/** GNU sed's `e` command, or the `e` flag of `s///`, runs text as a shell command. */
function runsCommands(script: string): boolean {
  if (script.length > 4096) return true;
  let flagged = false;
  const rest = script.replace(S_COMMAND, (_m, _d: string, _p: string, _r: string, flags: string) => {
    if (flags.includes('e')) flagged = true;
    return ';';
  });
  return flagged || /(^|[;\n{}0-9$/])\s*e(\s|$|;)/.test(rest);
}
