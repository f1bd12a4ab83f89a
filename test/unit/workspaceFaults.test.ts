// Workspace sync under faults, with the local agent: a sync aborted or killed anywhere is
// completed by the next one (consistent tree, no leftovers), and a full disk (a tiny tmpfs,
// root only) fails with 'disk-full' while the previous tree stays as it was.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isAbortError } from '../../src/ssh/errors.js';
import { syncWorkspace, WorkspaceError, type NodeWorkspaceConfig, type SyncRequest } from '../../src/workspace/index.js';
import { countingExec, gitListed, initRepo, sleep, snapshot, write } from '../helpers/workspace.js';

const base = mkdtempSync(join(tmpdir(), 'cf-ws-faults-'));
const mounts: string[] = [];
after(() => {
  for (const m of mounts) execFileSync('umount', [m]);
  rmSync(base, { recursive: true, force: true });
});
const isRoot = process.getuid?.() === 0;
let seq = 0;

function world(nodeDir?: string) {
  const dir = join(base, `w${seq++}`);
  const origin = join(dir, 'origin');
  const nd = nodeDir ?? join(dir, 'node');
  const node: NodeWorkspaceConfig = { id: 'n1', root: join(nd, 'ws'), blobs: join(nd, 'blobs') };
  const req: SyncRequest = { originHost: 'o', cwd: origin, taskId: 't', lockTtlS: 600, stateDir: join(dir, 'state'), node };
  initRepo(origin);
  return { dir, origin, node, req, exec: countingExec() };
}

/** pids of perl agents whose command line mentions `marker` (our node dir): never anyone else's. */
function agentPids(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0] === 'perl' && argv.includes(marker)) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function noLeftovers(node: NodeWorkspaceConfig): void {
  const left = readdirSync(node.root!).filter((n) => /\.(stage|pending)$|\.tmp\./.test(n));
  assert.deepEqual(left, []);
  assert.deepEqual(readdirSync(join(node.blobs!, 'tmp')), []);
}

