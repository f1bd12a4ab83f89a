// Chained batches (a fan-out's next batch on a node starts while the one before runs): the lane
// handoff alone, then two real batches on the local node through runNodeBatch (bash runs the
// commands), where the next batch's lanes start only as the lanes before run dry, the two never
// run more commands at once than one batch's lanes, and a batch before that runs elsewhere (or
// never ran) is waited for through Temporal's word that its workflow closed.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { findNode } from '../../src/cluster/nodes.js';
import { parseConfig } from '../../src/cluster/config.js';
import { runNodeBatch } from '../../src/engine/batch.js';
import { LaneHandoff } from '../../src/runtime/laneHandoff.js';
import { createServices, type Services } from '../../src/runtime/services.js';
import type { BatchInput, CommandResult, NodeConfig } from '../../src/shared.js';

/** Whether the promise settled within a few event-loop turns. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe('LaneHandoff', () => {
  it('lets lane i of the next batch go once i+1 lanes of the batch before ran dry, all of them when it finished', async () => {
    const h = new LaneHandoff();
    const mine = h.register('b0');
    const lane0 = h.waitLanes('b0', 1);
    const lane1 = h.waitLanes('b0', 2);
    const lane2 = h.waitLanes('b0', 3);
    assert.equal(await settled(lane0), false);
    mine.laneDone();
    assert.equal(await settled(lane0), true);
    assert.equal(await settled(lane1), false);
    mine.laneDone();
    assert.equal(await settled(lane1), true);
    assert.equal(await settled(lane2), false, 'the batch before had two lanes: the third waits for its end');
    mine.finished();
    assert.equal(await settled(lane2), true);
    assert.equal(await settled(h.waitLanes('b0', 99)), true, 'a finished batch holds nothing back');
  });

  it('waits for a batch that registers later, and goes when its workflow closed or the wait is aborted', async () => {
    const h = new LaneHandoff();
    const early = h.waitLanes('b1', 1);
    assert.equal(await settled(early), false);
    h.register('b1').laneDone();
    assert.equal(await settled(early), true, 'the batch registered after the wait began');
    const closed = h.waitLanes('b2', 1);
    h.closed('b2');
    assert.equal(await settled(closed), true);
    const ac = new AbortController();
    const aborted = h.waitLanes('b3', 1, ac.signal);
    assert.equal(await settled(aborted), false);
    ac.abort();
    assert.equal(await settled(aborted), true);
  });

  it('forgets finished batches after a minute, unfinished ones after half an hour, never one that is waited for', async () => {
    let now = 0;
    const h = new LaneHandoff(() => now);
    h.register('done').finished();
    h.register('stuck');
    const waited = h.waitLanes('waited', 1);
    now = 61_000;
    h.register('x');
    assert.equal(h.size, 3, 'done is forgotten; stuck, waited and x are kept');
    now = 61_000 + 31 * 60_000;
    h.register('y');
    assert.equal(h.size, 2, 'waited (still waited for) and y');
    h.closed('waited');
    assert.equal(await settled(waited), true);
  });
});

describe('runNodeBatch: a chained batch on the local node', () => {
  let rt: Services;
  let node: NodeConfig;
  before(() => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-chain-'));
    rt = createServices(parseConfig('nodes:\n  - { id: here, local: true, max_parallel: 8 }\n', 'test.yaml'), dir);
    node = findNode(rt.config, 'here')!;
  });
  after(async () => {
    await rt?.pool.close();
  });

  /** Prints when it started and ended (ms since the epoch), after sleeping `s` seconds. */
  const timed = (s: number) => `echo "s $(date +%s%3N)"; sleep ${s}; echo "e $(date +%s%3N)"`;
  /** Commands `first`, `first + 1`, ... of fan-out `parentId` (a run's id on the node is its task id: batches differ). */
  const batch = (parentId: string, first: number, sleeps: number[], over: Partial<BatchInput> = {}): BatchInput => ({
    parentId,
    nodeId: 'here',
    routeReason: 'test',
    items: sleeps.map((s, i) => ({ index: first + i, command: timed(s) })),
    concurrency: 2,
    timeoutS: 30,
    streamCap: 1024,
    ...over,
  });
  const span = (r: CommandResult): [number, number] => {
    const s = /s (\d+)/.exec(r.stdout)?.[1];
    const e = /e (\d+)/.exec(r.stdout)?.[1];
    assert.ok(s && e, `no times in ${JSON.stringify(r.stdout)}`);
    return [Number(s), Number(e)];
  };
  const client = (describe: (id: string) => Promise<unknown>) =>
    ({ workflow: { getHandle: (id: string) => ({ query: async () => ({ all: false, taskIds: [] }), describe: () => describe(id) }) } }) as never;

  it("starts the next batch's lanes as the lanes before run dry, never more commands at once than one batch's lanes", async () => {
    const noTemporal = client(async () => {
      throw new Error('in-process handoff: Temporal is not asked');
    });
    // Lane 0 of the first batch runs dry after ~0.1 s, lane 1 after ~1.2 s.
    const first = runNodeBatch(rt, noTemporal, node, batch('par-a', 0, [0.1, 1.2]), {}, { handsOverAs: 'par-a/here-0' });
    const next = runNodeBatch(rt, noTemporal, node, batch('par-a', 2, [0.3, 0.3, 0.3], { after: 'par-a/here-0' }), {}, { handsOverAs: 'par-a/here-1' });
    const [a, b] = await Promise.all([first, next]);
    assert.ok([...a, ...b].every((r) => r.state === 'completed'));
    const spans = [...a, ...b].map(span);
    const [, firstLane0End] = span(a[0]!);
    const [, firstLane1End] = span(a[1]!);
    const nextStarts = b.map((r) => span(r)[0]).sort((x, y) => x - y);
    assert.ok(nextStarts[0]! >= firstLane0End, 'the next batch waited for a lane of the batch before');
    assert.ok(nextStarts[0]! < firstLane1End, 'and took it over while the other lane still ran');
    const atOnce = Math.max(...spans.map(([s]) => spans.filter(([s2, e2]) => s2 <= s && s < e2).length));
    assert.ok(atOnce <= 2, `${atOnce} commands ran at once; the batches have 2 lanes`);
  });

  it('waits for a batch before that this process never ran until Temporal says its workflow closed; one that never started holds nothing back', async () => {
    let asked = 0;
    const closesLater = client(async () => ({ status: { name: ++asked >= 2 ? 'COMPLETED' : 'RUNNING' } }));
    const t0 = Date.now();
    const [r] = await runNodeBatch(rt, closesLater, node, batch('par-b', 0, [0], { after: 'par-b/here-0' }), {});
    assert.equal(r!.state, 'completed');
    assert.ok(span(r!)[0] - t0 >= 1500, 'it started after the second answer (asked every second)');
    assert.ok(asked >= 2);
    const neverRan = client(async (id) => {
      throw new WorkflowNotFoundError('not found', id, undefined);
    });
    const [n] = await runNodeBatch(rt, neverRan, node, batch('par-c', 0, [0], { after: 'par-c/here-0' }), {});
    assert.equal(n!.state, 'completed');
  });
});
