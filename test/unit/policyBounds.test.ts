import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkPolicy } from '../../src/cluster/policy.js';
import { classifyCommand } from '../../src/cluster/classify.js';

// The check must stay well under 100 ms for any input up to the 64 KiB command limit. Time
// is CPU time of this process (the median of 3 runs), so a busy CI machine does not make it
// flaky; it includes the garbage collector's threads, so it is no undercount.
const LIMIT_MS = 100;
const KIB64 = 64 * 1024;
const fill = (unit: string, bytes = KIB64): string => unit.repeat(Math.floor(bytes / unit.length));

function cpuMs(run: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage();
    run();
    const used = process.cpuUsage(start);
    times.push((used.user + used.system) / 1000);
  }
  return times.sort((a, b) => a - b)[1]!;
}

// [name, command, rule of the first finding (null: none), or undefined when any outcome is fine]
const BOMBS: Array<[string, string, string | null | undefined]> = [
  ['64 KiB of `eval eval … true`', `${fill('eval ')}true`, 'too-complex'],
  ['`rm -rf /tmp/x` + 26 × `{a,b}`', `rm -rf /tmp/x${'{a,b}'.repeat(26)}`, 'too-complex'],
  ['`rm -rf /tmp/x` + 64 KiB of `{a,b}`', `rm -rf /tmp/x${fill('{a,b}')}`, 'too-complex'],
  ['`echo` + 64 KiB of `{a,b}`', `echo ${fill('{a,b}')}`, null],
  ['`{1..1000000}`', 'for i in {1..1000000}; do rm -rf "/tmp/x$i"; done', null],
  ['`$( $( $( …` nested 64 KiB deep', `${'$('.repeat(KIB64 / 3)}true${')'.repeat(KIB64 / 3)}`, 'too-complex'],
  ['`( ( ( …` nested 64 KiB deep', `${'( '.repeat(KIB64 / 4)}true${' )'.repeat(KIB64 / 4)}`, 'too-complex'],
  ['`if` nested 64 KiB deep', fill('if a; then '), 'too-complex'],
  ['`for` nested 64 KiB deep', fill('for i in a b; do X=$X$i; '), 'too-complex'],
  ['64 KiB of `a;`', fill('a;'), 'too-complex'],
  ['64 KiB of `a⏎`', fill('a\n'), 'too-complex'],
  ['64 KiB of `a|`', `${fill('a|')}a`, 'too-complex'],
  ['`echo` + 64 KiB of words', `echo ${fill('a ')}`, 'too-complex'],
  ['`rm -rf` + 16 KiB of words', `rm -rf ${fill('a ', 16 * 1024)}`, null],
  ['64 KiB single-quoted', `echo '${fill('a')}'`, null],
  ['64 KiB comment', `# ${fill('a')}`, null],
  ['64 KiB of backquotes', fill('`echo `'), undefined],
  ['64 KiB of `$(a)`', fill('$(a)'), undefined],
  ['64 KiB of `${a:-${b:-c}}`', `echo ${fill('${a:-${b:-c}}')}`, undefined],
  ['variable doubling `X=$X$X;`', fill('X=$X$X;'), undefined],
  ['variable growth then rm', `X=a;${fill('X=$X/$X;', KIB64 - 20)}rm -rf $X`, undefined],
  ['64 KiB of here-documents', fill('cat <<E\nx\nE\n'), undefined],
  ['a `case` with thousands of arms', `case x in ${fill('a) X=$X;; ')} esac; rm -rf "$X"`, undefined],
  ['64 KiB of `ssh h `', `${fill('ssh h ')}true`, 'too-complex'],
  ['64 KiB `bash -c` nesting', `${fill("bash -c 'eval ", KIB64 / 2)}true`, undefined],
  ['64 KiB of Python code', `python3 -c '${fill('os.system("x");')}'`, 'interpreter-code'],
  ['64 KiB of `rmtree("`', `python3 -c '${fill('rmtree("')}'`, 'interpreter-code'],
  ['64 KiB realistic script', fill('if [ -f "$x" ]; then\n  make -j8 all CC="$CC" > build.log 2>&1 || { echo fail; exit 1; }\nfi\n'), null],
  ['function calling itself in a loop', `f() { for i in 1 2; do f; done; }; ${fill('f; ', KIB64 - 40)}`, undefined],
  ['2 × 16 KiB pattern suffix removal', `X=${'a'.repeat(1000)}; ${fill('echo ${X%%*a*a*a*b}; ', 32 * 1024)}`, undefined],
];

