// ClusterStateReader: placement is answered from a snapshot up to staleMs old while a newer one
// is asked for in the background; past that it waits for the Query. cluster_status keeps the
// strict maxAgeMs. Date is mocked: no sleeps.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Client } from '@temporalio/client';
import { ClusterStateReader } from '../../src/client/clusterState.js';
import type { ClusterSnapshot } from '../../src/messages.js';

function fakeMonitor() {
  const asked: Array<(snap: ClusterSnapshot) => void> = [];
  const client = {
    workflow: {
      getHandle: () => ({
        query: () => new Promise<ClusterSnapshot>((resolve) => asked.push(resolve)),
      }),
    },
  } as unknown as Client;
  const snap = (load: number) => ({ nodes: { n1: { load } } }) as unknown as ClusterSnapshot;
  return { client, asked, snap };
}

describe('ClusterStateReader', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('placement: a snapshot under staleMs answers at once (refreshed in the background past maxAgeMs); past staleMs it waits', async () => {
    const m = fakeMonitor();
    const reader = new ClusterStateReader(m.client, 1000, 5000);
    const first = reader.states();
    assert.equal(m.asked.length, 1, 'no snapshot yet: asks');
    m.asked[0]!(m.snap(1));
    assert.deepEqual(await first, { n1: { load: 1 } });

    mock.timers.tick(500);
    assert.deepEqual(await reader.states(), { n1: { load: 1 } });
    assert.equal(m.asked.length, 1, 'fresh: no Query');

    mock.timers.tick(2000);
    assert.deepEqual(await reader.states(), { n1: { load: 1 } }, 'stale but usable: answered from the cache');
    assert.equal(m.asked.length, 2, 'and a newer one asked for');
    await reader.states();
    assert.equal(m.asked.length, 2, 'one Query in flight at a time');
    m.asked[1]!(m.snap(2));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(await reader.states(), { n1: { load: 2 } });

    mock.timers.tick(6000);
    let settled = false;
    const waited = reader.states().then((s) => {
      settled = true;
      return s;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'too old: waits for the Query');
    m.asked[2]!(m.snap(3));
    assert.deepEqual(await waited, { n1: { load: 3 } });
  });

  it('cluster_status (snapshot) keeps the strict maxAgeMs', async () => {
    const m = fakeMonitor();
    const reader = new ClusterStateReader(m.client, 1000, 5000);
    const first = reader.snapshot();
    m.asked[0]!(m.snap(1));
    await first;
    mock.timers.tick(2000);
    const again = reader.snapshot();
    assert.equal(m.asked.length, 2);
    m.asked[1]!(m.snap(2));
    assert.deepEqual((await again).nodes, { n1: { load: 2 } });
  });

  it('an unreachable monitor means no figures, never an error', async () => {
    const client = { workflow: { getHandle: () => ({ query: () => Promise.reject(new Error('no monitor')) }) } } as unknown as Client;
    assert.deepEqual(await new ClusterStateReader(client).states(), {});
  });
});
