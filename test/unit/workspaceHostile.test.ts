// Hostile paths, both ways: output globs that leave the cwd, symlinks on the origin where
// outputs land, symlinks swapped into the node's tree before outputs return or before a
// re-sync, and a manifest that tries to leave the tree. Nothing may be read or written
// outside the tree or the origin cwd.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { localExec } from '../../src/ssh/localExec.js';
import { agentCommand } from '../../src/workspace/agentRun.js';
import { encodeToken } from '../../src/workspace/relPath.js';
import { treeKey } from '../../src/workspace/sync.js';
import { returnOutputs, syncWorkspace, WorkspaceError, type NodeWorkspaceConfig, type SyncRequest } from '../../src/workspace/index.js';
import { countingExec, initRepo, snapshot, write } from '../helpers/workspace.js';

const base = mkdtempSync(join(tmpdir(), 'cf-ws-hostile-'));
after(() => rmSync(base, { recursive: true, force: true }));
let seq = 0;

async function setup() {
  const dir = join(base, `w${seq++}`);
  const origin = join(dir, 'origin');
  const outside = join(dir, 'outside');
  mkdirSync(outside, { recursive: true });
  write(outside, 'secret.txt', 'outside the tree');
  const node: NodeWorkspaceConfig = { id: 'n1', root: join(dir, 'node', 'ws'), blobs: join(dir, 'node', 'blobs') };
  const exec = countingExec();
  const req: SyncRequest = { originHost: 'o', cwd: origin, taskId: 't', lockTtlS: 600, stateDir: join(dir, 'state'), node };
  initRepo(origin);
  write(origin, 'src/main.c', 'int main;\n');
  write(origin, 'dist/.keep', '');
  const ws = await syncWorkspace(exec, req);
  write(ws.tree, 'dist/app.bin', 'built on the node');
  return { dir, origin, outside, node, exec, req, ws };
}

