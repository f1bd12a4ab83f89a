// find as a deleter: `-delete` or `-exec rm …` over everything under its start paths.
// Only name/path tests narrow what it deletes (`find / -true -delete` or `find /etc
// -mtime +1 -delete` are as bad as `rm -rf`); `-o` and `!` undo a narrowing.
import { unwrapCommand, baseName } from './shellWrappers.js';
import { deleteTarget } from './policyTargets.js';
import { eachValue, refuse, SYSTEM_KINDS, targetFinding, type Found } from './policyFound.js';
import type { Arg, RunCmd } from './policyTypes.js';

const NAME_TESTS = new Set(['-name', '-iname', '-path', '-ipath', '-wholename', '-iwholename', '-regex', '-iregex', '-lname', '-ilname', '-inum', '-samefile']);
const NOT_TESTS = new Set([
  '-delete',
  '-depth',
  '-d',
  '-maxdepth',
  '-mindepth',
  '-xdev',
  '-mount',
  '-print',
  '-print0',
  '-ignore_readdir_race',
  '-noignore_readdir_race',
  '-noleaf',
  '-follow',
  '-daystart',
  '-regextype',
  '-warn',
  '-nowarn',
  '-ls',
  '-prune',
  '-quit',
  '-printf',
  '-fprint',
  '-fprint0',
  '-fls',
  '-files0-from',
]);
/** primaries that take one argument (the rest take none) */
const ONE_ARG =
  /^-(i?name|i?path|i?wholename|i?regex|i?lname|inum|samefile|x?type|user|group|uid|gid|perm|size|[amc](time|min)|newer\w*|[ac]newer|links|fstype|context|used|maxdepth|mindepth|regextype|printf|fprint0?|fls|files0-from)$/;
const LOOSE = new Set(['-o', '-or', '!', '-not', ',']);
const DELETERS = new Set(['rm', 'rmdir', 'unlink', 'shred']);

/** Start paths and expression of a find command line. */
export function findParts(args: Arg[]): { starts: Arg[]; expr: string[] } {
  let i = 0;
  while (i < args.length && /^-([HLP]|O\d|D)$/.test(args[i]!.text)) i += args[i]!.text === '-D' ? 2 : 1;
  const starts: Arg[] = [];
  while (i < args.length && (args[i]!.hidden !== undefined || !/^[-(!,]/.test(args[i]!.text))) starts.push(args[i++]!);
  return { starts, expr: args.slice(i).map((a) => a.text) };
}

/** The tests of a find expression, whether it deletes what it finds, and whether `-o`/`!` loosen it. */
export function findExpression(expr: string[]): { tests: string[]; deletes: boolean; loose: boolean } {
  const tests: string[] = [];
  let deletes = false;
  let loose = false;
  for (let i = 0; i < expr.length; i++) {
    const word = expr[i]!;
    if (['-exec', '-execdir', '-ok', '-okdir'].includes(word)) {
      const end = expr.findIndex((a, j) => j > i && (a === ';' || a === '+'));
      const run = unwrapCommand(expr.slice(i + 1, end < 0 ? expr.length : end)).words;
      if (DELETERS.has(baseName(run[0] ?? ''))) deletes = true;
      i = end < 0 ? expr.length : end;
    } else if (word === '-delete') deletes = true;
    else if (deletes)
      continue; // tests after the deletion do not narrow it (`find / -delete -name x`)
    else if (LOOSE.has(word)) loose = true;
    else if (word === '-fprintf') i += 2;
    else if (ONE_ARG.test(word)) {
      if (!NOT_TESTS.has(word)) tests.push(word, expr[i + 1] ?? '');
      i++;
    } else if (word.startsWith('-') && !NOT_TESTS.has(word)) tests.push(word, '');
  }
  return { tests, deletes, loose };
}

/** Deleting everything find lists under `starts`: only a name/path test narrows it. */
export function findDeletion(starts: Arg[], expr: string[], cmd: RunCmd): Found[] {
  const { tests, loose } = findExpression(expr);
  // a pattern narrows when it names something: `*.o` does, `*`, `?*` and `.*` (every dotfile) do not
  const narrowed = !loose && tests.some((t, j) => j % 2 === 0 && NAME_TESTS.has(t) && /[A-Za-z0-9_-]/.test(tests[j + 1]!));
  const out: Found[] = [];
  eachValue(starts.length > 0 ? starts : [{ text: '.', values: ['.'] }], 'directory to delete in', out, (v) => {
    const t = deleteTarget(v, cmd.dir, cmd.home);
    if (!t) return;
    if (t.kind === 'hidden') out.push(targetFinding(t, 'rm-root', 'delete'));
    else if (SYSTEM_KINDS.includes(t.kind) ? !narrowed : tests.length === 0) {
      out.push(
        refuse(
          'rm-root',
          `would delete ${t.what}${SYSTEM_KINDS.includes(t.kind) && tests.length > 0 ? ' (only a -name/-path pattern that names something narrows a deletion)' : ''}`,
        ),
      );
    }
  });
  return out;
}

export function findRule(cmd: RunCmd): Found[] {
  const { starts, expr } = findParts(cmd.args);
  return findExpression(expr).deletes ? findDeletion(starts, expr, cmd) : [];
}

/** The commands `find … -exec cmd … ;` runs, as commands of their own. */
export function execCommands(run: RunCmd): RunCmd[] {
  const out: RunCmd[] = [];
  const args = run.args;
  for (let i = 0; i < args.length; i++) {
    if (!['-exec', '-execdir', '-ok', '-okdir'].includes(args[i]!.text)) continue;
    let end = args.findIndex((a, j) => j > i && (a.text === ';' || a.text === '+'));
    if (end < 0) end = args.length;
    const words = args.slice(i + 1, end);
    const un = unwrapCommand(words.map((w) => w.text));
    const at = words.length - un.words.length;
    const program = words[at];
    if (program && program.hidden === undefined) {
      const name = baseName(program.values[0]!);
      // find's own deletion rule covers `-exec rm {}`; in any other program `{}` is a path the check cannot see
      const args = words
        .slice(at + 1)
        .map((a) => (DELETERS.has(name) || !a.text.includes('{}') ? a : { ...a, values: [], hidden: '{} (a path find passes in)' }));
      out.push({ ...run, program: name, args, words, wrappers: un.wrappers, stdin: { kind: 'none' } });
    }
    i = end;
  }
  return out;
}