test('every pathological input is checked (or given up on) in well under 100 ms', async (t) => {
  for (const [name, command, rule] of BOMBS) {
    await t.test(name, () => {
      let findings = checkPolicy({ command });
      checkPolicy({ command }); // two warm-up runs: the JIT compiles the hot paths
      const ms = cpuMs(() => {
        findings = checkPolicy({ command });
      });
      t.diagnostic(`${name} (${command.length} bytes): ${ms.toFixed(1)} ms CPU → ${findings[0]?.rule ?? 'passes'}`);
      if (rule !== undefined) assert.equal(findings[0]?.rule ?? null, rule, findings[0]?.message);
      assert.ok(ms < LIMIT_MS, `${name}: ${ms.toFixed(1)} ms`);
    });
  }
});

test('ordinary commands stay cheap to check and to classify', () => {
  const commands = [
    'make -j8 all',
    'cd src && cargo test --release',
    'git commit -am "x" && git push origin main',
    'for f in *.c; do gcc -c "$f"; done',
    'npm ci && npm test 2>&1 | tee test.log',
  ];
  const ms = cpuMs(() => {
    for (let i = 0; i < 200; i++) {
      for (const c of commands) {
        checkPolicy({ command: `${c} # ${i}` });
        classifyCommand(`${c} # ${i}`);
      }
    }
  });
  // 1000 distinct commands, each checked and classified: well under a millisecond apiece
  assert.ok(ms < 500, `${ms.toFixed(1)} ms for 1000 commands`);
});

test('mutated corpus lines never break the check', () => {
  // A deterministic fuzz: corpus lines with shell punctuation inserted and text cut out.
  const lines = ['destructive', 'everyday']
    .flatMap((f) => readFileSync(new URL(`../../../test/fixtures/policy/${f}.txt`, import.meta.url), 'utf8').split('\n'))
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) =>
      l
        .replace(/^(refuse|confirm):\s*/, '')
        .replace(/^(@\S+ \S+ )+/, '')
        .replace(/⏎/g, '\n'),
    );
  const tokens = [
    '$(',
    ')',
    '`',
    "'",
    '"',
    '${',
    '}',
    '{',
    '(',
    ';',
    '&&',
    '|',
    '\n',
    '<<E\n',
    'E\n',
    '<<<',
    '>',
    '<(',
    '$((',
    '))',
    '[[',
    ']]',
    'if ',
    'then ',
    'fi',
    'for x in a; do ',
    'done',
    'case x in a) ',
    ';;',
    'esac',
    '\\',
    '$x',
    ' ',
    'eval ',
    '{a,b}',
    '#',
    '&',
  ];
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    let s = lines[rnd(lines.length)]!;
    for (let k = 1 + rnd(3); k > 0; k--) {
      const at = rnd(s.length + 1);
      s = rnd(2) === 0 ? s.slice(0, at) + tokens[rnd(tokens.length)] + s.slice(at) : s.slice(0, at) + s.slice(at + 1 + rnd(4));
    }
    const broken = checkPolicy({ command: s }).find((f) => /could not be checked/.test(f.message));
    assert.equal(broken, undefined, `${JSON.stringify(s)}: ${broken?.message}`);
    classifyCommand(s);
  }
});