async function refused(p: Promise<unknown>, kind = 'unsafe-path'): Promise<WorkspaceError> {
  const err = await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkspaceError, `expected WorkspaceError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  return err;
}

describe('workspace paths under attack', () => {
  test('output globs with .., absolute or empty parts are refused on the origin and on the node', async () => {
    const w = await setup();
    const calls = w.exec.calls;
    for (const glob of ['../outside/*', 'dist/../../x', '/etc/passwd', 'dist//app.bin', './dist', '']) {
      await refused(returnOutputs(w.exec, { tree: w.ws.tree, nodeCwd: w.ws.node_path, globs: [glob], originCwd: w.origin }));
    }
    assert.equal(w.exec.calls, calls, 'refused before any exec');
    // The node checks on its own: ask the agent directly.
    const out: Buffer[] = [];
    const r = await localExec(agentCommand('outputs', [w.ws.tree, w.ws.node_path, '1000000', '../outside/secret.txt']), { onStdout: (b) => out.push(b) });
    assert.equal(r.code, 3);
    assert.match(Buffer.concat(out).toString(), /^ERR unsafe-path /);
  });

  test('an origin path component that is a symlink, or a symlink at the file, is refused: nothing lands outside', async () => {
    const w = await setup();
    symlinkSync(w.outside, join(w.origin, 'dist-link'));
    write(w.ws.tree, 'dist-link/secret.txt', 'would overwrite the outside file');
    await refused(returnOutputs(w.exec, { tree: w.ws.tree, nodeCwd: w.ws.node_path, globs: ['dist-link/secret.txt'], originCwd: w.origin }));
    symlinkSync(join(w.outside, 'secret.txt'), join(w.origin, 'dist', 'app.bin'));
    await refused(returnOutputs(w.exec, { tree: w.ws.tree, nodeCwd: w.ws.node_path, globs: ['dist/app.bin'], originCwd: w.origin }));
    assert.equal(readFileSync(join(w.outside, 'secret.txt'), 'utf8'), 'outside the tree');
    assert.deepEqual(readdirSync(w.outside), ['secret.txt']);
  });

  test('a node-side symlink swapped in for a directory before outputs return is refused (to /etc, to a dir outside)', async () => {
    for (const target of ['/etc', 'outside']) {
      const w = await setup();
      const dest = target === 'outside' ? w.outside : target;
      rmSync(join(w.ws.tree, 'dist'), { recursive: true });
      symlinkSync(dest, join(w.ws.tree, 'dist'));
      for (const glob of ['dist/*', 'dist/**', 'dist', target === 'outside' ? 'dist/secret.txt' : 'dist/passwd', '*']) {
        await refused(returnOutputs(w.exec, { tree: w.ws.tree, nodeCwd: w.ws.node_path, globs: [glob], originCwd: w.origin }));
      }
      assert.deepEqual(readdirSync(join(w.origin, 'dist')), ['.keep'], 'nothing written at the origin');
      // A wildcard that only passes by the symlink does not follow it.
      const got = await returnOutputs(w.exec, { tree: w.ws.tree, nodeCwd: w.ws.node_path, globs: ['*/*.c', '**/*.txt'], originCwd: w.origin });
      assert.deepEqual(got, [{ path: 'src/main.c', size: 10 }]);
    }
  });

  test('the command directory itself swapped for a symlink is refused', async () => {
    const w = await setup();
    const ws = await syncWorkspace(w.exec, { ...w.req, cwd: join(w.origin, 'src') });
    renameSync(ws.node_path, `${ws.node_path}.real`);
    symlinkSync(w.outside, ws.node_path);
    await refused(returnOutputs(w.exec, { tree: ws.tree, nodeCwd: ws.node_path, globs: ['*.txt'], originCwd: join(w.origin, 'src') }));
    assert.equal(existsSync(join(w.origin, 'src', 'secret.txt')), false);
    await refused(returnOutputs(w.exec, { tree: ws.tree, nodeCwd: w.outside, globs: ['*.txt'], originCwd: w.origin }));
  });

  test('materializing never writes or deletes through a symlink in the tree', async () => {
    const w = await setup();
    // Origin: a symlink pointing outside travels as a symlink.
    symlinkSync(w.outside, join(w.origin, 'ext'));
    write(w.origin, 'src/old.c', 'to be removed');
    let ws = await syncWorkspace(w.exec, w.req);
    assert.equal(lstatSync(join(ws.tree, 'ext')).isSymbolicLink(), true);
    // Origin: the symlink becomes a real directory with a file of the same name as the outside one.
    unlinkSync(join(w.origin, 'ext'));
    write(w.origin, 'ext/secret.txt', 'tree content');
    // Node: the build swaps src for a symlink to the outside dir (holding an old.c of its own).
    write(w.outside, 'old.c', 'not ours');
    renameSync(join(ws.tree, 'src'), join(ws.tree, 'src.moved'));
    symlinkSync(w.outside, join(ws.tree, 'src'));
    unlinkSync(join(w.origin, 'src/old.c'));
    write(w.origin, 'src/main.c', 'int main2;\n');
    ws = await syncWorkspace(w.exec, w.req);
    assert.equal(readFileSync(join(w.outside, 'secret.txt'), 'utf8'), 'outside the tree');
    assert.equal(readFileSync(join(w.outside, 'old.c'), 'utf8'), 'not ours');
    assert.deepEqual(readdirSync(w.outside).sort(), ['old.c', 'secret.txt']);
    assert.equal(lstatSync(join(ws.tree, 'src')).isDirectory(), true);
    assert.deepEqual(snapshot(ws.tree, ['ext/secret.txt', 'src/main.c', 'dist/.keep']), snapshot(w.origin, ['ext/secret.txt', 'src/main.c', 'dist/.keep']));
  });

  test('a manifest path that leaves the tree is refused by the node, whole or as a delta', async () => {
    const w = await setup();
    const agent = async (key: string, body: string) => {
      const out: Buffer[] = [];
      const args = [w.node.root!, w.node.blobs!, key, 't', '60', 'o', encodeToken(w.origin), ''];
      const r = await localExec(agentCommand('sync', args), { onStdout: (b) => out.push(b), feed: async (sink) => void (await sink.write(body)) });
      return { code: r.code, out: Buffer.concat(out).toString() };
    };
    const blob = '0'.repeat(64);
    for (const bad of ['../escape.txt', '/abs.txt', 'a/../../b', 'a//b']) {
      const enc = encodeToken(bad);
      const whole = await agent('hostile-0123456789abcdef', `H ${'f'.repeat(64)} 1\nM\nf ${blob} - 1 ${enc}\n.\n`);
      assert.deepEqual([whole.code, /ERR unsafe-path /.test(whole.out)], [3, true], `${bad}: ${whole.out}`);
      // The tree synced in setup holds a manifest: the node accepts a delta against it.
      const delta = await agent(treeKey('o', realpathSync(w.origin)), `H ${'f'.repeat(64)} 1\nD\n+ f ${blob} - 1 ${enc}\n.\n`);
      assert.match(delta.out, /^SEND [0-9a-f]{64}\n/);
      assert.deepEqual([delta.code, /ERR unsafe-path /.test(delta.out)], [3, true], `${bad}: ${delta.out}`);
    }
    assert.equal(existsSync(join(w.dir, 'node', 'escape.txt')), false);
    assert.equal(existsSync('/abs.txt'), false);
  });
});