describe('workspace sync under faults', () => {
  test('aborted midway (AbortSignal): stops promptly; the next sync completes the tree', async () => {
    const w = world();
    for (let i = 0; i < 150; i++) write(w.origin, `data/f${i}.bin`, randomBytes(200_000));
    const ac = new AbortController();
    let abortedAt = 0;
    const err = await syncWorkspace(w.exec, {
      ...w.req,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === 'send' && p.bytesSent > 4_000_000 && !abortedAt) {
          abortedAt = performance.now();
          ac.abort();
        }
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(abortedAt > 0, 'the transfer was under way');
    assert.ok(isAbortError(err), `expected an AbortError, got ${String(err)}`);
    const stopMs = performance.now() - abortedAt;
    console.log(`# abort → rejection in ${stopMs.toFixed(1)} ms`);
    assert.ok(stopMs < 1000, `${stopMs} ms`);
    const s = await syncWorkspace(w.exec, w.req);
    assert.deepEqual(snapshot(s.tree), snapshot(w.origin, gitListed(w.origin)));
    assert.ok(s.bytes_sent < 150 * 200_000, 'blobs stored before the abort are not sent again');
    noLeftovers(w.node);
  });

  test('the node agent killed at any point (transfer, staging, applying): the next sync leaves a consistent tree', async () => {
    const w = world();
    for (let i = 0; i < 1500; i++) write(w.origin, `src/d${i % 30}/f${i}.c`, `v0 ${i}\n${'x'.repeat(2000)}`);
    const first = await syncWorkspace(w.exec, w.req);
    for (let round = 1; round <= 6; round++) {
      for (let i = 0; i < 1500; i += round) write(w.origin, `src/d${i % 30}/f${i}.c`, `v${round} ${i}\n${'y'.repeat(2000)}`);
      write(w.origin, `added/r${round}.txt`, `round ${round}`);
      rmSync(join(w.origin, `added/r${round - 1}.txt`), { force: true });
      // Kill when the agent starts, when it starts staging, or when it starts applying (plus a little).
      const [when, delay] = (
        [
          ['start', 0],
          ['start', 20],
          ['stage', 0],
          ['stage', 3],
          ['pending', 0],
          ['pending', 2],
        ] as const
      )[round - 1]!;
      const sync = syncWorkspace(w.exec, w.req).then(
        () => null,
        (e: unknown) => e,
      );
      const killer = (async () => {
        const until = performance.now() + 10_000;
        let pids: number[] = [];
        const seen = () => when === 'start' || readdirSync(w.node.root!).some((n) => n.endsWith(`.${when}`));
        while ((pids.length === 0 || !seen()) && performance.now() < until) {
          if (pids.length === 0) pids = agentPids(w.node.root!);
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (delay > 0) await sleep(delay);
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* finished already */
          }
        }
      })();
      const [err] = await Promise.all([sync, killer]);
      if (err) assert.ok(err instanceof WorkspaceError && err.kind === 'transport' && err.retryable, String(err));
      const traces = readdirSync(w.node.root!)
        .filter((n) => /\.(stage|pending)$/.test(n))
        .map((n) => n.replace(/^.*\./, '.'));
      console.log(`# killed ${delay} ms after ${when}: ${err ? `interrupted, left ${traces.join(' ') || 'no stage/pending'}` : 'had finished'}`);
      const again = await syncWorkspace(w.exec, w.req);
      assert.equal(again.tree, first.tree);
      const expected = snapshot(w.origin, gitListed(w.origin));
      assert.deepEqual(snapshot(again.tree), expected, `round ${round} (killed after ${delay} ms: ${err ? 'interrupted' : 'had finished'})`);
      noLeftovers(w.node);
    }
  });

  test(
    'disk full while storing blobs: a clear disk-full error, the previous tree untouched and still usable',
    { skip: !isRoot && 'needs root to mount a tmpfs' },
    async () => {
      const mnt = join(base, 'tiny');
      mkdirSync(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'cf-ws-tiny', mnt]);
      mounts.push(mnt);
      const w = world(mnt);
      for (let i = 0; i < 10; i++) write(w.origin, `src/f${i}.c`, `int f${i};\n`);
      const s1 = await syncWorkspace(w.exec, w.req);
      const before = snapshot(s1.tree);
      write(w.origin, 'big.bin', randomBytes(1_500_000));
      write(w.origin, 'src/f0.c', 'changed\n');
      const err = await syncWorkspace(w.exec, w.req).then(
        () => assert.fail('expected disk-full'),
        (e: unknown) => e as WorkspaceError,
      );
      assert.ok(err instanceof WorkspaceError && err.kind === 'disk-full', String(err));
      assert.equal(err.retryable, false);
      console.log(`# ${err.message}`);
      assert.match(err.message, /^node n1: no space left on device under .*\(needs ~3\.0 MB\)/);
      assert.deepEqual(snapshot(s1.tree), before, 'the previous tree is as it was');
      rmSync(join(w.origin, 'big.bin'));
      const s2 = await syncWorkspace(w.exec, w.req);
      assert.deepEqual(snapshot(s2.tree), snapshot(w.origin, Object.keys(before)));
      noLeftovers(w.node);
    },
  );

  test(
    'out of inodes mid-transfer (ENOSPC on create): disk-full, the previous tree untouched',
    { skip: !isRoot && 'needs root to mount a tmpfs' },
    async () => {
      const mnt = join(base, 'few-inodes');
      mkdirSync(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'cf-ws-inodes', mnt]);
      mounts.push(mnt);
      const w = world(mnt);
      for (let i = 0; i < 5; i++) write(w.origin, `f${i}.txt`, `file ${i}\n`);
      const s1 = await syncWorkspace(w.exec, w.req);
      const before = snapshot(s1.tree);
      const used = Number(execFileSync('df', ['--output=iused', mnt], { encoding: 'utf8' }).trim().split('\n')[1]);
      execFileSync('mount', ['-o', `remount,nr_inodes=${used + 12}`, mnt]);
      for (let i = 0; i < 40; i++) write(w.origin, `more/g${i}.txt`, `more ${i}\n`);
      writeFileSync(join(w.origin, 'f1.txt'), 'changed\n');
      const err = await syncWorkspace(w.exec, w.req).then(
        () => assert.fail('expected disk-full'),
        (e: unknown) => e as WorkspaceError,
      );
      assert.ok(err instanceof WorkspaceError && err.kind === 'disk-full', String(err));
      console.log(`# ${err.message}`);
      assert.match(err.message, /no space left on device under /);
      assert.deepEqual(snapshot(s1.tree), before);
      assert.equal(existsSync(join(s1.tree, 'more')), false);
      execFileSync('mount', ['-o', 'remount,nr_inodes=10000', mnt]);
      const s2 = await syncWorkspace(w.exec, w.req);
      assert.deepEqual(snapshot(s2.tree), snapshot(w.origin, gitListed(w.origin)));
    },
  );

  test(
    'out of inodes while staging (every blob already stored): disk-full, the previous tree untouched',
    { skip: !isRoot && 'needs root to mount a tmpfs' },
    async () => {
      const mnt = join(base, 'stage-inodes');
      mkdirSync(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'cf-ws-stage', mnt]);
      mounts.push(mnt);
      const w = world(mnt);
      for (let i = 0; i < 40; i++) write(w.origin, `old/f${i}.txt`, `content ${i}\n`);
      const s1 = await syncWorkspace(w.exec, w.req);
      const before = snapshot(s1.tree);
      const used = Number(execFileSync('df', ['--output=iused', mnt], { encoding: 'utf8' }).trim().split('\n')[1]);
      execFileSync('mount', ['-o', `remount,nr_inodes=${used + 8}`, mnt]);
      // Moved files: the same contents (no blob to receive), 40 new paths to stage.
      execFileSync('mv', [join(w.origin, 'old'), join(w.origin, 'new')]);
      const err = await syncWorkspace(w.exec, w.req).then(
        () => assert.fail('expected disk-full'),
        (e: unknown) => e as WorkspaceError,
      );
      assert.ok(err instanceof WorkspaceError && err.kind === 'disk-full', String(err));
      console.log(`# ${err.message}`);
      assert.deepEqual(snapshot(s1.tree), before);
      execFileSync('mount', ['-o', 'remount,nr_inodes=10000', mnt]);
      const s2 = await syncWorkspace(w.exec, w.req);
      assert.equal(s2.bytes_sent, 0);
      assert.deepEqual(snapshot(s2.tree), snapshot(w.origin, gitListed(w.origin)));
      noLeftovers(w.node);
    },
  );
});
