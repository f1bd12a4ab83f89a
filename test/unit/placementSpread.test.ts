// spreadPlacement must place a fan-out exactly as one pickNode call per command would (each
// counting the reservations before it): a table of cluster shapes, then seeded random ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NoEligibleNodeError, pickNode, type PlacementRequest } from '../../src/cluster/placement.js';
import { spreadPlacement } from '../../src/cluster/placementSpread.js';
import type { NodeConfig, NodeState, Settings } from '../../src/shared.js';

const settings = { cpuThreshold: 40, loadThreshold: 4, memoryThreshold: 80 } as Settings;

const node = (id: string, extra: Partial<NodeConfig> = {}): NodeConfig =>
  ({ id, local: false, host: '127.0.0.1', port: 22, capabilities: [], specialties: [], maxParallel: 8, priority: 0, ...extra }) as NodeConfig;
const state = (id: string, cpu?: number, load1?: number, mem?: number, extra: Partial<NodeState> = {}): NodeState => ({
  id,
  status: 'healthy',
  os: 'linux',
  arch: 'x86_64',
  ...(cpu !== undefined ? { cpu_percent: cpu } : {}),
  ...(mem !== undefined ? { memory_percent: mem } : {}),
  ...(load1 !== undefined ? { load_avg: [load1, load1, load1] as [number, number, number], cores: 4 } : {}),
  in_flight: 0,
  capabilities: [],
  ...extra,
});

/** The reference: one pickNode per command, its reservation counted before the next. */
function oneByOne(req: PlacementRequest, nodes: NodeConfig[], states: Record<string, NodeState>, counts: Record<string, number>, count: number) {
  const out: string[] = [];
  const firstReasons: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const p = pickNode(req, nodes, states, counts, settings);
    counts[p.nodeId] = (counts[p.nodeId] ?? 0) + 1;
    firstReasons[p.nodeId] ??= p.reason;
    out.push(p.nodeId);
  }
  return { nodes: out, firstReasons };
}

function assertSame(
  req: PlacementRequest & { weight: 'heavy' },
  nodes: NodeConfig[],
  states: Record<string, NodeState>,
  counts: Record<string, number>,
  count: number,
) {
  const want = oneByOne(req, nodes, states, { ...counts }, count);
  const mine = { ...counts };
  const got = spreadPlacement(req, nodes, states, mine, settings, count);
  assert.deepEqual(got.nodes, want.nodes);
  assert.deepEqual(got.firstReasons, want.firstReasons);
  assert.deepEqual(Object.keys(got.firstReasons), Object.keys(want.firstReasons), 'first placements in the same order');
  // counts comes back with every placement added
  for (const id of new Set(want.nodes)) assert.equal(mine[id], (counts[id] ?? 0) + want.nodes.filter((n) => n === id).length);
}

describe('spreadPlacement', () => {
  const heavy = { weight: 'heavy' as const };
  const table: Array<{
    name: string;
    nodes: NodeConfig[];
    states: Record<string, NodeState>;
    counts?: Record<string, number>;
    req?: Omit<Partial<PlacementRequest>, 'weight'>;
  }> = [
    {
      name: 'three idle equal nodes',
      nodes: [node('a'), node('b'), node('c')],
      states: { a: state('a', 1, 0.1, 10), b: state('b', 1, 0.1, 10), c: state('c', 1, 0.1, 10) },
    },
    {
      name: 'unequal load and capacity',
      nodes: [node('a', { maxParallel: 2 }), node('b', { maxParallel: 16 }), node('c')],
      states: { a: state('a', 5, 0.5, 20), b: state('b', 30, 2, 50), c: state('c') },
    },
    { name: 'one over a threshold', nodes: [node('a'), node('b')], states: { a: state('a', 95, 0.1, 10), b: state('b', 10, 0.1, 10) } },
    { name: 'already reserved elsewhere', nodes: [node('a'), node('b')], states: {}, counts: { a: 7, b: 0 } },
    { name: 'priority breaks ties', nodes: [node('a'), node('b', { priority: 5 })], states: {} },
    { name: 'a specialist wins ties', nodes: [node('a'), node('b', { specialties: ['compile'] })], states: {}, req: { kinds: ['compile'] } },
    {
      name: 'excluded and mismatched nodes',
      nodes: [node('a'), node('b', { os: 'macos' }), node('c')],
      states: { c: state('c', 1, 0.1, 1) },
      req: { requiresOs: 'linux', excludeNodes: { a: 'policy refuses' } },
    },
    {
      name: 'an unreachable node and a local one',
      nodes: [node('a', { local: true }), node('b'), node('c')],
      states: { b: state('b', 1, 0.1, 1, { status: 'unreachable' }) },
    },
  ];
  for (const t of table)
    it(`${t.name}: the same nodes and reasons as pickNode per command`, () => assertSame({ ...heavy, ...t.req }, t.nodes, t.states, t.counts ?? {}, 100));

  it('random clusters (seeded): the same as pickNode per command', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const maybe = (x: number) => (rnd() < 0.2 ? undefined : x);
    for (let round = 0; round < 200; round++) {
      const nodes = Array.from({ length: 1 + Math.floor(rnd() * 5) }, (_, i) =>
        node(`n${i}`, {
          maxParallel: 1 + Math.floor(rnd() * 12),
          priority: Math.floor(rnd() * 3),
          local: rnd() < 0.15,
          specialties: rnd() < 0.3 ? ['build'] : [],
        }),
      );
      const states = Object.fromEntries(
        nodes.filter(() => rnd() < 0.8).map((n) => [n.id, state(n.id, maybe(rnd() * 100), maybe(rnd() * 8), maybe(rnd() * 100))]),
      );
      const counts = Object.fromEntries(nodes.filter(() => rnd() < 0.4).map((n) => [n.id, Math.floor(rnd() * 10)]));
      assertSame({ ...heavy, ...(rnd() < 0.5 ? { kinds: ['build'] } : {}) }, nodes, states, counts, 1 + Math.floor(rnd() * 60));
    }
  });

  it('no eligible node: the error pickNode gives, naming every node', () => {
    const nodes = [node('a', { os: 'macos' }), node('b', { os: 'macos' })];
    assert.throws(
      () => spreadPlacement({ weight: 'heavy', requiresOs: 'linux' }, nodes, {}, {}, settings, 3),
      (err: unknown) => {
        assert.ok(err instanceof NoEligibleNodeError);
        assert.deepEqual(Object.keys(err.exclusions), ['a', 'b']);
        return true;
      },
    );
  });
});
