import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PruneScheduler } from '../../src/runtime/pruneScheduler.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('PruneScheduler', () => {
  it('runs one prune per node at a time and at most one per interval', async () => {
    let now = 0;
    const s = new PruneScheduler(60_000, () => now);
    const gate = deferred();
    let started = 0;
    const prune = () => {
      started++;
      return gate.promise;
    };
    s.request('n1', prune);
    now = 10_000;
    s.request('n1', prune); // running: dropped
    assert.equal(started, 1);
    gate.resolve();
    await s.idle();
    now = 30_000; // done, but only 30 s after it started
    s.request('n1', prune);
    assert.equal(started, 1);
    now = 61_000;
    s.request('n1', prune);
    await s.idle();
    assert.equal(started, 2);
  });

  it('keeps nodes apart', async () => {
    const s = new PruneScheduler(60_000, () => 0);
    const seen: string[] = [];
    for (const n of ['a', 'b', 'a'])
      s.request(n, async () => {
        seen.push(n);
      });
    await s.idle();
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('never waits for the prune and reports its failure instead of throwing', async () => {
    const s = new PruneScheduler();
    const gate = deferred();
    const errors: unknown[] = [];
    const t0 = Date.now();
    s.request(
      'n1',
      () => gate.promise,
      (e) => errors.push(e),
    );
    assert.ok(Date.now() - t0 < 50);
    gate.reject(new Error('node gone'));
    await s.idle();
    assert.equal((errors[0] as Error).message, 'node gone');
  });
});
