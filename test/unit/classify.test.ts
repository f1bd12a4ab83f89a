import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyCommand, DEFAULT_LOCAL_COMMANDS, DEFAULT_OFFLOAD_COMMANDS } from '../../src/cluster/classify.js';
import { parseShell } from '../../src/cluster/shellParse.js';

// [command, expected weight, program named in a heavy reason]
const CASES: Array<[string, 'heavy' | 'light', string?]> = [
  // the seed tool's substring mistakes
  ['git merge main', 'light'],
  ['cd x && make', 'heavy', 'make'],
  ['echo make', 'light'],
  ['cat Makefile', 'light'],
  ['mkdir build', 'light'],
  ['grep foo file', 'light'],
  ['grep -rn foo .', 'heavy', 'grep -r'],
  ['grep -R foo src', 'heavy', 'grep -R'],
  ['grep --recursive foo src', 'heavy', 'grep --recursive'],
  ['grep -n -- -r file', 'light'],
  ['rg TODO', 'heavy', 'rg'],
  ['echo "make all"', 'light'],
  ["printf '%s\\n' cargo", 'light'],
  ['git commit -m "run make"', 'light'],
  ['vim Makefile', 'light'],
  // plain heavy programs
  ['make', 'heavy', 'make'],
  ['make -j8 all', 'heavy', 'make'],
  ['cargo build --release', 'heavy', 'cargo'],
  ['npm test', 'heavy', 'npm'],
  ['yarn install', 'heavy', 'yarn'],
  ['pnpm run build', 'heavy', 'pnpm'],
  ['pytest -x tests/', 'heavy', 'pytest'],
  ['jest --ci', 'heavy', 'jest'],
  ['mocha test/*.js', 'heavy', 'mocha'],
  ['gcc -O2 -o a a.c', 'heavy', 'gcc'],
  ['g++ main.cpp', 'heavy', 'g++'],
  ['clang++ -std=c++20 x.cc', 'heavy', 'clang++'],
  ['cc -c foo.c', 'heavy', 'cc'],
  ['docker build -t app .', 'heavy', 'docker'],
  ['podman run --rm alpine true', 'heavy', 'podman'],
  ['kubectl apply -f deploy.yaml', 'heavy', 'kubectl'],
  ['rsync -a src/ dst/', 'heavy', 'rsync'],
  ['scp file host:/tmp', 'heavy', 'scp'],
  ['tar czf out.tgz dir', 'heavy', 'tar'],
  ['zip -r out.zip dir', 'heavy', 'zip'],
  ['find . -name "*.o"', 'heavy', 'find'],
  ['ninja -C build', 'heavy', 'ninja'],
  ['cmake -S . -B build', 'heavy', 'cmake'],
  ['mvn package', 'heavy', 'mvn'],
  ['./gradlew build', 'heavy', 'gradlew'],
  ['/usr/bin/make install', 'heavy', 'make'],
  // subcommands and launchers
  ['go test ./...', 'heavy', 'go test'],
  ['go build -o bin/app .', 'heavy', 'go build'],
  ['go version', 'light'],
  ['go env GOPATH', 'light'],
  ['npx jest --watchAll=false', 'heavy', 'jest'],
  ['npx prettier --check .', 'light'],
  ['python -m pytest -q', 'heavy', 'pytest'],
  ['python3 -m unittest discover', 'heavy', 'unittest'],
  ['python3 -m http.server', 'light'],
  ['python script.py', 'light'],
  ['uv run pytest', 'heavy', 'pytest'],
  // structure: pipelines, lists, subshells, groups, substitutions, nested shells
  ['(cd a; make) | tee log', 'heavy', 'make'],
  ['ls && { cd src; cargo test; }', 'heavy', 'cargo'],
  ['true || make', 'heavy', 'make'],
  ['echo $(make -s print-version)', 'heavy', 'make'],
  ['echo `cargo --version`', 'heavy', 'cargo'],
  ['X=$(npm pack) echo done', 'heavy', 'npm'],
  ["bash -c 'cd x && make'", 'heavy', 'make'],
  ['sh -c "pytest -q"', 'heavy', 'pytest'],
  ["bash -lc 'echo hi'", 'light'],
  ['eval "make all"', 'heavy', 'make'],
  ['for d in a b; do make -C $d; done', 'heavy', 'make'],
  ['if [ -f Makefile ]; then make; fi', 'heavy', 'make'],
  ['while read f; do echo $f; done < list', 'light'],
  ['diff <(make -n) expected', 'heavy', 'make'],
  ['$(echo make) all', 'heavy', 'make'],
  // wrappers
  ['FOO=1 sudo -E nice -n 5 make', 'heavy', 'make'],
  ['sudo -u builder make', 'heavy', 'make'],
  ['time make', 'heavy', 'make'],
  ['/usr/bin/time -v make', 'heavy', 'make'],
  ['nohup make > build.log 2>&1 &', 'heavy', 'make'],
  ['env CC=clang make', 'heavy', 'make'],
  ['timeout 300 cargo test', 'heavy', 'cargo'],
  ['timeout -s KILL 5m pytest', 'heavy', 'pytest'],
  ['ls *.c | xargs -n1 gcc -c', 'heavy', 'gcc'],
  ['command make', 'heavy', 'make'],
  ['command -v make', 'light'],
  ['exec make', 'heavy', 'make'],
  ['stdbuf -oL make', 'heavy', 'make'],
  ['ionice -c3 nice -19 make', 'heavy', 'make'],
  ['which make', 'light'],
  ['type cargo', 'light'],
  // light
  ['ls -la', 'light'],
  ['pwd', 'light'],
  ['cd /tmp && ls', 'light'],
  ['cat README.md | head -20', 'light'],
  ['tail -f log', 'light'],
  ['git status', 'light'],
  ['ps aux', 'light'],
  ['FOO=bar', 'light'],
  ['', 'light'],
  // unparsable
  ['if then', 'light'],
  ["make 'unterminated", 'light'],
];

