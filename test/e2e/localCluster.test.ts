// End to end: the loopback test cluster against the real OpenSSH client. Needs Linux with
// /usr/sbin/sshd; as root it also checks per-node users.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { clusterDown, clusterInfo, clusterUp, restartNodeSshd, stopNodeSshd, type LocalCluster, type LocalNode } from '../../src/testcluster/localCluster.js';
import { opensshArgs } from '../../src/testcluster/nodeAccess.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
// Own prefix: other suites may hold the default cf-n1.. users while this one removes its own.
const PREFIX = 'lct';

const ssh = async (cluster: LocalCluster, node: LocalNode, command: string): Promise<string> =>
  (await run('ssh', opensshArgs(cluster, node, command), { timeout: 15_000 })).stdout;

/** Resolves with the connect outcome: 'open' or the error code (ECONNREFUSED when nothing listens). */
function probePort(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** Zombies count as gone: they hold no port and run nothing. */
async function processGone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat === null || /^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function processesOf(user: string): Promise<string> {
  // ps exits 1 when it lists nothing.
  return run('ps', ['-u', user, '-o', 'pid=,stat=,args=']).then(
    (r) => r.stdout.trim(),
    () => '',
  );
}

describe('local loopback test cluster', () => {
  let dir = '';
  let cluster: LocalCluster;
  let upMs = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cf-localcluster-'));
    const started = Date.now();
    cluster = await clusterUp({ dir, nodes: 3, namePrefix: PREFIX, extraNodeYaml: { [`${PREFIX}1`]: { metrics_command: 'echo load1=9' } } });
    upMs = Date.now() - started;
  });

  after(async () => {
    await clusterDown({ dir, removeUsers: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  test('comes up fast with three distinct nodes', (t) => {
    t.diagnostic(`clusterUp(3 nodes) took ${upMs} ms`);
    assert.ok(upMs < 5000, `clusterUp took ${upMs} ms`);
    assert.deepEqual(
      cluster.nodes.map((n) => n.id),
      [`${PREFIX}1`, `${PREFIX}2`, `${PREFIX}3`],
    );
    const subnet = cluster.nodes[0]!.host.split('.')[2];
    cluster.nodes.forEach((node, i) => {
      assert.equal(node.host, `127.0.${subnet}.${i + 2}`, 'node i listens on 127.0.X.(i+1)');
      assert.equal(node.user, isRoot ? `cf-${PREFIX}${i + 1}` : userInfo().username);
      assert.match(node.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
      assert.equal(node.identityFile, join(dir, 'client_key'));
    });
    assert.equal(new Set(cluster.nodes.map((n) => n.host)).size, 3, 'distinct addresses');
    assert.equal(new Set(cluster.nodes.map((n) => n.hostKeyFingerprint)).size, 3, 'distinct host keys');
  });

  test('each node logs in its own user with a clean shell, strict host key checking on', async () => {
    for (const node of cluster.nodes) {
      const [user, shell, ...home] = (await ssh(cluster, node, 'id -un; echo $0; ls -a ~')).trim().split('\n');
      assert.equal(user, node.user);
      assert.equal(shell, 'bash');
      if (isRoot) assert.deepEqual(home, ['.', '..'], `no rc files in ${node.user}'s home`);
    }
    if (isRoot) {
      // The stray-process check later suites rely on: nothing left once sessions end (no zombies either).
      for (const node of cluster.nodes) {
        const clean = await eventually(async () => (await processesOf(node.user)) === '', 1000);
        assert.ok(clean, `processes left for ${node.user}: ${await processesOf(node.user)}`);
      }
    }
  });

  test('fingerprints match the keys in known_hosts', async () => {
    for (const node of cluster.nodes) {
      const { stdout } = await run('ssh-keygen', ['-l', '-F', `[${node.host}]:${node.port}`, '-f', cluster.knownHostsPath]);
      assert.equal(/SHA256:\S+/.exec(stdout)?.[0], node.hostKeyFingerprint);
    }
  });

  test('cluster.yaml lists local plus the nodes in the config format', async () => {
    const doc = parse(await readFile(cluster.configPath, 'utf8')) as { defaults: Record<string, unknown>; nodes: Record<string, unknown>[] };
    assert.deepEqual(doc.defaults, { identity_file: join(dir, 'client_key') });
    assert.deepEqual(doc.nodes[0], { id: 'local', local: true });
    const arch = process.arch === 'arm64' ? 'arm64' : 'x86_64';
    cluster.nodes.forEach((node, i) => {
      const extra = i === 0 ? { metrics_command: 'echo load1=9' } : {};
      assert.deepEqual(doc.nodes[i + 1], { id: node.id, host: node.host, port: node.port, user: node.user, os: 'linux', arch, ...extra });
    });
  });

  test('clusterInfo reads the state and a second clusterUp reuses running sshds', async (t) => {
    assert.deepEqual(await clusterInfo(dir), cluster);
    const started = Date.now();
    const again = await clusterUp({ dir, nodes: 3, namePrefix: PREFIX, extraNodeYaml: { [`${PREFIX}1`]: { metrics_command: 'echo load1=9' } } });
    t.diagnostic(`idempotent clusterUp took ${Date.now() - started} ms`);
    assert.deepEqual(again, cluster);
    assert.equal(await clusterInfo(join(tmpdir(), 'cf-localcluster-no-such-dir')), null);
  });

  test('includeLocal: false leaves out the local node; unknown extraNodeYaml ids are refused', async () => {
    await clusterUp({ dir, nodes: 3, namePrefix: PREFIX, includeLocal: false });
    const ids = (parse(await readFile(cluster.configPath, 'utf8')) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
    assert.deepEqual(
      ids,
      cluster.nodes.map((n) => n.id),
    );
    await assert.rejects(clusterUp({ dir, nodes: 3, namePrefix: PREFIX, extraNodeYaml: { nope: { x: 1 } } }), /unknown node\(s\) nope/);
    assert.deepEqual(await clusterInfo(dir), cluster, 'a refused call leaves the running cluster alone');
  });

  test('stopNodeSshd drops sessions and closes the port; restartNodeSshd brings the same node back', async () => {
    const node = cluster.nodes[1]!;
    const session = spawn('ssh', opensshArgs(cluster, node, 'echo started; sleep 30'), { stdio: ['ignore', 'pipe', 'ignore'] });
    const sessionEnded = new Promise<void>((resolve) => session.once('exit', () => resolve()));
    await new Promise<void>((resolve) => session.stdout.once('data', () => resolve()));

    await stopNodeSshd(dir, node.id);
    await sessionEnded; // a stopped node must not keep serving its open sessions
    assert.equal(await probePort(node.host, node.port), 'ECONNREFUSED');
    assert.ok(await processGone(node.pid));
    assert.equal((await clusterInfo(dir))?.nodes[1]?.pid, 0);
    await assert.rejects(ssh(cluster, node, 'true'));

    await restartNodeSshd(dir, node.id);
    const restarted = (await clusterInfo(dir))!.nodes[1]!;
    assert.notEqual(restarted.pid, node.pid);
    assert.equal(restarted.port, node.port);
    assert.equal((await ssh(cluster, restarted, 'id -un')).trim(), node.user, 'same host key: strict checking still passes');
    cluster = (await clusterInfo(dir))!;
  });

  test('clusterDown stops every sshd, closes the ports and removes the users and state', async () => {
    const nodes = cluster.nodes;
    await clusterDown({ dir, removeUsers: true });
    for (const node of nodes) {
      assert.ok(await eventually(() => processGone(node.pid), 1000), `sshd ${node.pid} of ${node.id} still runs`);
      assert.equal(await probePort(node.host, node.port), 'ECONNREFUSED');
      if (isRoot) await assert.rejects(run('getent', ['passwd', node.user]), `user ${node.user} removed`);
    }
    assert.equal(await clusterInfo(dir), null);
  });
});
