// The fan-out's plan as data (src/cluster/fanoutPlan.ts), table by table: batch sizes, the
// max_parallel split over nodes, per-command output budget, the plan itself, a re-placement,
// and how results add up to the fan-out's result.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BATCH_MAX,
  BATCH_SIZE,
  batchSize,
  completeFanout,
  fanoutResult,
  planInputOf,
  fitToMaxParallel,
  groupByNode,
  OUTPUT_BUDGET,
  planBatches,
  planReplacement,
  streamCapFor,
  type FanoutPlacement,
  type PlanInput,
} from '../../src/cluster/fanoutPlan.js';
import { INLINE_RESULTS_MAX, RESULT_STREAM_CAP, unranResult, type CommandResult } from '../../src/shared.js';

const input = (n: number, over: Partial<PlanInput> = {}): PlanInput => ({
  parentId: 'par-x',
  commands: Array.from({ length: n }, (_, i) => `cmd ${i}`),
  maxParallel: 64,
  timeoutS: 60,
  evenBatches: true,
  ...over,
});

/** Command k on nodes[k % nodes.length]; capacity 8 each unless given. */
const placed = (n: number, nodes: string[], capacity: Record<string, number> = {}): FanoutPlacement => ({
  nodes: Array.from({ length: n }, (_, k) => nodes[k % nodes.length]!),
  reasons: Object.fromEntries(nodes.map((id) => [id, `least loaded: ${id}`])),
  capacity: Object.fromEntries(nodes.map((id) => [id, capacity[id] ?? 8])),
});

const ok = (i: number, node: string, over: Partial<CommandResult> = {}): CommandResult => ({
  ...unranResult(`par-x/${i}`, node, '', 'completed', ''),
  success: true,
  return_code: 0,
  error: null,
  ...over,
});

describe('batchSize: a node’s commands per batch', () => {
  const cases: Array<[count: number, even: boolean, size: number]> = [
    [1, true, 1],
    [300, true, 300],
    [BATCH_MAX, true, BATCH_MAX],
    [BATCH_MAX + 1, true, 501],
    [3334, true, 834],
    [10_000, true, 1000],
    // Fan-outs recorded before even batches keep their fixed chunks (their histories replay).
    [300, false, BATCH_SIZE],
    [3334, false, BATCH_SIZE],
  ];
  for (const [count, even, size] of cases) {
    it(`${count} commands, ${even ? 'even batches' : 'older fan-out'} → ${size} per batch`, () => {
      assert.equal(batchSize(count, even), size);
      const batches = Math.ceil(count / size);
      if (even) assert.ok(batches === Math.ceil(count / BATCH_MAX), 'as few batches as BATCH_MAX allows');
      assert.ok(size * batches >= count && size * (batches - 1) < count, 'sizes cover every command, no empty batch');
    });
  }
});

describe('fitToMaxParallel: max_parallel split over the nodes placement used', () => {
  const cases: Array<[name: string, groups: Record<string, number[]>, maxParallel: number, want: Array<[string, number, number]>]> = [
    [
      'even spread',
      { a: [0, 3], b: [1, 4], c: [2, 5] },
      6,
      [
        ['a', 2, 2],
        ['b', 2, 2],
        ['c', 2, 2],
      ],
    ],
    [
      'largest remainder goes to the biggest share',
      { a: [0, 1, 2, 3], b: [4, 5] },
      4,
      [
        ['a', 4, 3],
        ['b', 2, 1],
      ],
    ],
    [
      'every kept node gets at least one',
      { a: Array.from({ length: 98 }, (_, i) => i), b: [98], c: [99] },
      3,
      [
        ['a', 98, 1],
        ['b', 1, 1],
        ['c', 1, 1],
      ],
    ],
    // More nodes than max_parallel: the extra nodes' commands move round-robin onto the largest groups.
    ['max_parallel 1 keeps one node', { a: [0, 2], b: [1] }, 1, [['a', 3, 1]]],
    [
      'max_parallel 2 of three nodes',
      { a: [0, 3, 5], b: [1, 4], c: [2] },
      2,
      [
        ['a', 4, 1],
        ['b', 2, 1],
      ],
    ],
    ['empty groups are dropped', { a: [0], b: [] }, 8, [['a', 1, 8]]],
  ];
  for (const [name, groups, maxParallel, want] of cases) {
    it(name, () => {
      const got = fitToMaxParallel(groups, maxParallel);
      assert.deepEqual(
        got.map((g) => [g.nodeId, g.indices.length, g.share]),
        want,
      );
      assert.equal(
        got.reduce((n, g) => n + g.share, 0),
        maxParallel,
        'shares sum to max_parallel',
      );
      const all = got.flatMap((g) => g.indices).sort((x, y) => x - y);
      assert.deepEqual(
        all,
        Object.values(groups)
          .flat()
          .sort((x, y) => x - y),
        'every command kept, once',
      );
      for (const g of got)
        assert.deepEqual(
          g.indices,
          [...g.indices].sort((x, y) => x - y),
          'indices ascending',
        );
    });
  }
  it('no commands: no shares', () => assert.deepEqual(fitToMaxParallel({}, 4), []));
});

