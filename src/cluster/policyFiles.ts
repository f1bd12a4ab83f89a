// Scripts a command line writes and then runs: `echo 'rm -rf /' > x.sh; sh x.sh`, or
// `curl -s … | base64 -d > x.sh; bash x.sh`. What a write puts in a file is recorded when
// the check can tell (visible text), or marked hidden when it comes from a download or a
// decoder; running that file later is checked like inline code. A file the command line did
// not write is an ordinary script, as before.
import { fold } from './policyFold.js';
import { resolvePath } from './policyTargets.js';
import type { Arg, Dir, RunCmd, Stdin } from './policyTypes.js';

/** programs whose output the check cannot know */
const SOURCES = new Set(['curl', 'wget', 'base64', 'base32', 'basenc', 'xxd', 'openssl', 'gpg', 'uudecode', 'nc', 'ncat', 'socat']);
/** programs that pass their input on (more or less transformed) */
const FILTERS = new Set([
  'cat',
  'tee',
  'gunzip',
  'zcat',
  'gzip',
  'bzip2',
  'bunzip2',
  'xz',
  'unxz',
  'tr',
  'rev',
  'sed',
  'awk',
  'sort',
  'head',
  'tail',
  'cut',
  'dd',
  'iconv',
  'tac',
]);
const MAX_FILES = 256;
const MAX_CONTENT = 64 * 1024;

export interface StdoutWrite {
  arg: Arg;
  append: boolean;
}

export class WrittenFiles {
  private readonly files = new Map<string, Stdin>();

  /** What the command line wrote into `path` (resolved against `dir`), if anything. */
  get(path: string, dir: Dir, home: string): Stdin | undefined {
    return this.files.size === 0 ? undefined : this.files.get(resolvePath(path, dir, home));
  }

  /** Record what `run` wrote: its stdout into `targets`, and files its options write. */
  note(run: RunCmd, targets: StdoutWrite[]): void {
    const out = this.stdout(run);
    if (out) for (const t of targets) this.set(t.arg, run, out, t.append);
    const args = run.args;
    if (run.program === 'curl' || run.program === 'wget') {
      const flag = run.program === 'curl' ? /^(-o|--output)$/ : /^(-O|--output-document)$/;
      args.forEach((a, i) => {
        if (flag.test(a.text) && args[i + 1]) this.set(args[i + 1]!, run, { kind: 'hidden', what: `a file downloaded by ${run.program}` }, false);
      });
    } else if (run.program === 'tee' && (run.stdin.kind === 'code' || run.stdin.kind === 'hidden')) {
      for (const a of args)
        if (!a.text.startsWith('-'))
          this.set(
            a,
            run,
            run.stdin,
            args.some((x) => x.text === '-a' || x.text === '--append'),
          );
    } else if (['cp', 'mv', 'install', 'ln'].includes(run.program)) {
      const operands = args.filter((a) => a.hidden !== undefined || !a.text.startsWith('-'));
      const [source, dest] = [operands[0], operands[operands.length - 1]];
      const content = source && operands.length === 2 && source.hidden === undefined ? this.get(source.values[0]!, run.dir, run.home) : undefined;
      if (content && dest) this.set(dest, run, content, false);
    }
  }

  private stdout(run: RunCmd): Stdin | undefined {
    if (run.programHidden !== undefined) return { kind: 'hidden', what: `the output of ${run.programHidden}` };
    const text = fold(run);
    if (text !== null) return { kind: 'code', text: `${text}\n` };
    if (SOURCES.has(run.program)) return { kind: 'hidden', what: `the output of ${run.program}` };
    if (FILTERS.has(run.program) && run.stdin.kind === 'hidden') return run.stdin;
    if ((run.program === 'cat' || run.program === 'tee') && run.stdin.kind === 'code' && !run.args.some((a) => !a.text.startsWith('-'))) return run.stdin;
    return undefined;
  }

  private set(arg: Arg, run: RunCmd, content: Stdin, append: boolean): void {
    if (arg.hidden !== undefined) return;
    for (const v of arg.values) {
      const key = resolvePath(v, run.dir, run.home);
      if (key.startsWith('?') || (this.files.size >= MAX_FILES && !this.files.has(key))) continue;
      const before = append ? this.files.get(key) : undefined;
      let next = content;
      if (before?.kind === 'hidden' || content.kind === 'hidden') next = before?.kind === 'hidden' ? before : content;
      else if (before?.kind === 'code' && content.kind === 'code') next = { kind: 'code', text: before.text + content.text };
      if (next.kind === 'code' && next.text.length > MAX_CONTENT) next = { kind: 'hidden', what: `a script of more than ${MAX_CONTENT / 1024} KiB` };
      this.files.set(key, next);
    }
  }
}
