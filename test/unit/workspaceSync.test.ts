// Workspace sync through the real node agent (perl), run locally: the "node" is a pair of
// temp dirs (workspace root, blob store), the origin a temp git repo or plain dir. Each test
// compares the node's tree with what the origin holds, so skipping the sync fails it.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  listWorkspaces,
  pruneWorkspaces,
  releaseWorkspace,
  syncWorkspace,
  WorkspaceError,
  type NodeWorkspaceConfig,
  type SyncRequest,
} from '../../src/workspace/index.js';
import { localExec } from '../../src/ssh/localExec.js';
import type { ExecHandlers } from '../../src/ssh/pool.js';
import { countingExec, git, gitListed, initRepo, sleep, snapshot, write } from '../helpers/workspace.js';

const base = mkdtempSync(join(tmpdir(), 'cf-ws-unit-'));
after(() => rmSync(base, { recursive: true, force: true }));
let seq = 0;

function world(name: string) {
  const dir = join(base, `${name}-${seq++}`);
  const origin = join(dir, 'origin');
  const node: NodeWorkspaceConfig = { id: 'n1', root: join(dir, 'node', 'workspaces'), blobs: join(dir, 'node', 'blobs') };
  const exec = countingExec();
  const req = (over: Partial<SyncRequest> = {}): SyncRequest => ({
    originHost: 'origin-host',
    cwd: origin,
    taskId: 'task-1',
    lockTtlS: 600,
    stateDir: join(dir, 'state'),
    node,
    ...over,
  });
  return { dir, origin, node, exec, req };
}

async function rejected(p: Promise<unknown>): Promise<WorkspaceError> {
  const err = await p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkspaceError, `expected WorkspaceError, got ${String(err)}`);
  return err;
}