describe('streamCapFor: inline output per stream, shared out of the budget', () => {
  const cases: Array<[count: number, cap: number]> = [
    [1, RESULT_STREAM_CAP],
    [6, RESULT_STREAM_CAP],
    [100, Math.floor(OUTPUT_BUDGET / 100 / 2)],
    [1000, Math.floor(OUTPUT_BUDGET / 1000 / 2)],
    [10_000, 256],
  ];
  for (const [count, cap] of cases) it(`${count} commands → ${cap} B`, () => assert.equal(streamCapFor(count), cap));
});

describe('groupByNode', () => {
  it('groups command indices per node, in input order', () => assert.deepEqual(groupByNode(['a', 'b', 'a']), { a: [0, 2], b: [1] }));
  it('a re-placement maps positions to the command indices it covers', () => assert.deepEqual(groupByNode(['b', 'c', 'b'], [4, 7, 9]), { b: [4, 9], c: [7] }));
});

describe('planBatches: per node, its batches', () => {
  const cases: Array<
    [
      name: string,
      n: number,
      nodes: string[],
      over: Partial<PlanInput>,
      capacity: Record<string, number>,
      want: Record<string, Array<[items: number, concurrency: number]>>,
    ]
  > = [
    ['300 over three nodes: one batch each, 21-22 at once capped at 8', 300, ['a', 'b', 'c'], {}, {}, { a: [[100, 8]], b: [[100, 8]], c: [[100, 8]] }],
    ['max_parallel 6: 2 per node', 300, ['a', 'b', 'c'], { maxParallel: 6 }, {}, { a: [[100, 2]], b: [[100, 2]], c: [[100, 2]] }],
    ['a node of capacity 3', 30, ['a', 'b'], {}, { a: 3 }, { a: [[15, 3]], b: [[15, 8]] }],
    [
      '10,000 over three nodes: even batches of at most 1,000',
      10_000,
      ['a', 'b', 'c'],
      {},
      {},
      {
        a: [
          [834, 8],
          [834, 8],
          [834, 8],
          [832, 8],
        ],
        b: [
          [834, 8],
          [834, 8],
          [834, 8],
          [831, 8],
        ],
        c: [
          [834, 8],
          [834, 8],
          [834, 8],
          [831, 8],
        ],
      },
    ],
    [
      'an older fan-out: chunks of 250',
      600,
      ['a'],
      { evenBatches: undefined },
      {},
      {
        a: [
          [250, 8],
          [250, 8],
          [100, 8],
        ],
      },
    ],
  ];
  for (const [name, n, nodes, over, capacity, want] of cases) {
    it(name, () => {
      const plan = planBatches(input(n, over), placed(n, nodes, capacity));
      assert.deepEqual(Object.fromEntries([...plan].map(([id, bs]) => [id, bs.map((b) => [b.items.length, b.concurrency])])), want);
      const all = [...plan.values()].flat();
      assert.deepEqual(
        all.flatMap((b) => b.items.map((it) => it.index)).sort((x, y) => x - y),
        Array.from({ length: n }, (_, i) => i),
        'every command in exactly one batch',
      );
      for (const b of all) {
        assert.equal(b.parentId, 'par-x');
        assert.equal(b.streamCap, streamCapFor(n));
        assert.match(b.routeReason, new RegExp(`least loaded: ${b.nodeId}`));
        for (const it of b.items) assert.equal(it.command, `cmd ${it.index}`);
      }
    });
  }
  it('carries approvals, outputs-to-return and the ssh retry budget to every batch', () => {
    const plan = planBatches(input(4, { approved: ['rm-rf'], notFinal: true, sshRetries: 3, cwd: '/w', env: { A: '1' } }), placed(4, ['a', 'b']));
    for (const b of [...plan.values()].flat()) {
      assert.deepEqual([b.approved, b.notFinal, b.sshRetries, b.cwd, b.env], [['rm-rf'], true, 3, '/w', { A: '1' }]);
    }
  });
  it('a note is added to every route reason (a re-placement says why)', () => {
    const plan = planBatches(input(2), placed(2, ['a']), { note: 'after b unreachable' });
    assert.match(plan.get('a')![0]!.routeReason, /least loaded: a \(after b unreachable\)$/);
  });
});

