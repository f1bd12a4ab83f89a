// PendingStarts (client/pendingStarts.ts): a journaled workflow start still in its deferral goes
// out as soon as anything asks about the task; until then nothing hurries it. An answer may wait
// for it a bounded time only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingStarts } from '../../src/client/pendingStarts.js';

test('settled() starts a deferred workflow now and resolves once it started; a task not pending settles at once', async () => {
  const pending = new PendingStarts();
  let hurried = false;
  let startedAt = 0;
  // A deferral that would never end by itself: only the hurry starts it.
  pending.track('par-1', async (hurry) => {
    await hurry;
    hurried = true;
    await new Promise((resolve) => setTimeout(resolve, 20));
    startedAt = Date.now();
  });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(hurried, false, 'started before anyone asked');
  assert.equal(pending.has('par-1'), true);
  await pending.settled('par-1');
  assert.equal(hurried, true);
  assert.ok(startedAt > 0, 'settled before the start went out');
  assert.equal(pending.has('par-1'), false);
  await pending.settled('never-tracked');
});

test('settled(id, maxWaitMs) hurries the start but returns after maxWaitMs while it is still being retried', async () => {
  const pending = new PendingStarts();
  let hurried = false;
  let release: () => void = () => undefined;
  // A start that goes out when asked and then cannot succeed until released (Temporal unreachable).
  pending.track('par-2', async (hurry) => {
    await hurry;
    hurried = true;
    await new Promise<void>((resolve) => (release = resolve));
  });
  const t0 = Date.now();
  await pending.settled('par-2', 50);
  assert.equal(hurried, true);
  assert.ok(Date.now() - t0 >= 45, `returned after ${Date.now() - t0} ms`);
  assert.equal(pending.has('par-2'), true, 'still pending: the start goes on being retried');
  release();
  await pending.settled('par-2');
  assert.equal(pending.has('par-2'), false);
});
