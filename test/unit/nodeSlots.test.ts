import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NodeSlots } from '../../src/runtime/nodeSlots.js';

describe('NodeSlots', () => {
  test('tryTake gives at most max slots per node; a release frees one, twice is once', () => {
    const s = new NodeSlots();
    const a = s.tryTake('n1', 2)!;
    const b = s.tryTake('n1', 2)!;
    assert.equal(s.tryTake('n1', 2), undefined);
    assert.ok(s.tryTake('n2', 2), 'another node has its own slots');
    a();
    a();
    assert.equal(s.count('n1'), 1);
    assert.ok(s.tryTake('n1', 2));
    assert.equal(s.tryTake('n1', 2), undefined);
    b();
  });

  test('take waits for a release, in order; an abort ends the wait without a slot', async () => {
    const s = new NodeSlots();
    const first = s.tryTake('n1', 1)!;
    const order: string[] = [];
    const w1 = s.take('n1', 1).then((r) => { order.push('w1'); return r; });
    const abort = new AbortController();
    const w2 = s.take('n1', 1, abort.signal).then((r) => { order.push('w2'); return r; });
    const w3 = s.take('n1', 1).then((r) => { order.push('w3'); return r; });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, []);
    abort.abort();
    (await w2)(); // the aborted waiter holds nothing: releasing it changes nothing
    assert.equal(s.count('n1'), 1);
    first();
    const r1 = await w1;
    assert.deepEqual(order, ['w2', 'w1']);
    r1();
    (await w3)();
    assert.deepEqual(order, ['w2', 'w1', 'w3']);
    assert.equal(s.count('n1'), 0);
  });
});
