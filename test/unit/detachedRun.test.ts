// The detached-run scripts, run for real with local sh (dash) and bash as the foreground shell.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  capScript,
  ChunkReader,
  chunkScript,
  cleanupScript,
  killScript,
  newNonce,
  parseChunkOutput,
  parsePeek,
  parseTail,
  peekScript,
  preemptScript,
  tailScript,
  type RunOutput,
  type RunSpec,
} from '../../src/ssh/detachedRun.js';
import { localExec } from '../../src/ssh/localExec.js';
import { inPosixSh } from '../../src/ssh/quote.js';
import type { ExecResult } from '../../src/ssh/pool.js';
import { sleep, waitFor as waitForCondition } from '../helpers/wait.js';

const base = mkdtempSync(join(tmpdir(), 'cf-detached-'));
after(() => rmSync(base, { recursive: true, force: true }));
let seq = 0;
const newId = () => `t${process.pid}-${++seq}`;

/** Run a script with `<shell> -c`, collecting output like the SSH pool does. */
type Shell = 'sh' | 'bash' | 'zsh';
function runIn(shell: Shell, script: string, env?: NodeJS.ProcessEnv): Promise<{ out: Buffer; err: Buffer; exit: ExecResult }> {
  return new Promise((resolve, reject) => {
    const child = spawn(shell, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ out: Buffer.concat(out), err: Buffer.concat(err), exit: { code, signal } }));
  });
}

// Scripts of one run, as runCommand sends them; every script gets its own nonce.
const nonces = new Map<string, string>();
function runScript(spec: RunSpec & { baseDir?: string }): string {
  const nonce = newNonce();
  const script = chunkScript([spec], { nonce, baseDir: spec.baseDir });
  nonces.set(script, nonce);
  return script;
}
function parseRunOutput(script: string, r: { out: Buffer; err: Buffer }): RunOutput & { lost: boolean } {
  const run = parseChunkOutput(nonces.get(script)!, 1, r.out, r.err)[0]!;
  return { ...run, lost: run.state === 'lost' };
}

async function run(spec: RunSpec, shell: Shell = 'sh') {
  const script = runScript({ ...spec, baseDir: base });
  return parseRunOutput(script, await runIn(shell, script));
}

const text = async (script: string) => (await runIn('sh', script)).out.toString();
const waitFor = (what: string, cond: () => boolean, ms = 5000) => waitForCondition(what, cond, ms, 10);
/** The complete lines of a run's claim: its claimer's pid, then "p <pgid> <boot>" and "r <code>" (see detachedRun.ts). */
function claimLines(id: string, dir = base): string[] {
  const text = existsSync(join(dir, `${id}.claim`)) ? readFileSync(join(dir, `${id}.claim`), 'utf8') : '';
  return text.split('\n').slice(0, -1);
}
const claimField = (id: string, tag: string, dir = base) =>
  claimLines(id, dir)
    .find((l) => l.startsWith(`${tag} `))
    ?.split(' ')[1];
