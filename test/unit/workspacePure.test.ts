// The origin-side parts of workspace sync that need no node: .clusterflowignore matching
// (gitignore syntax), the wire encoding of paths, relative-path checks, tree keys, manifests
// and their deltas, and the hash cache's racy-git rule.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { allTrusted, hashEntries, HashCache } from '../../src/workspace/hashCache.js';
import { isIgnored, parseIgnore } from '../../src/workspace/ignore.js';
import { decodeToken, encodeToken, relPathProblem } from '../../src/workspace/relPath.js';
import type { TreeEntry } from '../../src/workspace/scan.js';
import { buildManifest, manifestDelta } from '../../src/workspace/manifest.js';
import { treeKey } from '../../src/workspace/sync.js';

const dir = mkdtempSync(join(tmpdir(), 'cf-ws-pure-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('.clusterflowignore: gitignore semantics', () => {
  const rules = parseIgnore(
    ['# comment', '', '*.log', '!keep.log', 'build/', '/top.txt', 'docs/*.md', '**/gen/**', 'a/**/z', '\\#hash', 'trailing   ', '[ab]?.c'].join('\n'),
  );
  const layers = [{ base: '', rules }];
  const cases: Array<[string, boolean, boolean]> = [
    ['x.log', false, true],
    ['deep/x.log', false, true],
    ['keep.log', false, false],
    ['deep/keep.log', false, false],
    ['build', true, true],
    ['src/build', true, true],
    ['build', false, false], // dir-only rule
    ['top.txt', false, true],
    ['sub/top.txt', false, false], // anchored
    ['docs/a.md', false, true],
    ['docs/sub/a.md', false, false],
    ['other/docs/a.md', false, false],
    ['x/gen/y.c', false, true],
    ['gen/y.c', false, true],
    ['a/z', false, true],
    ['a/b/c/z', false, true],
    ['b/a/z', false, false],
    ['#hash', false, true],
    ['trailing', false, true],
    ['a1.c', false, true],
    ['c1.c', false, false],
    ['ab1.c', false, false],
    ['main.c', false, false],
    ['comment', false, false],
  ];
  for (const [path, isDir, want] of cases) assert.equal(isIgnored(layers, path, isDir), want, path);
  // A nested file applies below its own directory, after the outer ones.
  const nested = [...layers, { base: 'sub', rules: parseIgnore('!*.log\nlocal.txt') }];
  assert.equal(isIgnored(nested, 'sub/x.log', false), false);
  assert.equal(isIgnored(nested, 'sub/local.txt', false), true);
  assert.equal(isIgnored(nested, 'local.txt', false), false);
});

test('path tokens: %, spaces, control bytes escaped; UTF-8 passes; round trip', () => {
  for (const p of ['plain/path.c', 'with space', 'new\nline', 'per%cent', 'tab\there', 'ünïcödé/文件', 'a\x7fb', '%41']) {
    const t = encodeToken(p);
    assert.doesNotMatch(t, /[\s\x00-\x1f\x7f]/, p);
    assert.equal(decodeToken(t), p);
  }
  assert.equal(encodeToken('a b%'), 'a%20b%25');
  assert.throws(() => decodeToken('%FF%FE'), /not valid UTF-8/);
});

test('relative paths: no .., no absolute, no empty or . parts', () => {
  const bad = ['', '/abs', '../x', 'a/../b', 'a/..', 'a//b', 'a/./b', './a', 'a/', 'nul\0byte'];
  for (const p of bad) assert.notEqual(relPathProblem(p), null, JSON.stringify(p));
  for (const p of ['a', 'a/b.c', '..a', 'a..', '...', '.hidden/x']) assert.equal(relPathProblem(p), null, p);
});

test('tree keys: one per (origin host, path), readable, safe for the node', () => {
  const k = treeKey('host-a', '/home/me/My Project!');
  assert.match(k, /^My_Project_-[0-9a-f]{16}$/);
  assert.notEqual(treeKey('host-b', '/home/me/My Project!'), k);
  assert.match(treeKey('h', '/'), /^tree-[0-9a-f]{16}$/);
  assert.match(treeKey('h', '/x/.hidden'), /^hidden-[0-9a-f]{16}$/);
});

