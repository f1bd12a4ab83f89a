// End to end: SshPool, KnownHosts and the detached-run scripts against real OpenSSH sshds
// of the loopback test cluster (Linux, /usr/sbin/sshd). Reports exec latency and throughput.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chunkScript, killScript, newNonce, parseChunkOutput, parsePeek, peekScript } from '../../src/ssh/detachedRun.js';
import { isAbortError, SshError } from '../../src/ssh/errors.js';
import { fingerprint, KnownHosts } from '../../src/ssh/hostKeys.js';
import { SshPool, type ExecHandlers, type SshTarget } from '../../src/ssh/pool.js';
import { clusterDown, clusterUp, restartNodeSshd, stopNodeSshd, type LocalCluster, type LocalNode } from '../../src/testcluster/localCluster.js';
import { processTree } from '../../src/testcluster/procTree.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'cf-sshpool-'));
let cluster: LocalCluster;
let n1: LocalNode;
let n2: LocalNode;
const pools: SshPool[] = [];

const targetOf = (n: LocalNode, extra: Partial<SshTarget> = {}): SshTarget => ({
  nodeId: n.id,
  host: n.host,
  port: n.port,
  user: n.user,
  identityFile: n.identityFile,
  connectTimeoutMs: 5000,
  ...extra,
});
function newPool(opts: Partial<ConstructorParameters<typeof SshPool>[0]> = {}): SshPool {
  const knownHosts = new KnownHosts({ files: [cluster.knownHostsPath], writeFile: join(dir, `kh-${pools.length}`), policy: 'strict' });
  const pool = new SshPool({ knownHosts, ...opts });
  pools.push(pool);
  return pool;
}
async function capture(pool: SshPool, target: SshTarget, command: string, h: ExecHandlers = {}) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const exit = await pool.exec(target, command, { ...h, onStdout: (b) => out.push(b), onStderr: (b) => err.push(b) });
  return { exit, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), out: Buffer.concat(out), err: Buffer.concat(err) };
}
async function rejection(p: Promise<unknown>): Promise<SshError> {
  const err = await p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SshError, `expected SshError, got ${String(err)}`);
  return err;
}
/** A live process of the node's user whose command line contains `text` (ps, no pgrep: one user only). */
const runningAs = (n: LocalNode, text: string) =>
  spawnSync('ps', ['-u', n.user, '-o', 'stat=,args='], { encoding: 'utf8' })
    .stdout.split('\n')
    .some((l) => !l.trim().startsWith('Z') && l.includes(text));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

before(async () => {
  cluster = await clusterUp({ dir, nodes: 2, namePrefix: 'sp' });
  [n1, n2] = cluster.nodes as [LocalNode, LocalNode];
});
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await clusterDown({ dir, removeUsers: true }); // this suite's own cf-sp* users
  rmSync(dir, { recursive: true, force: true });
});

