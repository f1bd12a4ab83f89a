// bin/cluster-router, the launcher: it finds main.js through npm's bin symlinks, adds glibc's
// mmap threshold to GLIBC_TUNABLES (leaving a caller's own choice alone), starts node with V8's
// young-generation size, and marks what it added; main.js takes that back out of the
// environment its children inherit (env.ts takeLaunchMark). CLUSTERFLOW_NODE here is a stub
// "node" that prints the arguments and the environment it was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { takeLaunchMark } from '../../src/env.js';
import { LAUNCHER, PACKAGE_ROOT } from '../../src/paths.js';

const OURS = 'glibc.malloc.mmap_threshold=524288';

function withStubNode(fn: (stub: string, dir: string) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-launcher-'));
  try {
    const stub = path.join(dir, 'node');
    writeFileSync(
      stub,
      '#!/bin/sh\nfor a in "$@"; do echo "arg=$a"; done\necho "tunables=${GLIBC_TUNABLES-unset}"\necho "mark=${CLUSTERFLOW_LAUNCH_TUNABLES-unset}"\n',
    );
    chmodSync(stub, 0o755);
    fn(stub, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function launch(command: string, stub: string, env: Record<string, string> = {}): { args: string[]; tunables: string; mark: string } {
  const out = execFileSync(command, ['serve', '--http', '0'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLUSTERFLOW_NODE: stub, ...env },
    encoding: 'utf8',
  });
  const lines = out.trim().split('\n');
  const field = (k: string) => lines.find((l) => l.startsWith(`${k}=`))!.slice(k.length + 1);
  return { args: lines.filter((l) => l.startsWith('arg=')).map((l) => l.slice(4)), tunables: field('tunables'), mark: field('mark') };
}

test('the launcher starts main.js with the young-generation size, the arguments as given, and the mmap threshold', () => {
  withStubNode((stub) => {
    const r = launch(LAUNCHER, stub);
    assert.deepEqual(r.args, ['--max-semi-space-size=8', path.join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', '--http', '0']);
    assert.equal(r.tunables, OURS);
    assert.equal(r.mark, OURS);
  });
});

test('through a chain of symlinks (npm bin links, relative and absolute), it still finds its package', () => {
  withStubNode((stub, dir) => {
    symlinkSync(LAUNCHER, path.join(dir, 'abs-link'));
    symlinkSync('abs-link', path.join(dir, 'cluster-router'));
    const r = launch(path.join(dir, 'cluster-router'), stub);
    assert.equal(r.args[1], path.join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'));
  });
});

test("the caller's GLIBC_TUNABLES are kept: ours is appended, and a threshold of their own stands", () => {
  withStubNode((stub) => {
    const other = launch(LAUNCHER, stub, { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
    assert.equal(other.tunables, `glibc.malloc.arena_max=2:${OURS}`);
    assert.equal(other.mark, OURS);
    const own = launch(LAUNCHER, stub, { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536' });
    assert.equal(own.tunables, 'glibc.malloc.mmap_threshold=65536');
    assert.equal(own.mark, '', 'launched, and nothing of ours to take back');
  });
});

test('takeLaunchMark: says whether the launcher started this process and gives children the environment they would have without it', () => {
  const env: NodeJS.ProcessEnv = { GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${OURS}`, CLUSTERFLOW_LAUNCH_TUNABLES: OURS, KEEP: '1' };
  assert.equal(takeLaunchMark(env), true);
  assert.deepEqual(env, { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', KEEP: '1' });
  assert.equal(takeLaunchMark(env), false, 'the mark is gone after the first call');

  const onlyOurs: NodeJS.ProcessEnv = { GLIBC_TUNABLES: OURS, CLUSTERFLOW_LAUNCH_TUNABLES: OURS };
  assert.equal(takeLaunchMark(onlyOurs), true);
  assert.deepEqual(onlyOurs, {});

  const callersOwn: NodeJS.ProcessEnv = { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536', CLUSTERFLOW_LAUNCH_TUNABLES: '' };
  assert.equal(takeLaunchMark(callersOwn), true);
  assert.deepEqual(callersOwn, { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=65536' });

  const plain: NodeJS.ProcessEnv = { GLIBC_TUNABLES: OURS };
  assert.equal(takeLaunchMark(plain), false, 'not started by the launcher: a GLIBC_TUNABLES of the caller is left alone');
  assert.deepEqual(plain, { GLIBC_TUNABLES: OURS });
});
