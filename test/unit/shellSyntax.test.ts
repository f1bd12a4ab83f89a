import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScript } from '../../src/cluster/shellSyntax.js';
import { parseShell } from '../../src/cluster/shellParse.js';

// An unparseable command is refused as a whole, so valid bash must parse: every construct
// here is accepted by bash -n.
const VALID = [
  'make',
  'a; b',
  'a && b || c',
  'a | b |& c',
  'a &',
  'a & b',
  '! a',
  'time -p make',
  'a\n\nb\n',
  'if a; then b; elif c; then d; else e; fi',
  'while read -r l; do echo "$l"; done < f',
  'until a; do b; done',
  'for x in a b c; do echo $x; done',
  'for x; do :; done',
  'for x\ndo\n:\ndone',
  'for ((i = 0; i < 3; i++)); do echo $i; done',
  'select x in a b; do break; done',
  'for x in a; { echo $x; }',
  'case $x in a|b) echo 1 ;; (c) echo 2 ;& d) echo 3 ;;& *) ;; esac',
  'case $x in\n  *.c)\n    gcc "$x"\n    ;;\nesac',
  '{ a; b; } > out 2>&1',
  '(cd x && make)',
  'f() { echo; }',
  'function g { echo; }',
  'function h() ( echo )',
  'f() (ls) > log',
  '[[ -f x && ( $a == b || $c =~ ^v[0-9]+(\\.[0-9]+)*$ ) ]]',
  '(( i += 1 ))',
  'echo $(( (1 + 2) * 3 ))',
  'echo $[1+2]',
  'a=1 b=(x y "z w") c+=3 d[2]=q make',
  'declare -A m=([k]=v)',
  'x=',
  'echo ${#arr[@]} ${arr[1]} ${!ref} ${x:-d} ${x//a/b} ${x%%.*} ${x^^}',
  'echo "${x:-"nested default"}"',
  'echo "$(echo "in $(echo deep)")"',
  'echo `echo \\`date\\``',
  "echo $'a\\'b' $\"c\"",
  'echo \'single "double" $none\'',
  'echo "a\\"b" \\$x \\\\',
  'diff <(sort a) <(sort b)',
  'tee >(gzip > o.gz) < in',
  'cat <<EOF\n$x\nEOF',
  "cat <<'EOF'\n$x `y`\nEOF",
  'cat <<-EOF\n\tx\n\tEOF',
  'cat <<A <<B\na\nA\nb\nB',
  'x=$(cat <<EOF\nhi\nEOF\n)',
  'cat <<< "$x"',
  'exec 3>&1 4<&0 5<>f {fd}>log',
  'echo a >| f &>> g',
  'coproc cat',
  'coproc W { cat; }',
  'echo a # comment',
  '# only a comment',
  'make \\\n  -j8',
  'echo {a,b}{1..3} ~/x ~user/y *.c ?x [ab]',
  'a=$(\n  echo x\n)',
  'echo "multi\nline"',
  'if true\nthen\n  :\nfi',
  'x() {\n  local y=1\n  return 0\n}\nx',
  'echo ${x:+"$x"} "${@}" "$*" $# $? $$ $! $0 $1 ${10}',
  'trap "rm -f /tmp/x" EXIT',
  'case x in esac',
  'echo ")" "(" \\( \\)',
  'time',
  'time -p',
  '((cd x && ls) )',
  'echo $((time -p ls >/dev/null) 2>&1)',
  'x=$( (cd a; pwd) )',
];

const INVALID = [
  "echo 'unterminated",
  'echo "unterminated',
  'echo $(',
  'echo `x',
  'if then',
  'if a; then b',
  'while a; do b',
  'for x in a; b; done',
  'case x in',
  'case x in a) b',
  '{ a',
  '(a',
  'a)',
  'a &&',
  '| a',
  'a ||',
  '; a',
  'fi',
  'done',
  'then a',
  'echo ${x',
  'f() echo',
  'echo $((1 + 2)',
  '[[ a',
  'a b (c',
  'echo a )',
];

test('valid bash parses', async (t) => {
  for (const source of VALID) {
    await t.test(JSON.stringify(source), () => {
      const r = parseScript(source);
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.tooComplex, undefined);
    });
  }
});

test('invalid bash is a syntax error, with the statements before it', async (t) => {
  for (const source of INVALID) {
    await t.test(JSON.stringify(source), () => assert.ok(parseScript(source).error, source));
  }
  const r = parseScript('echo one\necho two\nif');
  assert.match(r.error!, /^line 3: /);
  assert.equal(r.stmts.length, 2);
});

test('`((` and `$((` that do not parse as arithmetic are subshells, as in bash', () => {
  const [stmt] = parseScript('((cd /etc && rm -rf ssh) )').stmts;
  assert.equal(stmt!.pipes[0]!.cmds[0]!.t, 'subshell');
  assert.equal(
    parseShell('echo $((rm -rf /x) 2>&1)')
      .commands.map((c) => c.program)
      .join(' '),
    'echo rm',
  );
  assert.equal(parseShell('((1 + (2 * 3)))').commands.length, 0);
});

test('words keep their quoting and expansions', () => {
  const [stmt] = parseScript(`rm -rf "$A"/b 'c d' $(echo x) \\*`).stmts;
  const cmd = stmt!.pipes[0]!.cmds[0]!;
  assert.equal(cmd.t, 'simple');
  if (cmd.t !== 'simple') return;
  assert.deepEqual(
    cmd.words.map((w) => w.src),
    ['rm', '-rf', '"$A"/b', "'c d'", '$(echo x)', '\\*'],
  );
  assert.deepEqual(
    cmd.words[2]!.parts.map((p) => p.t),
    ['param', 'lit'],
  );
  assert.deepEqual(cmd.words[5]!.parts, [{ t: 'lit', v: '*', q: true }]);
});

test('limits: nesting depth, work and size give up with a reason instead of a stack overflow', () => {
  assert.match(parseScript('$('.repeat(5000) + ')'.repeat(5000)).tooComplex ?? '', /nested more than 64 levels/);
  assert.match(parseScript('( '.repeat(100_000)).tooComplex ?? '', /nested/);
  assert.match(parseScript('a;'.repeat(40_000)).tooComplex ?? '', /words and commands/);
  assert.match(parseScript('x'.repeat(300 * 1024)).tooComplex ?? '', /bytes/);
});

test('the parse cache keeps small commands only', () => {
  assert.ok(Object.isFrozen(parseShell('make -j8 all')));
  assert.equal(parseShell('make -j8 all'), parseShell('make -j8 all'));
  const big = `echo ${'x '.repeat(4000)}`;
  assert.ok(!Object.isFrozen(parseShell(big)));
  assert.notEqual(parseShell(big), parseShell(big));
});