/** The run's process group leader has written its group to the claim. */
const launched = (id: string, dir = base) => claimField(id, 'p', dir) !== undefined;
const pgidOf = (id: string) => Number(claimField(id, 'p'));
/** Live (non-zombie) processes of a group: zombies are dead, only not yet reaped by init. */
function liveInGroup(pgid: number): string[] {
  const ps = execFileSync('ps', ['-A', '-o', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => {
    const [, g, stat] = l.trim().split(/\s+/);
    return Number(g) === pgid && stat !== undefined && !stat.startsWith('Z');
  });
}

// sshd hands the script to the node user's login shell: bash on Linux, zsh on macOS.
const hasZsh = (() => {
  try {
    execFileSync('zsh', ['-c', 'true']);
    return true;
  } catch {
    return false;
  }
})();
for (const shell of ['sh', 'bash', 'zsh'] as const) {
  describe(`runScript under ${shell}`, { skip: shell === 'zsh' && !hasZsh ? 'zsh not installed' : false }, () => {
    const cases: Array<{ name: string; command: string; stdout: string; stderr: string; rc: number }> = [
      { name: 'success', command: 'echo hello; echo oops >&2', stdout: 'hello\n', stderr: 'oops\n', rc: 0 },
      { name: 'exit code', command: 'printf partial; exit 3', stdout: 'partial', stderr: '', rc: 3 },
      { name: 'bash features', command: 'a=(x y z); echo "${#a[@]} ${a[1]}"', stdout: '3 y\n', stderr: '', rc: 0 },
      { name: 'no trailing newline on stderr', command: 'printf err-no-nl >&2; exit 255', stdout: '', stderr: 'err-no-nl', rc: 255 },
      { name: 'quotes and dollars', command: `echo "it's \\$HOME-free" 'and "double"'`, stdout: `it's $HOME-free and "double"\n`, stderr: '', rc: 0 },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const r = await run({ runId: newId(), command: c.command }, shell);
        assert.deepEqual(
          { stdout: r.stdout.toString(), stderr: r.stderr.toString(), rc: r.returnCode, signal: r.signal, re: r.reattached, lost: r.lost },
          { stdout: c.stdout, stderr: c.stderr, rc: c.rc, signal: null, re: false, lost: false },
        );
      });
    }

    test('cwd and env are applied, values quoted safely', async () => {
      const dir = mkdtempSync(join(base, "d ir'$x-"));
      const weird = `a 'b' "c" $HOME \`true\` \\ ;\nline2`;
      const r = await run({ runId: newId(), command: 'pwd; printf "%s" "$WEIRD"; echo; echo "$PLAIN"', cwd: dir, env: { WEIRD: weird, PLAIN: 'p' } }, shell);
      assert.equal(r.stdout.toString(), `${dir}\n${weird}\np\n`);
      assert.equal(r.returnCode, 0);
    });

    test('re-attach while running and kill work from this shell', async () => {
      const id = newId();
      const first = run({ runId: id, command: 'echo once >> ' + join(base, `${id}.n`) + '; sleep 30' }, shell);
      await waitFor(`run ${id} to launch`, () => launched(id));
      const second = run({ runId: id, command: 'never run' }, shell);
      assert.match((await runIn(shell, killScript(id, { graceS: 2, baseDir: base }))).out.toString(), /^\S+ terminated/);
      for (const r of [await first, await second]) assert.deepEqual([r.signal, r.lost], ['SIGTERM', false]);
      assert.equal((await second).reattached, true);
      assert.equal(readFileSync(join(base, `${id}.n`), 'utf8'), 'once\n');
    });

    test('a bad cwd fails with a clear message and does not run the command', async () => {
      const marker = join(base, `ran-${newId()}`);
      const r = await run({ runId: newId(), command: `touch ${marker}`, cwd: join(base, 'no-such-dir') }, shell);
      assert.equal(r.returnCode, 1);
      assert.match(r.stderr.toString(), /cannot cd to .*no-such-dir/);
      assert.equal(existsSync(marker), false);
    });
  });
}