describe('SshPool against a real sshd', () => {
  test('exec reports output, stderr and exit codes; a non-zero exit is a result', async () => {
    const pool = newPool();
    const cases = [
      { command: 'id -un', stdout: `${n1.user}\n`, stderr: '', code: 0 },
      { command: 'echo to-err >&2; exit 3', stdout: '', stderr: 'to-err\n', code: 3 },
      { command: 'exit 255', stdout: '', stderr: '', code: 255 },
      { command: 'kill -TERM $$', stdout: '', stderr: '', code: null },
    ];
    for (const c of cases) {
      const r = await capture(pool, targetOf(n1), c.command);
      assert.deepEqual({ stdout: r.stdout, stderr: r.stderr, code: r.exit.code }, { stdout: c.stdout, stderr: c.stderr, code: c.code }, c.command);
    }
    assert.equal((await capture(pool, targetOf(n1), 'kill -TERM $$')).exit.signal, 'SIGTERM');
  });

  test('latency: p50 of sequential `true` execs on a warm connection', async () => {
    const pool = newPool();
    await pool.exec(targetOf(n1), 'true');
    const samples: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      await pool.exec(targetOf(n1), 'true');
      samples.push(performance.now() - t);
    }
    const p50 = median(samples);
    console.log(`# ssh exec latency: p50 ${p50.toFixed(2)} ms, p90 ${[...samples].sort((a, b) => a - b)[89]!.toFixed(2)} ms`);
    // Without TCP_NODELAY every exec costs ~44 ms (delayed ACK); with it ~2 ms.
    assert.ok(p50 < 20, `p50 ${p50.toFixed(1)} ms`);
  });

  test('200 concurrent execs on one node: no channel-open failures, bounded connections', async () => {
    let channelRetries = 0;
    const pool = newPool({ log: (msg) => void (msg === 'ssh channel open retry' && channelRetries++) });
    let peakConns = 0;
    let peakBusy = 0;
    const burst = async () => {
      const t = performance.now();
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, async () => {
          const r = await pool.exec(targetOf(n1), 'true');
          const s = pool.stats()[n1.id]!;
          peakConns = Math.max(peakConns, s.connections);
          peakBusy = Math.max(peakBusy, s.busyChannels);
          return r;
        }),
      );
      const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
      assert.deepEqual(failed, []);
      assert.ok(results.every((r) => r.status === 'fulfilled' && r.value.code === 0));
      return 200 / ((performance.now() - t) / 1000);
    };
    const cold = await burst(); // includes opening the connections
    const warm = await burst();
    console.log(
      `# 200 concurrent true: ${cold.toFixed(0)} execs/s cold (with logins), ${warm.toFixed(0)} execs/s warm; peak ${peakConns} connections, ${peakBusy} busy channels, ${channelRetries} channel-open retries`,
    );
    assert.ok(peakConns <= 4 && peakBusy <= 16, `peak ${peakConns} connections, ${peakBusy} channels`);
    assert.deepEqual(pool.stats()[n1.id], { connections: peakConns, busyChannels: 0, queued: 0 });
    assert.ok(warm > 100, `${warm.toFixed(0)} execs/s`);
  });

  test('a changed host key is refused with both fingerprints and not retried', async () => {
    const wrong = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
    const file = join(dir, 'wrong_known_hosts');
    writeFileSync(file, `[${n1.host}]:${n1.port} ssh-ed25519 ${wrong.toString('base64')}\n`);
    const knownHosts = new KnownHosts({ files: [file], writeFile: file, policy: 'accept-new' });
    let verifies = 0;
    const verify = knownHosts.verify.bind(knownHosts);
    knownHosts.verify = (...args) => (verifies++, verify(...args));
    const pool = new SshPool({ knownHosts });
    pools.push(pool);
    const err = await rejection(pool.exec(targetOf(n1), 'true'));
    assert.equal(err.kind, 'host-key');
    assert.equal(err.retryable, false);
    assert.ok(err.message.includes(fingerprint(wrong)) && err.message.includes(n1.hostKeyFingerprint), err.message);
    assert.match(err.message, /cluster-router hosts forget sp1/);
    assert.equal(verifies, 1);
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 2); // accept-new did not add the new key
  });

  test('strict refuses an unknown host; accept-new records its key', async () => {
    const strict = new SshPool({ knownHosts: new KnownHosts({ files: [], writeFile: join(dir, 'strict_kh'), policy: 'strict' }) });
    pools.push(strict);
    const err = await rejection(strict.exec(targetOf(n1), 'true'));
    assert.deepEqual([err.kind, err.retryable], ['host-key', false]);
    assert.ok(err.message.includes(n1.hostKeyFingerprint), err.message);

    const recorded = join(dir, 'state', 'known_hosts');
    const knownHosts = new KnownHosts({ files: [], writeFile: recorded, policy: 'accept-new' });
    const pool = new SshPool({ knownHosts });
    pools.push(pool);
    assert.equal((await pool.exec(targetOf(n1), 'true')).code, 0);
    assert.deepEqual(
      knownHosts.list().map((r) => [r.host, r.port, r.fingerprint]),
      [[n1.host, n1.port, n1.hostKeyFingerprint]],
    );
  });

  test('a key the server does not accept is a permanent auth error', async () => {
    const key = join(dir, 'stranger_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const err = await rejection(newPool().exec(targetOf(n1, { identityFile: key }), 'true'));
    assert.deepEqual([err.kind, err.retryable], ['auth', false]);
    const missing = await rejection(newPool().exec(targetOf(n1, { identityFile: join(dir, 'no_such_key') }), 'true'));
    assert.deepEqual([missing.kind, missing.retryable], ['auth', false]);
  });

  test('abort closes the channel; the detached command runs on and is collected by re-attaching', async () => {
    const pool = newPool();
    const id = `abort-${process.pid}`;
    const nonce = newNonce();
    const script = chunkScript([{ runId: id, command: 'sleep 0.8; echo finished; exit 5' }], { nonce });
    const controller = new AbortController();
    const running = pool.exec(targetOf(n1), script, { signal: controller.signal });
    await waitFor(
      'the detached command to launch (its group in the claim)',
      async () => (await capture(pool, targetOf(n1), `grep -q '^p ' "$HOME/.cache/clusterflow/runs/${id}.claim" && echo launched`)).stdout === 'launched\n',
      5000,
    );
    controller.abort();
    const err = await running.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(isAbortError(err), String(err));
    assert.deepEqual(parsePeek((await capture(pool, targetOf(n1), peekScript(id))).stdout), { state: 'running' });
    const again = await capture(pool, targetOf(n1), script);
    const [r] = parseChunkOutput(nonce, 1, again.out, again.err);
    assert.deepEqual([r!.stdout.toString(), r!.returnCode, r!.reattached], ['finished\n', 5, true]);
  });

  test('killScript over SSH kills a TERM-ignoring process tree: nothing of it is left', async () => {
    const pool = newPool();
    const id = `kill-${process.pid}`;
    const marker = `sleep 1${process.pid % 1000}`; // a unique argv to look for
    const nonce = newNonce();
    const running = capture(pool, targetOf(n1), chunkScript([{ runId: id, command: `bash -c 'trap "" TERM; ${marker} & ${marker}'` }], { nonce }));
    // Processes of the command tree: their argv starts with the command (the scripts only contain it).
    const sleepers = () =>
      execFileSync('ps', ['-u', n1.user, '-o', 'stat=,args='], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter(([stat, ...args]) => !stat?.startsWith('Z') && (args.join(' ').startsWith(marker) || args.join(' ').startsWith('bash -c trap')))
        .map((l) => l.join(' '));
    for (let i = 0; i < 100 && sleepers().length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sleepers().length, 3, sleepers().join('\n'));
    const kill = await capture(pool, targetOf(n1), killScript(id, { graceS: 1 }));
    assert.match(kill.stdout, /^\S+ killed: group \d+ ignored TERM for 1s, sent KILL/);
    assert.deepEqual(sleepers(), []);
    const done = await running;
    const [r] = parseChunkOutput(nonce, 1, done.out, done.err);
    assert.deepEqual([r!.signal, r!.state], ['SIGKILL', 'killed']);
  });

  test('a connection that stops answering is detected by keepalive: in-flight execs fail as lost', async () => {
    const pool = newPool({ keepaliveIntervalMs: 200 });
    await pool.exec(targetOf(n2), 'true');
    const sleepFor = `sleep 5.1${process.pid % 1000}`; // a unique argv to look for
    const outcome = rejection(pool.exec(targetOf(n2), sleepFor));
    await waitFor(`${sleepFor} to run on ${n2.id}`, () => runningAs(n2, sleepFor), 5000);
    const frozen = await processTree(n2.pid);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      const err = await outcome;
      assert.deepEqual([err.kind, err.retryable], ['lost', true]);
      assert.match(err.message, /Keepalive timeout/);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    assert.equal(pool.stats()[n2.id]!.connections, 0);
    assert.equal((await pool.exec(targetOf(n2), 'true')).code, 0); // a fresh connection
  });

  test('sshd killed mid-exec → retryable lost; stopped node → retryable connect; back up → works', async () => {
    const pool = newPool();
    await pool.exec(targetOf(n2), 'true');
    const sleepFor = `sleep 5.2${process.pid % 1000}`; // a unique argv to look for
    const inFlight = pool.exec(targetOf(n2), sleepFor);
    const outcome = rejection(inFlight);
    await waitFor(`${sleepFor} to run on ${n2.id}`, () => runningAs(n2, sleepFor), 5000);
    await stopNodeSshd(dir, n2.id);
    const lost = await outcome;
    assert.ok(['lost', 'connect'].includes(lost.kind) && lost.retryable, `${lost.kind}: ${lost.message}`);
    const refused = await rejection(pool.exec(targetOf(n2), 'true'));
    assert.deepEqual([refused.kind, refused.retryable], ['connect', true]);
    await restartNodeSshd(dir, n2.id);
    assert.equal((await pool.exec(targetOf(n2), 'true')).code, 0);
  });

  test('a server that accepts TCP but never speaks SSH fails as a retryable timeout', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const t = Date.now();
      const err = await rejection(newPool().exec(targetOf(n1, { host: '127.0.0.1', port, connectTimeoutMs: 300 }), 'true'));
      assert.deepEqual([err.kind, err.retryable], ['timeout', true]);
      assert.ok(Date.now() - t < 3000);
    } finally {
      silent.close();
    }
  });

  test('an exec aborted while queued leaves the queue; the running one completes', async () => {
    const pool = newPool({ maxConnectionsPerNode: 1, maxChannelsPerConnection: 1 });
    await pool.exec(targetOf(n1), 'true');
    const first = pool.exec(targetOf(n1), 'sleep 0.3; exit 4');
    const controller = new AbortController();
    const second = pool.exec(targetOf(n1), 'echo never', { signal: controller.signal });
    await waitFor('the second exec to queue behind the first', () => pool.stats()[n1.id]!.queued === 1, 5000, 5);
    controller.abort();
    assert.ok(
      isAbortError(
        await second.then(
          () => null,
          (e: unknown) => e,
        ),
      ),
    );
    assert.equal(pool.stats()[n1.id]!.queued, 0);
    assert.equal((await first).code, 4);
  });

  test('a changed address for a node drains the old connections and uses the new one', async () => {
    const pool = newPool();
    assert.equal((await capture(pool, targetOf(n1), 'id -un')).stdout, `${n1.user}\n`);
    // Same node id, now pointing at the other sshd (as after a DHCP change).
    const moved = targetOf(n2, { nodeId: n1.id });
    assert.equal((await capture(pool, moved, 'id -un')).stdout, `${n2.user}\n`);
    await waitFor('the old connection to drain, the new one to stay', () => pool.stats()[n1.id]!.connections === 1, 5000, 10);
  });
});
