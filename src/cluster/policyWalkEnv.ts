// How the walker's words see their surroundings: variable values (with the shell's own
// variables given stand-ins of the right shape), command and process substitutions
// (walked, and folded to their output when visible), and what redirections read and write.
import type { Redir, Stmt } from './shellAst.js';
import { resolveArgs, resolveValue, type Values, type WordEnv } from './policyWords.js';
import { fold } from './policyFold.js';
import type { Scope } from './policyScope.js';
import type { Arg, RunCmd, Stdin } from './policyTypes.js';

const NUMERIC_VARS = new Set([
  '$',
  '!',
  '?',
  '#',
  'RANDOM',
  'SRANDOM',
  'BASHPID',
  'LINENO',
  'SECONDS',
  'UID',
  'EUID',
  'PPID',
  'EPOCHSECONDS',
  'EPOCHREALTIME',
  'COLUMNS',
  'LINES',
  'SHLVL',
  'OPTIND',
]);
const NAMES: Record<string, string> = { USER: 'user', LOGNAME: 'user', HOSTNAME: 'host', '-': 'hB', '0': 'bash' };
export const WRITE_OPS = new Set(['>', '>>', '>|', '&>', '&>>', '<>', '>&']);

/** What ScopeEnv needs from the walker. */
export interface BodyWalker {
  readonly home: string;
  walkBody(body: Stmt[], scope: Scope, ctx: unknown, stdin: Stdin): RunCmd | undefined;
  spend(units: number): void;
}

/** One object per scope (no closures per command: a 64 KiB script has thousands of commands). */
export class ScopeEnv implements WordEnv {
  constructor(
    private readonly walker: BodyWalker,
    private readonly scope: Scope,
    readonly ctx: unknown,
  ) {}

  lookup(name: string): Values {
    const known = this.scope.get(name);
    if (known !== undefined) return known;
    if (name === 'HOME') return [this.walker.home];
    if (name === 'IFS') return [' \t\n']; // the task's env cannot set it (env-name), so it is bash's default
    if (name === 'PWD') return this.scope.dir.kind === 'known' ? [this.scope.dir.path] : this.scope.dir.kind === 'default' ? ['.'] : null;
    if (NUMERIC_VARS.has(name)) return ['0'];
    return NAMES[name] !== undefined ? [NAMES[name]!] : null;
  }

  array(name: string): Values | undefined {
    return this.scope.getArray(name);
  }

  substitute(body: Stmt[]): string | null {
    const last = this.walker.walkBody(body, this.scope, this.ctx, { kind: 'none' });
    return last ? fold(last) : null;
  }

  process(body: Stmt[], dir: '<' | '>'): Stdin {
    if (dir === '>') {
      this.walker.walkBody(body, this.scope, this.ctx, { kind: 'hidden', what: 'the data written into >( … )' });
      return { kind: 'none' };
    }
    const last = this.walker.walkBody(body, this.scope, this.ctx, { kind: 'none' });
    const text = last ? fold(last) : null;
    return text !== null ? { kind: 'code', text } : { kind: 'hidden', what: 'the output of a <( … ) process substitution' };
  }

  spend(units: number): void {
    this.walker.spend(units);
  }

  /** What the redirections make the command read on stdin, and the files they write (`onWrite` checks each). */
  redirections(redirs: Redir[], inherited: Stdin, onWrite: (arg: Arg, redir: Redir, stdin: Stdin) => void): { stdin: Stdin; writes: Arg[] } {
    let stdin = inherited;
    const writes: Arg[] = [];
    for (const r of redirs) {
      if (!r.target) {
        if (r.op === '<<' || r.op === '<<-') stdin = { kind: 'hidden', what: 'a here-document the check could not read' };
        continue;
      }
      if (r.op === '<<' || r.op === '<<-' || r.op === '<<<') {
        const value = r.quotedHeredoc ? [r.target.parts.map((p) => (p.t === 'lit' ? p.v : '')).join('')] : resolveValue(r.target, this);
        stdin =
          value && value.length === 1
            ? { kind: 'code', text: r.op === '<<<' ? `${value[0]}\n` : value[0]! }
            : { kind: 'hidden', what: `a ${r.op === '<<<' ? 'here-string' : 'here-document'} with expansions the check cannot see` };
        continue;
      }
      const arg = resolveArgs([r.target], this)[0];
      if (!arg) continue;
      if (r.op === '<') stdin = arg.stream ?? { kind: 'file', path: arg.text };
      else if (WRITE_OPS.has(r.op) && !(r.op === '>&' && /^(\d+-?|-)$/.test(arg.text))) {
        writes.push(arg);
        onWrite(arg, r, stdin);
      }
    }
    return { stdin, writes };
  }
}