test('manifest: one line per entry, digest changes with any field', () => {
  const e = (over: Partial<TreeEntry>): TreeEntry => ({
    path: 'a',
    kind: 'f',
    size: 1,
    exec: false,
    ino: 1,
    mtimeMs: 1,
    ctimeMs: 1,
    sha: 'a'.repeat(64),
    ...over,
  });
  const m = buildManifest([e({}), e({ path: 'sp ace', exec: true, sha: 'b'.repeat(64) }), e({ path: 'l', kind: 'l', target: '../x y', size: 5 })]);
  assert.equal(m.text, `f ${'a'.repeat(64)} - 1 a\nf ${'b'.repeat(64)} x 1 sp%20ace\nl ../x%20y - 5 l\n`);
  assert.equal(m.distinctBlobs, 2);
  assert.notEqual(buildManifest([e({ exec: true })]).digest, buildManifest([e({})]).digest);
  assert.equal(buildManifest([e({ ino: 9, mtimeMs: 9 })]).digest, buildManifest([e({})]).digest, 'stat data is not content');
});

test('manifest delta: + for new or changed lines, - for removed paths', () => {
  const m = (...lines: string[]) => lines.map((l) => `${l}\n`).join('');
  const sha = (c: string) => c.repeat(64);
  const base = m(`f ${sha('a')} - 1 a`, `f ${sha('b')} - 1 b`, `l t - 1 c`, `f ${sha('d')} - 1 d%20e`);
  const next = m(`f ${sha('a')} - 1 a`, `f ${sha('b')} x 1 b`, `f ${sha('c')} - 1 bb`, `f ${sha('d')} - 1 d%20e`, `f ${sha('e')} - 1 z`);
  assert.equal(manifestDelta(base, next), m(`+ f ${sha('b')} x 1 b`, `+ f ${sha('c')} - 1 bb`, '- c', `+ f ${sha('e')} - 1 z`));
  assert.equal(manifestDelta(next, next), '');
  assert.equal(manifestDelta('', next).split('\n').filter(Boolean).length, 5);
});

test('hash cache: unchanged files are not read again; a hash taken within 2 s of the last change is not trusted', async () => {
  const root = join(dir, 'tree');
  const state = join(dir, 'state');
  rmSync(root, { recursive: true, force: true });
  const { mkdirSync, lstatSync } = await import('node:fs');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'old.txt'), 'old');
  writeFileSync(join(root, 'fresh.txt'), 'fresh');
  const entries = (): TreeEntry[] =>
    ['fresh.txt', 'old.txt'].map((path) => {
      const st = lstatSync(join(root, path));
      // old.txt pretends to have changed long ago; fresh.txt just now.
      const age = path === 'old.txt' ? 60_000 : 0;
      return { path, kind: 'f', size: st.size, exec: false, ino: st.ino, mtimeMs: st.mtimeMs - age, ctimeMs: st.ctimeMs - age };
    });
  const first = entries();
  const r1 = await hashEntries(root, first, HashCache.load(state, root));
  assert.equal(r1.hashedFiles, 2);
  // hashEntries takes times from the open file: put back the pretended ones before saving.
  first[1]!.mtimeMs -= 60_000;
  first[1]!.ctimeMs -= 60_000;
  HashCache.load(state, root).save(first, { files: r1.hashedFiles, bytes: 8 });
  assert.equal(allTrusted(first), false, 'fresh.txt was hashed within 2 s of its change');
  const second = entries();
  const r2 = await hashEntries(root, second, HashCache.load(state, root));
  assert.equal(r2.hashedFiles, 1, 'old.txt came from the cache, fresh.txt (racy) was hashed again');
  assert.deepEqual(
    second.map((e) => e.sha!.slice(0, 8)),
    first.map((e) => e.sha!.slice(0, 8)),
  );
});
