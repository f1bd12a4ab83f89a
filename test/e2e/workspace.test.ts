// Workspaces (issue G): the nodes cannot see the origin's files (as root each sshd runs in its own
// mount namespace with an empty tmpfs over the origin dir), so every command here works only if
// the tree was synced: a real third-party C project (bzip2, from crates.io) built with make on a
// node, rebuilt incrementally after one file changes, its binary back through outputs; a git
// repo's layout; hostile trees; two commands on one tree; a fan-out syncing once per node.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRoot } from '../../src/testcluster/nodeUsers.js';
import { startHarness, structured, type Harness } from '../helpers/harness.js';
import { bzip2Source } from '../helpers/thirdParty.js';
import { gitListed } from '../helpers/workspace.js';

interface Ws {
  mode: string;
  node_path: string;
  files?: number;
  bytes_sent?: number;
  blobs_reused?: number;
  sync_ms?: number;
}
interface Result {
  task_id: string;
  state: string;
  success: boolean;
  stdout: string;
  stderr: string;
  executed_on: string;
  return_code: number | null;
  error: string | null;
  workspace?: Ws;
  outputs_returned?: Array<{ path: string; size: number }>;
}

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' });

describe("workspaces: the origin's tree on a node that cannot see it", () => {
  let h: Harness;
  let origin: string;
  const offload = async (command: string, cwd: string, extra: Record<string, unknown> = {}) =>
    structured<Result>(
      await h.mcp.callTool({ name: 'offload_to', arguments: { command, node_id: 'n1', cwd, wait_s: 300, ...extra } }, undefined, { timeout: 320_000 }),
    );

  before(async () => {
    origin = mkdtempSync('/tmp/cf-origin-');
    chmodSync(origin, 0o755);
    h = await startHarness({ nodes: 2, hide: [origin] });
  });
  after(async () => {
    await h?.close();
    rmSync(origin, { recursive: true, force: true });
  });

  it("the nodes cannot see the origin's directory (the test would prove nothing otherwise)", async (t) => {
    if (!isRoot()) return t.skip('not root: the nodes see the whole filesystem here, so nothing below proves a sync');
    writeFileSync(path.join(origin, 'only-at-origin'), 'x');
    const r = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: `ls -A ${origin}`, node_id: 'n1', workspace: 'none' } }));
    assert.equal(r.stdout, '', `n1 sees ${r.stdout}`);
  });

  it('make builds a third-party C project on a node; one changed file rebuilds one object; the binary comes back', async () => {
    const proj = path.join(origin, 'bzip2');
    cpSync(await bzip2Source(), proj, { recursive: true });
    // Build products are ignored, as in any project: the binary that comes back is not synced again.
    writeFileSync(path.join(proj, '.gitignore'), 'bzip2\nbzip2recover\n*.o\n*.a\n');
    git(proj, 'init', '-q');
    git(proj, 'add', '-A');
    git(proj, 'commit', '-qm', 'bzip2 1.0.8');
    const first = await offload('make bzip2 2>&1 | tail -3', proj, { outputs: ['bzip2'] });
    assert.equal(first.success, true, JSON.stringify(first));
    assert.equal(first.workspace?.mode, 'sync');
    // Blobs a node has already (from an earlier run of this suite: the node user's store stays) are not sent again.
    assert.ok((first.workspace?.files ?? 0) >= 40, JSON.stringify(first.workspace));
    assert.ok((first.workspace?.bytes_sent ?? 0) > 100_000 || (first.workspace?.blobs_reused ?? 0) >= 40, JSON.stringify(first.workspace));
    assert.deepEqual(
      first.outputs_returned?.map((f) => f.path),
      ['bzip2'],
    );
    const version = execFileSync('sh', ['-c', `${path.join(proj, 'bzip2')} --help 2>&1 | head -1`], { encoding: 'utf8' });
    assert.match(version, /bzip2, a block-sorting file compressor\.\s+Version 1\.0\.8/);

    const nodePath = first.workspace!.node_path;
    const mtimes = async () =>
      Object.fromEntries(
        (await offload(`stat -c '%n %Y.%y' *.o`, nodePath, { workspace: 'shared' })).stdout
          .trim()
          .split('\n')
          .map((l) => l.split(' ', 2)),
      );
    const before = await mtimes();
    assert.ok(Object.keys(before).length >= 8, JSON.stringify(before));
    appendFileSync(path.join(proj, 'huffman.c'), '\n/* touched at the origin */\n');
    await new Promise((r) => setTimeout(r, 1100)); // a new mtime second, for make
    const second = await offload('make bzip2 2>&1', proj, { outputs: ['bzip2'] });
    assert.equal(second.success, true, JSON.stringify(second));
    assert.ok((second.workspace?.bytes_sent ?? 0) < 100_000, `re-sync sent ${second.workspace?.bytes_sent} bytes`);
    const compiled = [...second.stdout.matchAll(/-c (\w+\.c)/g)].map((m) => m[1]);
    assert.deepEqual(compiled, ['huffman.c'], second.stdout);
    const after = await mtimes();
    const changed = Object.keys(after).filter((o) => after[o] !== before[o]);
    assert.deepEqual(changed, ['huffman.o'], `objects rebuilt on the node: ${changed.join(', ')}`);
  });

  it('a git repo arrives as git would check it out, plus untracked files that are not ignored', async () => {
    const repo = path.join(origin, 'repo');
    mkdirSync(path.join(repo, 'sub'), { recursive: true });
    writeFileSync(path.join(repo, '.gitignore'), '*.log\nbuild/\n');
    writeFileSync(path.join(repo, 'keep.txt'), 'keep\n');
    writeFileSync(path.join(repo, 'old name.txt'), 'renamed\n');
    writeFileSync(path.join(repo, 'gone.txt'), 'deleted\n');
    writeFileSync(path.join(repo, 'run.sh'), '#!/bin/sh\necho ran\n');
    chmodSync(path.join(repo, 'run.sh'), 0o755);
    writeFileSync(path.join(repo, 'sub', 'ünïcødé file.txt'), 'ü\n');
    git(repo, 'init', '-q');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'start');
    git(repo, 'mv', 'old name.txt', 'new name.txt');
    rmSync(path.join(repo, 'gone.txt'));
    symlinkSync('keep.txt', path.join(repo, 'link'));
    writeFileSync(path.join(repo, 'untracked.txt'), 'u\n');
    writeFileSync(path.join(repo, 'debug.log'), 'ignored\n');
    mkdirSync(path.join(repo, 'build'));
    writeFileSync(path.join(repo, 'build', 'out.o'), 'ignored\n');
    mkdirSync(path.join(repo, 'empty'));
    // On the node: every file and link under the tree (but .git), with its exec bit and content hash, or its target.
    const listing = `find . \\( -type f -o -type l \\) ! -path './.git/*' | sort | while IFS= read -r f; do if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f $(test -x "$f" && echo x || echo -) $(sha256sum < "$f" | cut -c1-16)"; fi; done`;
    const r = await offload(listing, repo);
    assert.equal(r.success, true, JSON.stringify(r));
    // What git would check out, plus the untracked files it does not ignore.
    const want = gitListed(repo)
      .map((p) => {
        const full = path.join(repo, p);
        if (lstatSync(full).isSymbolicLink()) return `./${p} -> ${readlinkSync(full)}`;
        const x = (lstatSync(full).mode & 0o100) !== 0 ? 'x' : '-';
        return `./${p} ${x} ${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)}`;
      })
      .sort();
    assert.deepEqual(r.stdout.trim().split('\n').sort(), want);
    for (const absent of ['debug.log', 'build/out.o', 'gone.txt', 'old name.txt']) assert.ok(!r.stdout.includes(absent), `${absent} should not be on the node`);
  });

  it('hostile trees: an outside symlink stays a link, `..` outputs and a node-side swap are refused, nothing lands outside', async () => {
    const repo = path.join(origin, 'hostile');
    mkdirSync(path.join(repo, 'dist'), { recursive: true });
    writeFileSync(path.join(repo, 'dist', 'a.txt'), 'a\n');
    symlinkSync('/etc', path.join(repo, 'etc-link'));
    const link = await offload('readlink etc-link; ls etc-link/ | head -1', repo);
    assert.equal(link.stdout.split('\n')[0], '/etc');
    const up = await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'true', node_id: 'n1', cwd: repo, outputs: ['../escape'] } });
    const upText = JSON.stringify(up);
    assert.ok(up.isError || /\.\.|unsafe|outside/.test(upText), upText);
    // The command swaps dist for a symlink to /etc: asking for dist/passwd must not copy /etc/passwd back.
    const swapped = await offload('rm -rf dist && ln -s /etc dist', repo, { outputs: ['dist/passwd'] });
    assert.ok(!(swapped.outputs_returned ?? []).some((f) => f.path === 'dist/passwd'), JSON.stringify(swapped));
    assert.match(swapped.error ?? '', /outputs not returned|symlink|unsafe/);
    assert.equal(existsSync(path.join(repo, 'dist', 'passwd')), false);
  });

  it('two commands on one tree at once each get a tree of their own; a fan-out syncs once per node', async () => {
    const repo = path.join(origin, 'shared-tree');
    mkdirSync(repo);
    writeFileSync(path.join(repo, 'input.txt'), 'hello\n');
    const [a, b] = await Promise.all([offload('cat input.txt; sleep 2; pwd', repo), offload('cat input.txt; sleep 2; pwd', repo)]);
    assert.deepEqual([a.stdout.split('\n')[0], b.stdout.split('\n')[0]], ['hello', 'hello']);
    assert.notEqual(a.workspace?.node_path, b.workspace?.node_path, 'two commands shared one tree at once');
    const fan = structured<{ state: string; results: Result[] }>(
      await h.mcp.callTool(
        {
          name: 'parallel_execute',
          arguments: { commands: Array.from({ length: 6 }, (_, i) => `cat input.txt; echo ${i}`), cwd: repo, wait_s: 120 },
        },
        undefined,
        { timeout: 150_000 },
      ),
    );
    assert.equal(fan.state, 'completed', JSON.stringify(fan.results.filter((r) => !r.success)));
    fan.results.forEach((r, i) => assert.equal(r.stdout, `hello\n${i}\n`));
    const list = await h.cli(['workspace', 'list', '--node', 'n1', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const trees = (JSON.parse(list.stdout) as Record<string, { trees: Array<{ origin_path: string }> }>).n1!.trees;
    assert.ok(
      trees.some((t) => t.origin_path === repo),
      list.stdout,
    );
    assert.ok(readFileSync(path.join(repo, 'input.txt'), 'utf8') === 'hello\n');
  });

  it('the CLI: --dry-run says the tree will be synced; submit --cwd --output builds on n1 and brings the file back', async () => {
    const proj = path.join(origin, 'cli-proj');
    mkdirSync(proj);
    writeFileSync(path.join(proj, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello from the node"); return 0; }\n');
    writeFileSync(path.join(proj, 'Makefile'), 'hello: hello.c\n\tcc -O2 -o hello hello.c\n');
    const plan = await h.cli(['submit', '--dry-run', '--node', 'n1', '--cwd', proj, 'make']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^n1\tmake\t.*sync/m, plan.stdout);
    const built = await h.cli(['submit', '--node', 'n1', '--cwd', proj, '--output', 'hello', '--json', 'make && ./hello'], { timeoutMs: 120_000 });
    assert.equal(built.code, 0, built.stderr);
    const r = JSON.parse(built.stdout) as Result;
    assert.equal(r.workspace?.mode, 'sync', built.stdout);
    assert.match(r.stdout, /hello from the node/);
    assert.deepEqual(
      r.outputs_returned?.map((f) => f.path),
      ['hello'],
    );
    assert.equal(execFileSync(path.join(proj, 'hello'), { encoding: 'utf8' }), 'hello from the node\n');
  });
});
