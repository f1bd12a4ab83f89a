// End to end over real SSH: a 1-node loopback cluster whose sshd cannot see the origin's
// directory (clusterUp hide), a small repo synced through the real SshPool, `make` run in
// the node's tree through the pool, the output brought back; then an incremental re-sync
// that make rebuilds from, and a sync whose connection drops midway completed by a retry.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Exec } from '../../src/engine/exec.js';
import { SshError } from '../../src/ssh/errors.js';
import { KnownHosts } from '../../src/ssh/hostKeys.js';
import { SshPool, type SshTarget } from '../../src/ssh/pool.js';
import { shq } from '../../src/ssh/quote.js';
import { clusterDown, clusterUp, restartNodeSshd, type LocalCluster, type LocalNode } from '../../src/testcluster/localCluster.js';
import { releaseWorkspace, returnOutputs, syncWorkspace, type NodeWorkspaceConfig, type SyncRequest } from '../../src/workspace/index.js';
import { gitListed, initRepo, write } from '../helpers/workspace.js';

const dir = mkdtempSync(join(tmpdir(), 'cf-wscluster-'));
const originBase = mkdtempSync(join(tmpdir(), 'cf-wsorigin-'));
const stateDir = mkdtempSync(join(tmpdir(), 'cf-wsstate-'));
const isRoot = process.getuid?.() === 0;
let cluster: LocalCluster;
let n1: LocalNode;
let pool: SshPool;
let exec: Exec;
const node: NodeWorkspaceConfig = { id: 'ws1' };

async function run(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const r = await exec(command, { onStdout: (b) => out.push(b), onStderr: (b) => err.push(b) });
  return { code: r.code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

before(async () => {
  // World-readable, so only the hiding (not permissions) keeps the node out.
  chmodSync(originBase, 0o755);
  cluster = await clusterUp({ dir, nodes: 1, namePrefix: 'ws', hide: [originBase] });
  n1 = cluster.nodes[0]!;
  const knownHosts = new KnownHosts({ files: [cluster.knownHostsPath], writeFile: join(dir, 'kh-test'), policy: 'strict' });
  pool = new SshPool({ knownHosts });
  const target: SshTarget = { nodeId: n1.id, host: n1.host, port: n1.port, user: n1.user, identityFile: n1.identityFile, connectTimeoutMs: 5000 };
  exec = (script, h) => pool.exec(target, script, h);
});
after(async () => {
  await pool?.close();
  await clusterDown({ dir, removeUsers: true });
  for (const d of [dir, originBase, stateDir]) rmSync(d, { recursive: true, force: true });
});

const req = (cwd: string, over: Partial<SyncRequest> = {}): SyncRequest => ({
  originHost: hostname(),
  cwd,
  taskId: 'cmd-e2e-1',
  lockTtlS: 300,
  stateDir,
  node,
  ...over,
});

describe('workspace sync over real SSH', () => {
  test('the node cannot see the origin directory', async (t) => {
    write(originBase, 'visible-to-origin-only.txt', 'secret');
    chmodSync(join(originBase, 'visible-to-origin-only.txt'), 0o644);
    if (!isRoot) return t.skip('not root: loopback nodes share the filesystem (hiding needs a mount namespace)');
    const r = await run(`ls -A ${shq(originBase)}; id -un`);
    assert.deepEqual([r.code, r.stdout], [0, `${n1.user}\n`]);
    // A restarted node keeps its hiding.
    await restartNodeSshd(dir, n1.id);
    pool.closeNode(n1.id);
    assert.equal((await run(`ls -A ${shq(originBase)}`)).stdout, '');
  });

  test('sync a repo, make in the node tree, bring the output back; an edit rebuilds incrementally', async () => {
    const repo = join(originBase, 'project');
    initRepo(repo);
    write(repo, 'Makefile', 'out.txt: in.txt\n\tcat in.txt in.txt > out.txt\n');
    write(repo, 'in.txt', 'hello\n');
    write(repo, 'src/notes.md', 'not needed by make\n');
    write(repo, '.gitignore', 'out.txt\n');
    const ws = await syncWorkspace(exec, req(repo));
    assert.equal(ws.files, gitListed(repo).length);
    if (isRoot) assert.match(ws.node_path, new RegExp(`^/home/${n1.user}/\\.cache/clusterflow/workspaces/project-[0-9a-f]{16}$`));
    const owner = await run(`stat -c %U ${shq(`${ws.tree}/in.txt`)}`);
    assert.equal(owner.stdout.trim(), n1.user, 'written by the node user, in its own home');

    const make = await run(`cd ${shq(ws.node_path)} && make`);
    assert.equal(make.code, 0, make.stderr);
    const back = await returnOutputs(exec, { tree: ws.tree, nodeCwd: ws.node_path, globs: ['out.txt'], originCwd: repo, node });
    assert.deepEqual(back, [{ path: 'out.txt', size: 12 }]);
    assert.equal(readFileSync(join(repo, 'out.txt'), 'utf8'), 'hello\nhello\n');
    assert.equal(await releaseWorkspace(exec, { tree: ws.tree, taskId: 'cmd-e2e-1', node }), 'released');

    // Unchanged: nothing travels, make has nothing to do.
    const same = await syncWorkspace(exec, req(repo, { taskId: 'cmd-e2e-2' }));
    assert.deepEqual([same.tree, same.bytes_sent], [ws.tree, 0]);
    assert.match((await run(`cd ${shq(same.node_path)} && make`)).stdout, /up to date/);
    // One edit: only it travels, make rebuilds from its fresh mtime.
    write(repo, 'in.txt', 'bye\n');
    const edited = await syncWorkspace(exec, req(repo, { taskId: 'cmd-e2e-2' }));
    assert.equal(edited.bytes_sent, 4);
    assert.equal((await run(`cd ${shq(edited.node_path)} && make`)).code, 0);
    await returnOutputs(exec, { tree: edited.tree, nodeCwd: edited.node_path, globs: ['*.txt'], originCwd: repo, node });
    assert.equal(readFileSync(join(repo, 'out.txt'), 'utf8'), 'bye\nbye\n');
    await releaseWorkspace(exec, { tree: edited.tree, taskId: 'cmd-e2e-2', node });
  });

  test('a connection dropped midway: the retry (same task) completes the tree', async () => {
    const repo = join(originBase, 'big');
    initRepo(repo);
    for (let i = 0; i < 40; i++) write(repo, `data/part${i}.bin`, randomBytes(500_000));
    let dropped = false;
    const err = await syncWorkspace(
      exec,
      req(repo, {
        taskId: 'cmd-e2e-3',
        onProgress: (p) => {
          if (p.phase === 'send' && p.bytesSent > 2_000_000 && !dropped) {
            dropped = true;
            pool.closeNode(n1.id);
          }
        },
      }),
    ).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(dropped);
    assert.ok(err instanceof SshError && err.retryable, `expected a retryable SshError, got ${String(err)}`);
    const ws = await syncWorkspace(exec, req(repo, { taskId: 'cmd-e2e-3' }));
    const sums = await run(`cd ${shq(ws.tree)} && find . -type f | sort | xargs sha256sum`);
    const expected = gitListed(repo)
      .sort()
      .map(
        (p) =>
          `${createHash('sha256')
            .update(readFileSync(join(repo, p)))
            .digest('hex')}  ./${p}`,
      );
    assert.deepEqual(sums.stdout.trim().split('\n').sort(), expected.sort());
  });
});