describe('detached runs', () => {
  test('a second runScript with the same id re-attaches instead of running twice', async () => {
    const id = newId();
    const counter = join(base, `${id}.counter`);
    const command = `echo run >> ${counter}; echo started; sleep 0.6; echo finished; echo to-err >&2; exit 7`;
    const first = run({ runId: id, command });
    await waitFor(`run ${id} to launch`, () => launched(id));
    const second = await run({ runId: id, command });
    const firstResult = await first;
    const third = await run({ runId: id, command }); // after it finished: collects the result
    for (const r of [firstResult, second, third]) {
      assert.equal(r.stdout.toString(), 'started\nfinished\n');
      assert.equal(r.stderr.toString(), 'to-err\n');
      assert.equal(r.returnCode, 7);
    }
    assert.deepEqual([firstResult.reattached, second.reattached, third.reattached], [false, true, true]);
    assert.equal(readFileSync(counter, 'utf8'), 'run\n');
  });

  test('a re-attach to a long run waits for its launcher and reports the code soon after it ends', async () => {
    const id = newId();
    const command = 'sleep 2.6; echo late; exit 3';
    const first = run({ runId: id, command });
    await waitFor(`run ${id} to launch`, () => launched(id));
    const second = run({ runId: id, command });
    const firstDone = await first;
    const ended = Date.now();
    const again = await second;
    // Past 2 s the re-attach polls every 0.2 s: it must not lag much more than that.
    assert.ok(Date.now() - ended < 1500, `re-attach reported ${Date.now() - ended} ms after the launcher`);
    for (const r of [firstDone, again]) assert.deepEqual([r.stdout.toString(), r.returnCode, r.state], ['late\n', 3, 'done']);
    assert.equal(again.reattached, true);
  });

  test('a gated chunk starts nothing before "go" on stdin; EOF or another word ends it with nothing started', async () => {
    const gated = (runId: string, counter: string, stdin: Promise<string>) => {
      const nonce = newNonce();
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const done = localExec(chunkScript([{ runId, command: `echo run >> ${counter}; echo ok` }], { nonce, baseDir: base, gate: true }), {
        onStdout: (b) => out.push(b),
        onStderr: (b) => err.push(b),
        stdin,
      });
      return done.then((exit) => ({ exit, run: parseChunkOutput(nonce, 1, Buffer.concat(out), Buffer.concat(err))[0]! }));
    };
    const id = newId();
    const counter = join(base, `${id}.counter`);
    let go: (s: string) => void = () => undefined;
    const pending = gated(
      id,
      counter,
      new Promise((r) => {
        go = r;
      }),
    );
    await sleep(300); // a window in which nothing may happen: the chunk must not claim the run while the gate is shut
    assert.equal(existsSync(join(base, `${id}.claim`)), false, 'the run was claimed before the gate opened');
    go('go\n');
    const opened = await pending;
    assert.deepEqual([opened.run.state, opened.run.returnCode, opened.run.stdout.toString()], ['done', 0, 'ok\n']);
    assert.equal(readFileSync(counter, 'utf8'), 'run\n');

    for (const word of ['', 'no\n']) {
      const other = newId();
      const closed = await gated(other, join(base, `${other}.counter`), Promise.resolve(word));
      assert.equal(closed.exit.code, 0);
      assert.equal(closed.run.state, 'lost', 'no frames: nothing ran');
      assert.equal(existsSync(join(base, `${other}.claim`)), false);
      assert.equal(existsSync(join(base, `${other}.counter`)), false);
    }
  });

  test('killScript kills a TERM-ignoring process tree, leaving no live process in the group', async () => {
    const id = newId();
    const running = run({ runId: id, command: `echo up; bash -c 'trap "" TERM; sleep 1000 & sleep 1000'` });
    await waitFor(`run ${id} to launch`, () => launched(id));
    const pgid = pgidOf(id);
    await waitFor('sleep 1000 to run in the group', () => liveInGroup(pgid).some((l) => l.includes('sleep 1000')));
    assert.deepEqual(parsePeek(await text(peekScript(id, base))), { state: 'running' });
    const said = await text(killScript(id, { graceS: 0.5, baseDir: base }));
    assert.match(said, /^\S+ killed: group \d+ ignored TERM for 0.5s, sent KILL/);
    assert.deepEqual(liveInGroup(pgid), []);
    const r = await running;
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.lost, false);
    assert.equal(r.stdout.toString(), 'up\n'); // output so far
    assert.deepEqual(parsePeek(await text(peekScript(id, base))), { state: 'killed', signal: 'SIGKILL' });
    assert.match(await text(killScript(id, { baseDir: base })), /^\S+ (finished|gone)/);
  });

  test('killScript ends a command that honours TERM with TERM alone', async () => {
    const id = newId();
    const running = run({ runId: id, command: 'sleep 1000' });
    await waitFor(`run ${id} to launch`, () => launched(id));
    assert.match(await text(killScript(id, { graceS: 5, baseDir: base })), /^\S+ terminated: group \d+ exited after TERM/);
    const r = await running;
    assert.equal(r.signal, 'SIGTERM');
    assert.ok(r.returnCode === null || r.returnCode === 143, `returnCode ${r.returnCode}`);
  });

  test('a kill that lands between claim and launch stops the command from starting', async () => {
    const id = newId();
    const marker = join(base, `${id}.ran`);
    writeFileSync(join(base, `${id}.kill`), 'TERM\n'); // as killScript leaves it while waiting for the pgid
    const r = await run({ runId: id, command: `touch ${marker}` });
    assert.deepEqual([r.state, r.returnCode], ['skipped', null]);
    assert.equal(existsSync(marker), false);
  });

  test('inPosixSh runs a script unchanged from another login shell', async () => {
    const script = runScript({ runId: newId(), command: `echo "it's" fine`, baseDir: base });
    const p = parseRunOutput(script, await runIn('bash', inPosixSh(script)));
    assert.deepEqual([p.stdout.toString(), p.returnCode], ["it's fine\n", 0]);
  });

  test('a group killed outside clusterflow reports the signal; with its launcher gone too, it is lost, also on re-attach', async () => {
    const id = newId();
    const running = run({ runId: id, command: 'echo before; sleep 1000' });
    await waitFor(`run ${id} to launch`, () => launched(id));
    await waitFor('sleep 1000 to run in the group', () => liveInGroup(pgidOf(id)).some((l) => l.includes('sleep 1000')));
    process.kill(-pgidOf(id), 'SIGKILL');
    const r = await running;
    assert.deepEqual([r.state, r.returnCode, r.stdout.toString()], ['done', 137, 'before\n']);

    const id2 = newId();
    const running2 = run({ runId: id2, command: 'echo before; sleep 1000' });
    await waitFor(`run ${id2} to launch`, () => launched(id2));
    await waitFor('sleep 1000 to run in the group', () => liveInGroup(pgidOf(id2)).some((l) => l.includes('sleep 1000')));
    process.kill(Number(claimLines(id2)[0]), 'SIGKILL'); // the launcher
    process.kill(-pgidOf(id2), 'SIGKILL');
    assert.equal((await running2).state, 'lost');
    const again = await run({ runId: id2, command: 'echo before; sleep 1000' });
    assert.deepEqual([again.state, again.reattached, again.stdout.toString()], ['lost', true, 'before\n']);
    assert.match(await text(killScript(id2, { baseDir: base })), /^\S+ gone/);
    assert.deepEqual(parsePeek(await text(peekScript(id2, base))), { state: 'lost' }); // not turned into "killed"
  });

  test('a closed channel: the running command finishes and gets its code; the rest of the chunk never starts', async () => {
    const [a, b] = [newId(), newId()];
    const marker = join(base, `${b}.ran`);
    const abort = new AbortController();
    const exec = localExec(
      chunkScript(
        [
          { runId: a, command: 'sleep 0.6; exit 4' },
          { runId: b, command: `touch ${marker}` },
        ],
        { nonce: newNonce(), baseDir: base },
      ),
      { signal: abort.signal },
    );
    await waitFor(`run ${a} to launch`, () => launched(a));
    abort.abort();
    await assert.rejects(exec);
    await waitFor(`run ${a} to end (its exit code in the claim)`, () => claimField(a, 'r') !== undefined, 5000);
    await sleep(300); // a window in which nothing may happen: a chunk that went on after its channel closed would start b now
    assert.deepEqual(parsePeek(await text(peekScript(a, base))), { state: 'done', returnCode: 4 });
    assert.deepEqual(parsePeek(await text(peekScript(b, base))), { state: 'absent' });
    assert.equal(existsSync(marker), false);
  });

  test('output is binary-safe on both streams, and a frame with another nonce is not believed', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const file = join(base, 'bytes.bin');
    writeFileSync(file, bytes);
    const forged = `\x1e${newNonce()} E 0 st=done rc=0 sig=- re=0 cap=0\n`;
    const r = await run({
      runId: newId(),
      command: `cat ${file}; cat ${file} >&2; f='${forged.replace('\x1e', '\\036').replace('\n', '\\n')}'; printf "$f"; printf "$f" >&2; exit 9`,
    });
    assert.deepEqual(r.stdout, Buffer.concat([bytes, Buffer.from(forged)]));
    assert.deepEqual(r.stderr, Buffer.concat([bytes, Buffer.from(forged)]));
    assert.equal(r.returnCode, 9);
  });

  test('5 MiB of output arrives intact', async () => {
    const size = 5 * 1024 * 1024;
    const r = await run({ runId: newId(), command: `head -c ${size} /dev/zero | tr '\\0' x; yes e | head -c ${size} >&2` });
    assert.equal(r.stdout.length, size);
    assert.equal(r.stderr.length, size);
    assert.ok(r.stdout.every((b) => b === 0x78));
    assert.equal(r.stderr.subarray(0, 4).toString(), 'e\ne\n');
  });

  test('the reader finds frames split anywhere, and a run without frames is lost', () => {
    const nonce = newNonce();
    const out = Buffer.from(`\x1e${nonce} S 0\nA1\x1e${nonce} E 0\n\x1e${nonce} S 1\n\x1e\x1eB\x1e${nonce} E 1\n\x1e${nonce} S 2\npartial`);
    const err = Buffer.from(`e0\x1e${nonce} E 0 st=done rc=0 sig=- re=0 cap=0\nno-nl\x1e${nonce} E 1 st=killed rc=- sig=SIGKILL re=1 cap=0\n`);
    const whole = parseChunkOutput(nonce, 3, out, err);
    // Byte by byte: every split of a frame across packets.
    const seen: number[] = [];
    const reader = new ChunkReader(nonce, 3, { onRun: (i) => seen.push(i) });
    for (let k = 0; k < Math.max(out.length, err.length); k++) {
      if (k < out.length) reader.push('stdout', out.subarray(k, k + 1));
      if (k < err.length) reader.push('stderr', err.subarray(k, k + 1));
    }
    for (const runs of [whole, reader.runs]) {
      assert.deepEqual(
        runs.slice(0, 2).map((r) => [r!.stdout.toString(), r!.stderr.toString(), r!.state, r!.returnCode, r!.signal, r!.reattached]),
        [
          ['A1', 'e0', 'done', 0, null, false],
          ['\x1e\x1eB', 'no-nl', 'killed', null, 'SIGKILL', true],
        ],
      );
    }
    assert.deepEqual(seen, [0, 1]);
    assert.equal(reader.runs[2], undefined);
    assert.equal(whole[2]!.state, 'lost');
  });

  test('a chunk runs its commands one after another, each framed with its own output and code', async () => {
    const nonce = newNonce();
    const order = join(base, `order-${newId()}`);
    const specs = [
      { runId: newId(), command: `echo one; echo 1 >> ${order}; exit 3` },
      { runId: newId(), command: `printf two >&2; echo 2 >> ${order}` },
      { runId: newId(), command: `pwd; echo "$X"; echo 3 >> ${order}`, cwd: base, env: { X: 'x y' } },
    ];
    const r = await runIn('sh', chunkScript(specs, { nonce, baseDir: base }));
    const runs = parseChunkOutput(nonce, 3, r.out, r.err);
    assert.deepEqual(
      runs.map((x) => [x.stdout.toString(), x.stderr.toString(), x.state, x.returnCode]),
      [
        ['one\n', '', 'done', 3],
        ['', 'two', 'done', 0],
        [`${base}\nx y\n`, '', 'done', 0],
      ],
    );
    assert.equal(readFileSync(order, 'utf8'), '1\n2\n3\n');
  });

  test('a later run of a chunk sees none of the names the runner set reading the claims before it', async () => {
    const nonce = newNonce();
    const names = 'echo "${cf_k-u}${cf_a-u}${cf_b-u}${L-u}${G-u}${GB-u}${RC-u}"; type cf_read_claim >/dev/null 2>&1 || echo no-fn';
    const r = await runIn(
      'sh',
      chunkScript(
        [
          { runId: newId(), command: 'true' },
          { runId: newId(), command: names },
        ],
        { nonce, baseDir: base },
      ),
    );
    assert.deepEqual(
      parseChunkOutput(nonce, 2, r.out, r.err).map((x) => x.stdout.toString()),
      ['', 'uuuuuuu\nno-fn\n'],
    );
  });

  test('a run an older clusterflow launched (group and exit code in .pgid and .rc files) is re-attached, peeked and swept', async () => {
    const dir = mkdtempSync(join(base, 'legacy-'));
    const id = newId();
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(join(dir, `${id}.claim`), '999999\n');
    writeFileSync(join(dir, `${id}.pgid`), `999999 ${boot}\n`);
    writeFileSync(join(dir, `${id}.out`), 'legacy\n');
    writeFileSync(join(dir, `${id}.err`), '');
    writeFileSync(join(dir, `${id}.rc`), '3\n');
    assert.deepEqual(parsePeek(await text(peekScript(id, dir))), { state: 'done', returnCode: 3 });
    const script = runScript({ runId: id, command: 'echo must-not-run', baseDir: dir });
    const again = parseRunOutput(script, await runIn('sh', script));
    assert.deepEqual([again.state, again.returnCode, again.reattached, again.stdout.toString()], ['done', 3, true, 'legacy\n']);
    assert.match(await text(killScript(id, { baseDir: dir })), /finished/);
    const old = new Date(Date.now() - 3600_000);
    for (const ext of ['claim', 'pgid', 'out', 'err', 'rc']) utimesSync(join(dir, `${id}.${ext}`), old, old);
    assert.equal((await runIn('sh', cleanupScript(30, dir))).out.toString(), 'removed 1\n');
    assert.equal(existsSync(join(dir, `${id}.rc`)), false);
  });

  test("the command sees none of the runner's names, keeps the umask, and its background jobs stay in its group", async () => {
    const r = await run({
      runId: newId(),
      command:
        'echo "${N-u}${B-u}${P-u}${C-u}${RE-u}${I-u}$#"; type cf_claim >/dev/null 2>&1 || echo no-fn; umask; sleep 5 & ps -o pgid= -p $!; ps -o pgid= -p $BASHPID; kill $!',
    });
    const [names, fn, mask, bgGroup, ownGroup] = r.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.trim());
    assert.deepEqual([names, fn, mask], ['uuuuuu0', 'no-fn', execFileSync('sh', ['-c', 'umask'], { encoding: 'utf8' }).trim()]);
    assert.equal(bgGroup, ownGroup);
  });

  // Issue I.5: the runner evals the command inside its own script; bash must still word its
  // messages as `bash -c "<command>"` does (user's line numbers, no "environment: line 86").
  for (const shell of ['sh', 'bash', 'zsh'] as const) {
    test(`bash's own messages read as under bash -c (login shell ${shell})`, async () => {
      const commands = ['cargo-not-installed build', 'echo a\n\nnosuch-program', 'cd /nonexistent-dir', 'x=$((1 / 0))', "echo 'it''s' $0 $#; (exit 3)"];
      for (const command of commands) {
        const r = await run({ runId: newId(), command }, shell);
        const direct = spawnSync('bash', ['-c', command], { encoding: 'utf8' });
        assert.equal(r.stderr.toString(), direct.stderr, `${command} under ${shell}`);
        assert.equal(r.stdout.toString(), direct.stdout, `${command} under ${shell}`);
        assert.equal(r.returnCode, direct.status, `${command} under ${shell}`);
        assert.doesNotMatch(r.stderr.toString(), /environment|cf_|__cf/);
      }
    });
  }

  test("a syntax error shows the user's line only, and the runner is one line of script", async () => {
    const r = await run({ runId: newId(), command: 'echo ok\nfi' });
    assert.equal(r.returnCode, 2);
    assert.match(r.stderr.toString(), /^bash: eval: line 2: syntax error near unexpected token `fi'\nbash: eval: line 2: `fi'\n$/);
    const script = chunkScript(
      [
        { runId: 'a', command: 'echo 1\necho 2', cwd: '/tmp\nx', env: { A: 'multi\nline' } },
        { runId: 'b', command: "it's\t\\" },
      ],
      { nonce: newNonce() },
    );
    assert.equal(script.includes('\n'), false, "a newline in the script text would shift the user's line numbers");
  });

  test('killScript stops a run that has not started: claimed first, it never runs', async () => {
    const [a, b] = [newId(), newId()];
    const said = await text(killScript([a, b], { baseDir: base }));
    assert.deepEqual(
      said.trim().split('\n').sort(),
      [`${a} preempted: it had not started and never will`, `${b} preempted: it had not started and never will`].sort(),
    );
    const marker = join(base, `${a}.ran`);
    const r = await run({ runId: a, command: `touch ${marker}` });
    assert.deepEqual([r.state, r.reattached], ['skipped', true]);
    assert.equal(existsSync(marker), false);
    assert.deepEqual(parsePeek(await text(peekScript(a, base))), { state: 'skipped' });
  });

  test('preemptScript claims a run nobody launched (it never runs) and leaves a launched one alone', async () => {
    const [fresh, taken] = [newId(), newId()];
    const marker = join(base, `${taken}.ran`);
    const running = run({ runId: taken, command: `touch ${marker}; sleep 0.3; echo done` });
    await waitFor('the run to launch', () => launched(taken));
    const said = await text(preemptScript([fresh, taken], { baseDir: base }));
    assert.deepEqual(said.trim().split('\n'), [`${fresh} preempted`, `${taken} claimed`]);
    const r = await running;
    assert.deepEqual([r.state, r.returnCode, r.stdout.toString()], ['done', 0, 'done\n']);
    assert.equal(existsSync(marker), true);
    const never = join(base, `${fresh}.ran`);
    const late = await run({ runId: fresh, command: `touch ${never}` });
    assert.deepEqual([late.state, late.reattached], ['skipped', true]);
    assert.equal(existsSync(never), false, 'a preempted run started after all');
    // Run again (a second recovery): nothing changes.
    assert.deepEqual((await text(preemptScript([fresh], { baseDir: base }))).trim(), `${fresh} claimed`);
  });

  test('one killScript stops several running runs at once', async () => {
    const ids = [newId(), newId(), newId()];
    const running = ids.map((runId) => run({ runId, command: 'sleep 1000' }));
    await waitFor('the three runs to launch', () => ids.every((id) => launched(id)));
    const said = await text(killScript(ids, { graceS: 2, baseDir: base }));
    for (const id of ids) assert.match(said, new RegExp(`^${id} terminated`, 'm'));
    for (const r of await Promise.all(running)) assert.deepEqual([r.state, r.signal], ['killed', 'SIGTERM']);
  });

  test("tailScript reads part of a run's output by offset and limit; an unknown run is absent", async () => {
    const id = newId();
    await run({ runId: id, command: 'printf 0123456789; printf oops >&2' });
    const tail = async (stream: 'stdout' | 'stderr', offset: number, limit: number) =>
      parseTail((await runIn('sh', tailScript(id, stream, offset, limit, base))).out);
    assert.deepEqual(await tail('stdout', 3, 4), { size: 10, running: false, data: Buffer.from('3456') });
    assert.deepEqual(await tail('stdout', 8, 100), { size: 10, running: false, data: Buffer.from('89') });
    assert.deepEqual(await tail('stdout', 10, 100), { size: 10, running: false, data: Buffer.alloc(0) });
    assert.deepEqual(await tail('stderr', 0, 100), { size: 4, running: false, data: Buffer.from('oops') });
    assert.equal(parseTail((await runIn('sh', tailScript(newId(), 'stdout', 0, 10, base))).out), null);
  });

  test('peek reports absent and done', async () => {
    assert.deepEqual(parsePeek(await text(peekScript(newId(), base))), { state: 'absent' });
    const id = newId();
    await run({ runId: id, command: 'exit 4' });
    assert.deepEqual(parsePeek(await text(peekScript(id, base))), { state: 'done', returnCode: 4 });
  });

  test('cleanup removes old finished runs only', async () => {
    const dir = mkdtempSync(join(base, 'cleanup-'));
    const runIn2 = (id: string, command: string) => runIn('sh', runScript({ runId: id, command, baseDir: dir }));
    await runIn2('old', 'true');
    await runIn2('recent', 'true');
    const running = runIn2('busy', 'sleep 1000');
    await waitFor('run busy to launch', () => launched('busy', dir));
    const old = new Date(Date.now() - 3600_000);
    for (const id of ['old', 'busy'])
      for (const ext of ['claim', 'rc', 'out', 'err', 'pgid']) if (existsSync(join(dir, `${id}.${ext}`))) utimesSync(join(dir, `${id}.${ext}`), old, old);
    assert.equal((await runIn('sh', cleanupScript(30, dir))).out.toString(), 'removed 1\n');
    assert.deepEqual(
      ['old', 'recent', 'busy'].map((id) => existsSync(join(dir, `${id}.claim`))),
      [false, true, true],
    );
    await text(killScript('busy', { baseDir: dir }));
    await running;
  });

  test('a home-relative base dir expands on the node', async () => {
    const home = mkdtempSync(join(base, 'home-'));
    const script = runScript({ runId: 'h1', command: 'echo ok', baseDir: '~/runs' });
    assert.equal(parseRunOutput(script, await runIn('sh', script, { ...process.env, HOME: home })).stdout.toString(), 'ok\n');
    assert.equal(claimField('h1', 'r', join(home, 'runs')), '0');
  });

  test('bad run ids and env names are refused before any script is built', () => {
    for (const runId of ['', 'a b', 'a/b', '$(x)', 'x;y']) assert.throws(() => runScript({ runId, command: 'true' }), /invalid run id/);
    assert.throws(() => runScript({ runId: 'ok', command: 'true', env: { 'A-B': '1' } }), /invalid environment variable name/);
  });

  test('latency: the wrapper adds only a few ms to `true`', async () => {
    const time = async (f: () => Promise<unknown>) => {
      const samples: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t = performance.now();
        await f();
        samples.push(performance.now() - t);
      }
      return samples.sort((a, b) => a - b)[7]!;
    };
    const bare = await time(() => localExec('true'));
    const wrapped = await time(() => localExec(runScript({ runId: newId(), command: 'true', baseDir: base })));
    console.log(`# local exec of true: bare sh -c p50 ${bare.toFixed(1)} ms, detached run p50 ${wrapped.toFixed(1)} ms`);
    // Loose enough for a loaded machine (where everything slows alike), tight enough to catch
    // a sleep-poll (50 ms) creeping into the launch path.
    assert.ok(wrapped - bare < Math.max(25, 3 * bare), `detached wrapper adds ${(wrapped - bare).toFixed(1)} ms`);
  });
});

