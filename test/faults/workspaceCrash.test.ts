// Faults during a workspace sync (issue G): the worker holding the agent's files is SIGKILLed
// while a ~100 MB tree is on its way to a node that cannot see it; a replacement worker's retry
// of syncWorkspace completes the tree and the command runs once, in a tree identical to the
// origin's. Then task_cancel during another large sync: the task ends cancelled promptly, the
// command never runs, and no node agent is left running.
// The trees are random bytes made for this run: blobs a node kept from an earlier run cannot
// shortcut the transfer.
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRoot } from '../../src/testcluster/nodeUsers.js';
import { structured } from '../helpers/harness.js';
import {
  faultSummary,
  resultOf,
  settleStrays,
  spawnWorker,
  startFaultHarness,
  startTask,
  temporalClient,
  userProcesses,
  waitFor,
  type FaultHarness,
  type SpawnedWorker,
} from '../helpers/faults.js';

const FILES = 2000;
const FILE_BYTES = 50 * 1024;
/** Digest of every file under the current directory (paths and contents), the same at both ends. */
const TREE_DIGEST = "find . -type f ! -name '.clusterflow*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64";

function makeTree(root: string, name: string): string {
  const dir = path.join(root, name);
  for (let i = 0; i < FILES; i++) {
    const sub = path.join(dir, `d${i % 20}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, `f${i}.bin`), randomBytes(FILE_BYTES));
  }
  return dir;
}

/** Regular files under a directory, recursively (0 when it does not exist yet). */
function countFiles(dir: string): number {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  } catch {
    return 0;
  }
}

describe('faults: a workspace sync interrupted', () => {
  let h: FaultHarness;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: SpawnedWorker | undefined;
  let origin = '';
  let nodeUser = '';
  let nodeHome = '';
  const tag = randomBytes(4).toString('hex');
  const counts = { tasks: 0, lost: 0, duplicated: 0, stray: 0 };

  before(async () => {
    origin = mkdtempSync('/tmp/cf-origin-');
    chmodSync(origin, 0o755);
    // One worker process serves everything (hub, n1, and the origin queue, since it shares serve's state dir).
    h = await startFaultHarness({ nodes: 1, worker: false, hide: [origin] });
    temporal = await temporalClient(h);
    nodeUser = h.cluster.nodes[0]!.user;
    nodeHome = userInfo().username === nodeUser ? userInfo().homedir : `/home/${nodeUser}`;
    worker = spawnWorker(h);
  });
  after(async () => {
    await worker?.kill9();
    await temporal?.close();
    rmSync(path.join(nodeHome, `ws-ran-${tag}`), { force: true });
    await h?.close();
    rmSync(origin, { recursive: true, force: true });
  });

  const blobs = () => countFiles(path.join(nodeHome, '.cache', 'clusterflow', 'blobs'));
  const ranCount = () => {
    try {
      return readFileSync(path.join(nodeHome, `ws-ran-${tag}`), 'utf8')
        .split('\n')
        .filter(Boolean).length;
    } catch {
      return 0;
    }
  };

  it('the worker SIGKILLed mid-transfer: the retried sync completes the tree, the command runs once in a tree equal to the origin', async (t) => {
    if (!isRoot()) return t.skip('not root: the node sees the origin directory, so nothing would have to be synced');
    const tree = makeTree(origin, 'killed');
    const before = blobs();
    const taskId = await startTask(h, 'offload_to', {
      node_id: 'n1',
      cwd: tree,
      command: `echo ran >> ~/ws-ran-${tag}; ${TREE_DIGEST}`,
      timeout_s: 300,
    });
    counts.tasks++;
    await waitFor('the sync to be sending blobs to n1', () => blobs() >= before + 50, 60_000, 20);
    const sentBeforeKill = blobs() - before;
    await worker!.kill9();
    assert.ok(sentBeforeKill < FILES, `the sync had finished (${sentBeforeKill} blobs) before the kill: nothing was interrupted`);
    assert.equal(ranCount(), 0, 'the command ran before its tree was complete');
    worker = spawnWorker(h);
    const r = await resultOf(temporal.client, taskId);
    const originDigest = execSync(TREE_DIGEST, { cwd: tree, encoding: 'utf8', shell: '/bin/bash' }).trim();
    assert.equal(r.success, true, JSON.stringify(r));
    assert.equal(r.stdout.trim(), originDigest, 'the tree on n1 differs from the origin');
    const ran = ranCount();
    if (ran === 0) counts.lost++;
    if (ran > 1) counts.duplicated++;
    assert.equal(ran, 1, `the command ran ${ran} times`);
    t.diagnostic(`killed after ${sentBeforeKill} of ${FILES} blobs; workspace ${JSON.stringify((r as { workspace?: unknown }).workspace)}`);
  });

  it('task_cancel during a large sync: cancelled within seconds, the command never runs, no agent is left on the node', async (t) => {
    if (!isRoot()) return t.skip('not root: the node sees the origin directory, so nothing would have to be synced');
    const tree = makeTree(origin, 'cancelled');
    const before = blobs();
    const ranBefore = ranCount();
    const taskId = await startTask(h, 'offload_to', { node_id: 'n1', cwd: tree, command: `echo ran >> ~/ws-ran-${tag}`, timeout_s: 300 });
    counts.tasks++;
    await waitFor('the sync to be sending blobs to n1', () => blobs() >= before + 50, 60_000, 20);
    const cancelledAt = Date.now();
    const c = await h.mcp.callTool({ name: 'task_cancel', arguments: { task_id: taskId } });
    assert.ok(!c.isError, JSON.stringify(c));
    const r = await resultOf(temporal.client, taskId);
    const tookMs = Date.now() - cancelledAt;
    assert.equal(r.state, 'cancelled', JSON.stringify(r));
    assert.ok(tookMs < 15_000, `cancel took ${tookMs} ms`);
    const status = structured<{ state: string }>(await h.mcp.callTool({ name: 'task_status', arguments: { task_id: taskId } }));
    assert.equal(status.state, 'cancelled');
    const left = await settleStrays(async () => (await userProcesses(nodeUser)).filter((p) => p.comm === 'perl'));
    counts.stray += left.length;
    assert.deepEqual(left, [], 'a node agent outlived the cancelled sync');
    assert.equal(ranCount(), ranBefore, 'the cancelled command ran');
    t.diagnostic(`cancelled ${tookMs} ms after task_cancel, ${blobs() - before} of ${FILES} blobs sent`);
    faultSummary('workspace', counts);
  });
});