describe('planReplacement: an unreachable node’s batch onto the others', () => {
  it('keeps each command once, at the failed batch’s concurrency capped by capacity, saying why', () => {
    const failed = planBatches(input(6), placed(6, ['a', 'b', 'c'])).get('a')!;
    assert.deepEqual(
      failed[0]!.items.map((it) => it.index),
      [0, 3],
    );
    const again = placed(2, ['b', 'c'], { b: 1 });
    const groups = planReplacement(input(6), failed[0]!, again, 'after a unreachable: refused');
    assert.deepEqual(
      groups.map(([id, bs]) => [id, bs.map((b) => [b.items.map((it) => it.index), b.concurrency])]),
      [
        ['b', [[[0], 1]]],
        ['c', [[[3], 8]]],
      ],
    );
    for (const [, bs] of groups) assert.match(bs[0]!.routeReason, /\(after a unreachable: refused\)$/);
  });
});

describe('fanoutResult: the commands’ results as the fan-out’s', () => {
  const cases: Array<
    [name: string, results: CommandResult[], forced: undefined | 'cancelled', state: string, summary: [ok: number, failed: number, cancelled: number]]
  > = [
    ['all succeeded', [ok(0, 'a'), ok(1, 'b')], undefined, 'completed', [2, 0, 0]],
    ['one failed', [ok(0, 'a'), ok(1, 'b', { success: false, return_code: 1 })], undefined, 'failed', [1, 1, 0]],
    ['one cancelled', [ok(0, 'a'), unranResult('par-x/1', '', 'cancelled before it started', 'cancelled', '')], undefined, 'failed', [1, 0, 1]],
    ['the fan-out was cancelled', [ok(0, 'a'), unranResult('par-x/1', '', 'cancelled', 'cancelled', '')], 'cancelled', 'cancelled', [1, 0, 1]],
  ];
  for (const [name, results, forced, state, [succeeded, failed, cancelled]] of cases) {
    it(name, () => {
      const r = fanoutResult('par-x', 12, results, forced);
      assert.equal(r.state, state);
      assert.deepEqual([r.summary.total, r.summary.succeeded, r.summary.failed, r.summary.cancelled], [results.length, succeeded, failed, cancelled]);
      assert.deepEqual(r.results, results);
      assert.equal(r.results_omitted, undefined);
    });
  }
  it('counts per node only the commands that ran there', () => {
    const r = fanoutResult('par-x', 1, [ok(0, 'a'), ok(1, 'a', { success: false }), unranResult('par-x/2', '', 'x', 'cancelled', '')]);
    assert.deepEqual(r.summary.by_node, { a: { succeeded: 1, failed: 1 } });
  });
  it(`over ${INLINE_RESULTS_MAX} commands: only failures, at most 100, and says so`, () => {
    const results = Array.from({ length: INLINE_RESULTS_MAX + 200 }, (_, i) => (i % 5 === 0 ? ok(i, 'a', { success: false, return_code: 2 }) : ok(i, 'a')));
    const r = fanoutResult('par-x', 1, results);
    assert.equal(r.results_omitted, true);
    assert.equal(r.results.length, 100);
    assert.ok(r.results.every((x) => !x.success));
    assert.equal(r.summary.failed, (INLINE_RESULTS_MAX + 200) / 5);
  });
});

describe('completeFanout: the waiter’s answer from the batches this process ran', () => {
  const byId = (rs: CommandResult[]) => new Map(rs.map((r) => [r.task_id, r]));
  it('none while a command has no result yet', () => assert.equal(completeFanout('par-x', 3, byId([ok(0, 'a'), ok(2, 'b')]), 5), null));
  it('none when a command was stopped (the workflow says why)', () =>
    assert.equal(completeFanout('par-x', 2, byId([ok(0, 'a'), unranResult('par-x/1', '', 'x', 'cancelled', '')]), 5), null));
  it('every result in input order, whatever order they came in', () => {
    const r = completeFanout('par-x', 3, byId([ok(2, 'b'), ok(0, 'a'), ok(1, 'a', { success: false, return_code: 1 })]), 7)!;
    assert.deepEqual(
      r.results.map((x) => x.task_id),
      ['par-x/0', 'par-x/1', 'par-x/2'],
    );
    assert.deepEqual([r.state, r.duration_ms, r.summary.failed], ['failed', 7, 1]);
  });
});

describe('planInputOf: the same plan from the workflow and from the head start', () => {
  const spec = { commands: ['a', 'b'], requires: {}, maxParallel: 4, timeoutS: 9, sshRetries: 2, approved: ['rule'] };
  it('carries what the batches need; even batches as asked', () => {
    assert.deepEqual(planInputOf('par-x', spec, true), {
      parentId: 'par-x',
      commands: ['a', 'b'],
      maxParallel: 4,
      timeoutS: 9,
      cwd: undefined,
      env: undefined,
      approved: ['rule'],
      sshRetries: 2,
      evenBatches: true,
    });
    assert.equal(planInputOf('par-x', spec, false).evenBatches, undefined);
  });
  it('a workspace that returns outputs: its batches are not the final answer', () =>
    assert.equal(planInputOf('par-x', { ...spec, workspace: { outputs: ['out/**'] } as never }, true).notFinal, true));
});