test('classifies commands by what they run, not by substrings', async (t) => {
  assert.ok(CASES.length >= 60);
  for (const [command, weight, program] of CASES) {
    await t.test(command || '(empty)', () => {
      const got = classifyCommand(command);
      assert.equal(got.weight, weight, got.reason);
      if (program) assert.ok(got.reason.includes(`\`${program}\``), got.reason);
      assert.ok(got.reason.startsWith(`${weight}:`), got.reason);
    });
  }
});

test('the heavy reason names the program and the command', () => {
  const got = classifyCommand('cd x && make');
  assert.deepEqual(got, { weight: 'heavy', reason: 'heavy: `make` in `cd x && make` is in the offload set', programs: ['cd', 'make'] });
});

test('light reasons tell stay-local from unknown, and a parse failure says so', () => {
  assert.match(classifyCommand('cd src && ls').reason, /stay-local/);
  assert.deepEqual(classifyCommand('cd src && ls').programs, ['cd', 'ls']);
  assert.match(classifyCommand('git merge main').reason, /not listed: git/);
  const broken = classifyCommand('make (');
  assert.equal(broken.weight, 'light');
  assert.match(broken.reason, /did not parse/);
});

test('custom lists replace the defaults', () => {
  assert.equal(classifyCommand('git merge main', { offload: ['git merge'] }).weight, 'heavy');
  assert.equal(classifyCommand('git status', { offload: ['git merge'] }).weight, 'light');
  assert.equal(classifyCommand('make', { offload: ['cargo'] }).weight, 'light');
  assert.match(classifyCommand('git log', { local: ['git'] }).reason, /stay-local/);
});

test('default lists hold the documented programs', () => {
  for (const p of [
    'make',
    'cargo',
    'npm',
    'yarn',
    'pnpm',
    'pytest',
    'jest',
    'mocha',
    'gcc',
    'g++',
    'clang',
    'docker',
    'podman',
    'kubectl',
    'rsync',
    'scp',
    'tar',
    'zip',
    'find',
    'grep -r',
  ])
    assert.ok(DEFAULT_OFFLOAD_COMMANDS.includes(p), p);
  for (const p of ['ls', 'pwd', 'cd', 'echo', 'cat', 'head', 'tail', 'which', 'type']) assert.ok(DEFAULT_LOCAL_COMMANDS.includes(p), p);
});

test('shellParse flattens nesting and records wrappers, env and redirections', () => {
  const parsed = parseShell('FOO=1 sudo -E nice -n 5 make -j4 > out.log 2>&1');
  assert.equal(parsed.ok, true);
  assert.equal(parsed.commands.length, 1);
  const [make] = parsed.commands;
  assert.equal(make!.program, 'make');
  assert.deepEqual(make!.args, ['-j4']);
  assert.deepEqual(make!.wrappers, ['sudo', 'nice']);
  assert.deepEqual(make!.env, { FOO: '1' });
  assert.deepEqual(make!.redirections, [
    { op: '>', target: 'out.log' },
    { op: '>&', fd: '2', target: '1' },
  ]);
  const nested = parseShell(`(cd a; echo "$(bash -c 'tar c . > /dev/null')") | tee log`);
  assert.deepEqual(
    nested.commands.map((c) => c.program),
    ['cd', 'echo', 'bash', 'tar', 'tee'],
  );
  assert.deepEqual(nested.redirections, [{ op: '>', target: '/dev/null' }]);
  const bomb = parseShell('bomb(){ bomb|bomb& };bomb');
  assert.deepEqual(bomb.functions, [{ name: 'bomb', forksItself: true }]);
  assert.deepEqual(parseShell('f() { g | h; f; }').functions, [{ name: 'f', forksItself: false }]);
});