describe('workspace sync (local agent)', () => {
  test('a git tree: exactly what git lists, with modes, symlinks and odd names; re-sync applies only the changes', async () => {
    const w = world('git');
    initRepo(w.origin);
    write(w.origin, '.gitignore', '*.log\nbuild/\n');
    write(w.origin, 'a.txt', 'alpha\n');
    write(w.origin, 'src/main.c', 'int main(void) { return 0; }\n');
    write(w.origin, 'run.sh', '#!/bin/sh\necho run\n', 0o755);
    write(w.origin, 'dir with space/ünïcödé file.txt', 'odd name\n');
    write(w.origin, 'weird\nname%20.txt', 'newline in the name\n');
    write(w.origin, 'old-name.txt', 'to be renamed\n');
    write(w.origin, 'deleted.txt', 'tracked, then deleted from disk\n');
    symlinkSync('a.txt', join(w.origin, 'link'));
    symlinkSync('/etc/passwd', join(w.origin, 'outside'));
    git(w.origin, 'add', '-A');
    git(w.origin, 'commit', '-qm', 'init');
    git(w.origin, 'mv', 'old-name.txt', 'renamed.txt');
    unlinkSync(join(w.origin, 'deleted.txt'));
    write(w.origin, 'debug.log', 'ignored\n');
    write(w.origin, 'build/out.o', 'ignored dir\n');
    write(w.origin, 'notes.txt', 'untracked, not ignored\n');
    mkdirSync(join(w.origin, 'empty'));

    const listed = gitListed(w.origin);
    assert.ok(listed.includes('renamed.txt') && !listed.includes('deleted.txt') && listed.includes('notes.txt'));
    const s1 = await syncWorkspace(w.exec, w.req());
    assert.equal(s1.mode, 'sync');
    assert.equal(s1.files, listed.length);
    assert.equal(s1.node_path, s1.tree);
    assert.deepEqual(snapshot(s1.tree), snapshot(w.origin, listed), 'node tree = git ls-files, nothing more');
    assert.equal(lstatSync(join(s1.tree, 'outside')).isSymbolicLink(), true, 'a symlink out of the tree stays a symlink');
    assert.equal(statSync(join(s1.tree, 'run.sh')).mode & 0o111, 0o111);
    assert.ok(s1.bytes_sent > 0);

    // Changes at the origin, and a build product on the node.
    const mainC = lstatSync(join(s1.tree, 'src/main.c'));
    write(s1.tree, 'src/main.o', 'object code');
    write(s1.tree, 'product/report.txt', 'built');
    await sleep(20); // the time is the point: a file the sync rewrote would now get a different mtime
    write(w.origin, 'a.txt', 'alpha v2\n');
    unlinkSync(join(w.origin, 'notes.txt'));
    write(w.origin, 'added.txt', 'new file\n');
    const s2 = await syncWorkspace(w.exec, w.req());
    const listed2 = gitListed(w.origin);
    assert.deepEqual(snapshot(s2.tree, [...listed2, 'notes.txt']), snapshot(w.origin, listed2));
    assert.equal(s2.bytes_sent, 'alpha v2\n'.length + 'new file\n'.length, 'only the changed and added contents travel');
    const mainC2 = lstatSync(join(s2.tree, 'src/main.c'));
    assert.deepEqual([mainC2.ino, mainC2.mtimeMs], [mainC.ino, mainC.mtimeMs], 'unchanged files keep inode and mtime');
    assert.equal(readFileSync(join(s2.tree, 'src/main.o'), 'utf8'), 'object code', 'build products stay');
    assert.equal(readFileSync(join(s2.tree, 'product/report.txt'), 'utf8'), 'built');

    // No change: nothing travels.
    const s3 = await syncWorkspace(w.exec, w.req());
    assert.equal(s3.bytes_sent, 0);
    assert.equal(s3.blobs_reused, new Set(Object.values(snapshot(w.origin, listed2)).filter((d) => d.startsWith('f'))).size);

    // A revert to old content (an old blob) still gets a fresh mtime: make must rebuild.
    const before = lstatSync(join(s3.tree, 'a.txt')).mtimeMs;
    await sleep(20); // the time is the point: a fresh mtime must be later than this one
    write(w.origin, 'a.txt', 'alpha\n');
    const s4 = await syncWorkspace(w.exec, w.req());
    assert.equal(s4.bytes_sent, 0, 'the old content is still in the blob store');
    assert.equal(readFileSync(join(s4.tree, 'a.txt'), 'utf8'), 'alpha\n');
    assert.ok(lstatSync(join(s4.tree, 'a.txt')).mtimeMs > before, 'fresh mtime');

    // From a subdirectory: the same tree, the command runs in the matching directory.
    const s5 = await syncWorkspace(w.exec, w.req({ cwd: join(w.origin, 'src') }));
    assert.deepEqual([s5.tree, s5.node_path, s5.bytes_sent], [s1.tree, join(s1.tree, 'src'), 0]);
  });

  test('files changed on the node since the last sync are restored, with no new data', async () => {
    const w = world('restore');
    mkdirSync(w.origin, { recursive: true });
    write(w.origin, 'keep.txt', 'keep\n');
    write(w.origin, 'append.txt', 'original\n');
    write(w.origin, 'gone.txt', 'deleted on the node\n');
    write(w.origin, 'swapped.txt', 'replaced by a symlink on the node\n');
    const s1 = await syncWorkspace(w.exec, w.req());
    const expected = snapshot(s1.tree);
    writeFileSync(join(s1.tree, 'append.txt'), 'original\nappended by the build\n');
    unlinkSync(join(s1.tree, 'gone.txt'));
    unlinkSync(join(s1.tree, 'swapped.txt'));
    symlinkSync('/etc/hostname', join(s1.tree, 'swapped.txt'));
    const s2 = await syncWorkspace(w.exec, w.req());
    assert.deepEqual(snapshot(s2.tree), expected);
    assert.equal(s2.bytes_sent, 0);
  });

  test('a change sends only the differing manifest lines; an origin without the base manifest sends it whole', async () => {
    const w = world('delta');
    initRepo(w.origin);
    for (let i = 0; i < 400; i++) write(w.origin, `src/m${i % 20}/file-${i}.c`, `int v${i};\n`);
    const stdinBytes = (exec: typeof w.exec) => {
      let n = 0;
      const counting: typeof w.exec = Object.assign(
        (script: string, h?: ExecHandlers) =>
          exec(
            script,
            h?.feed
              ? {
                  ...h,
                  feed: (sink) => h.feed!({ write: (d) => ((n += Buffer.byteLength(d)), sink.write(d)) }),
                }
              : h,
          ),
        { calls: 0 },
      );
      return { counting, bytes: () => n };
    };
    const first = stdinBytes(w.exec);
    await syncWorkspace(first.counting, w.req());
    const manifestBytes = first.bytes();
    write(w.origin, 'src/m3/file-3.c', 'int changed;\n');
    unlinkSync(join(w.origin, 'src/m4/file-4.c'));
    write(w.origin, 'src/new.c', 'int added;\n');
    const delta = stdinBytes(w.exec);
    const s2 = await syncWorkspace(delta.counting, w.req());
    assert.ok(delta.bytes() < 1000, `delta sync sent ${delta.bytes()} bytes on stdin (whole manifest: ~${manifestBytes})`);
    assert.deepEqual(snapshot(s2.tree), snapshot(w.origin, gitListed(w.origin)));
    // Another origin state dir knows no manifest: the node gets the whole one and ends the same.
    write(w.origin, 'src/m5/file-5.c', 'int changed again;\n');
    const whole = stdinBytes(w.exec);
    const s3 = await syncWorkspace(whole.counting, w.req({ stateDir: join(w.dir, 'state-2') }));
    assert.ok(whole.bytes() > manifestBytes / 2, `${whole.bytes()} bytes`);
    assert.deepEqual(snapshot(s3.tree), snapshot(w.origin, gitListed(w.origin)));
    assert.ok(readdirSync(join(w.dir, 'state', 'workspace-hashes')).filter((n) => n.includes('.m.')).length <= 4, 'only a few manifests kept');
  });

  test('outside git: the cwd tree minus .clusterflowignore rules (nested files too), never .git', async () => {
    const w = world('plain');
    write(w.origin, '.clusterflowignore', '# comment\n*.tmp\n!keep.tmp\ncache/\n/top-only.txt\n');
    write(w.origin, 'main.py', 'print(1)\n');
    write(w.origin, 'scratch.tmp', 'x');
    write(w.origin, 'keep.tmp', 'kept by negation');
    write(w.origin, 'cache/blob.bin', 'cache');
    write(w.origin, 'top-only.txt', 'anchored: ignored at the top only');
    write(w.origin, 'sub/top-only.txt', 'but not here');
    write(w.origin, 'sub/.clusterflowignore', 'local.txt\n');
    write(w.origin, 'sub/local.txt', 'ignored by the nested file');
    write(w.origin, 'sub/deeper/x.tmp', 'ignored at depth');
    write(w.origin, '.git/config', 'not a repo really, never copied');
    const s = await syncWorkspace(w.exec, w.req());
    const expected = ['.clusterflowignore', 'keep.tmp', 'main.py', 'sub/.clusterflowignore', 'sub/top-only.txt'];
    assert.deepEqual(Object.keys(snapshot(s.tree)).sort(), expected);
    assert.deepEqual(snapshot(s.tree), snapshot(w.origin, expected));
  });

  test('limits: too many files or bytes is refused before any blob is sent or tree made, naming the biggest directories', async () => {
    const w = world('limits');
    for (let i = 0; i < 12; i++) write(w.origin, `data/raw/f${i}.bin`, Buffer.alloc(10_000));
    for (let i = 0; i < 3; i++) write(w.origin, `src/f${i}.c`, 'x');
    write(w.origin, 'docs/readme', Buffer.alloc(2000));
    const files = await rejected(syncWorkspace(w.exec, w.req({ limits: { maxFiles: 10 } })));
    assert.equal(files.kind, 'limits');
    assert.match(files.message, /16 files \(limit 10\).*data\/ 0\.1 MB in 12 files, docs\/.*src\//);
    const bytes = await rejected(syncWorkspace(w.exec, w.req({ limits: { maxBytes: 50_000 } })));
    assert.equal(bytes.kind, 'limits');
    assert.match(bytes.message, /limit 0\.1 MB|limit 0\.05 MB|limit 0\.0 MB|\(limit/);
    assert.match(bytes.message, /Biggest directories: data\//);
    assert.equal(files.retryable, false);
    assert.deepEqual(
      readdirSync(w.node.root!).filter((n) => !n.startsWith('.')),
      [],
      'no tree, no lease on the node',
    );
    assert.equal(existsSync(join(w.node.blobs!, '00')) || readdirSync(w.node.blobs!).some((n) => /^[0-9a-f]{2}$/.test(n)), false, 'no blob');
  });

  test('a cwd missing at the origin is bad input, before anything is sent', async () => {
    const w = world('missing');
    const err = await rejected(syncWorkspace(w.exec, w.req({ cwd: join(w.dir, 'nope') })));
    assert.equal(err.kind, 'bad-input');
    assert.match(err.message, /does not exist on the origin/);
    assert.equal((await rejected(syncWorkspace(w.exec, w.req({ cwd: 'relative/path' })))).kind, 'bad-input');
    assert.equal(w.exec.calls, 0);
  });

  test('a node without perl, or without its core modules, gets a clear no-perl error', async () => {
    const w = world('noperl');
    write(w.origin, 'f.txt', 'x');
    const noPerl = (script: string, h?: ExecHandlers) => localExec(`PATH=/nonexistent; ${script}`, h);
    const e1 = await rejected(syncWorkspace(noPerl, w.req()));
    assert.deepEqual([e1.kind, e1.retryable], ['no-perl', false]);
    assert.match(e1.message, /^node n1: perl is not installed/);
    // A perl without Digest::SHA (only perl-base installed) fails to compile the agent.
    const fake = join(w.dir, 'fakebin');
    write(fake, 'perl', '#!/bin/sh\necho "Can\'t locate Digest/SHA.pm in @INC (you may need to install the Digest::SHA module)" >&2\nexit 2\n', 0o755);
    const e2 = await rejected(syncWorkspace((script, h) => localExec(`PATH=${fake}:$PATH; ${script}`, h), w.req()));
    assert.equal(e2.kind, 'no-perl');
    assert.match(e2.message, /lacks the core module Digest::SHA/);
  });

  test('one command per tree: a second task gets its own tree; release (or an expired lease) gives the main tree back', async () => {
    const w = world('locks');
    write(w.origin, 'f.txt', 'content\n');
    const first = await syncWorkspace(w.exec, w.req({ taskId: 'task-A' }));
    const again = await syncWorkspace(w.exec, w.req({ taskId: 'task-A' }));
    assert.equal(again.tree, first.tree, 'a retry of the same task takes the same tree');
    const second = await syncWorkspace(w.exec, w.req({ taskId: 'task-B' }));
    assert.equal(second.tree, `${first.tree}.2`);
    assert.deepEqual(snapshot(second.tree), snapshot(w.origin));
    assert.equal(second.bytes_sent, 0, 'materialized from the blob store');
    const listed = await listWorkspaces(w.exec, w.node);
    assert.deepEqual(listed.trees.map((t) => [t.name.replace(/^.*-[0-9a-f]{16}/, 'K'), t.locked, t.lock_task, t.origin_path, t.origin_host]).sort(), [
      ['K', true, 'task-A', w.origin, 'origin-host'],
      ['K.2', true, 'task-B', w.origin, 'origin-host'],
    ]);
    assert.equal(await releaseWorkspace(w.exec, { tree: first.tree, taskId: 'task-B' }), 'other', 'only the holder releases');
    assert.equal(await releaseWorkspace(w.exec, { tree: first.tree, taskId: 'task-A' }), 'released');
    assert.equal((await syncWorkspace(w.exec, w.req({ taskId: 'task-C', lockTtlS: 1 }))).tree, first.tree);
    await sleep(2100); // the time is the point: past the 1 s lease (lease times are whole seconds)
    assert.equal((await syncWorkspace(w.exec, w.req({ taskId: 'task-D' }))).tree, first.tree, 'an expired lease is reclaimed');
  });

  test('housekeeping: prune by name skips locked trees, LRU cap drops the oldest, unreferenced blobs go', async () => {
    const w = world('prune');
    const name = (tree: string) => tree.split('/').pop()!;
    write(w.origin, 'a/f.txt', 'A'.repeat(1000));
    write(w.origin, 'b/f.txt', 'B'.repeat(1000));
    write(w.origin, 'o/g.txt', 'G'.repeat(5000));
    // Outside git each cwd is its own tree.
    const a = await syncWorkspace(w.exec, w.req({ cwd: join(w.origin, 'a'), taskId: 't1' }));
    await releaseWorkspace(w.exec, { tree: a.tree, taskId: 't1' });
    await sleep(50); // the time is the point: a, b, o used in that order, for the LRU cap below
    const b = await syncWorkspace(w.exec, w.req({ cwd: join(w.origin, 'b'), taskId: 't2' }));
    await releaseWorkspace(w.exec, { tree: b.tree, taskId: 't2' });
    await sleep(50);
    const o = await syncWorkspace(w.exec, w.req({ cwd: join(w.origin, 'o'), taskId: 't3' }));
    const locked = await pruneWorkspaces(w.exec, w.node, { names: [name(o.tree)] });
    assert.deepEqual([locked.removed, locked.skippedLocked], [[], [name(o.tree)]]);
    await releaseWorkspace(w.exec, { tree: o.tree, taskId: 't3' });
    // 3 trees + 3 blobs = 14 000 bytes; a cap of 12 500 drops only the least recently used.
    const capped = await pruneWorkspaces(w.exec, w.node, { capBytes: 12_500 });
    assert.deepEqual(capped.removed, [name(a.tree)]);
    assert.equal(capped.freedBytes, 2000, 'its tree and its now unreferenced blob');
    const left = await listWorkspaces(w.exec, w.node);
    assert.deepEqual(left.trees.map((t) => t.name).sort(), [name(b.tree), name(o.tree)].sort());
    assert.deepEqual([left.blobCount, left.blobBytes], [2, 6000]);
    const all = await pruneWorkspaces(w.exec, w.node, { all: true });
    assert.equal(all.removed.length, 2);
    assert.deepEqual(await listWorkspaces(w.exec, w.node), { trees: [], blobBytes: 0, blobCount: 0 });
  });
});
