// PendingStarts (client/pendingStarts.ts): a journaled workflow start still in its deferral goes
// out as soon as anything asks about the task; until then nothing hurries it.
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