describe('output cap on the node (capScript)', () => {
  test('run files over the cap are cut back to it and marked capped; smaller ones are left alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cf-cap-'));
    writeFileSync(join(dir, 'big.out'), Buffer.alloc(300_000, 'y'));
    writeFileSync(join(dir, 'big.err'), Buffer.alloc(10, 'e'));
    writeFileSync(join(dir, 'small.out'), Buffer.alloc(1000, 's'));
    await runIn('sh', capScript(['big', 'small'], { maxOutput: 4096, baseDir: dir }));
    assert.equal(readFileSync(join(dir, 'big.out')).length, 4096);
    assert.equal(readFileSync(join(dir, 'big.err')).length, 10);
    assert.equal(readFileSync(join(dir, 'small.out')).length, 1000);
    assert.equal(existsSync(join(dir, 'big.capped')), true);
    assert.equal(existsSync(join(dir, 'small.capped')), false);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a chunk sends one byte past the cap and reports a run the node capped', async () => {
    const id = newId();
    const script = runScript({ runId: id, command: 'yes | head -c 100000', baseDir: base });
    const nonce = nonces.get(script)!;
    const withCap = script.replace(/ M=\d+/, ' M=5000');
    const r = await runIn('sh', withCap);
    const [run] = parseChunkOutput(nonce, 1, r.out, r.err);
    assert.equal(run!.stdout.length, 5001);
    assert.equal(run!.capped, false);
    await runIn('sh', capScript([id], { maxOutput: 5000, baseDir: base }));
    const again = await runIn('sh', withCap);
    const [reread] = parseChunkOutput(nonce, 1, again.out, again.err);
    assert.equal(reread!.stdout.length, 5000);
    assert.equal(reread!.capped, true);
  });
});
