import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeConfig, NodeState, Settings } from '../../src/shared.js';
import {
  NoEligibleNodeError,
  OVER_THRESHOLD_PENALTY,
  UNKNOWN_METRIC_RATIO,
  normaliseArch,
  normaliseOs,
  pickNode,
  scoreNode,
  type PlacementRequest,
} from '../../src/cluster/placement.js';

const settings: Settings = {
  sshTimeoutS: 5,
  sshConnectTimeoutS: 2,
  sshRetries: 2,
  cpuThreshold: 40,
  loadThreshold: 4,
  memoryThreshold: 80,
  cmdTimeoutS: 300,
  statusTimeoutS: 5,
  ipCacheTtlS: 300,
  workspaceMaxBytes: 2 ** 31,
  workspaceMaxFiles: 200_000,
  hostKeyPolicy: 'accept-new',
  offloadCommands: [],
  localCommands: [],
};

const node = (id: string, extra: Partial<NodeConfig> = {}): NodeConfig => ({
  id,
  local: false,
  host: `${id}.test`,
  port: 22,
  capabilities: [],
  specialties: [],
  maxParallel: 8,
  priority: 0,
  ...extra,
});

/** A probed state: cpu%, load1, mem%, cores (as a monitor would record them). */
const probed = (id: string, cpu: number, load1: number, mem: number, cores = 8, extra: Partial<NodeState> = {}): NodeState => ({
  id,
  status: 'healthy',
  os: 'linux',
  arch: 'x86_64',
  cpu_percent: cpu,
  memory_percent: mem,
  load_avg: [load1, load1, load1],
  cores,
  in_flight: 0,
  capabilities: [],
  ...extra,
});

const heavy: PlacementRequest = { weight: 'heavy' };

describe('normaliseOs / normaliseArch', () => {
  const osCases: [string, string | undefined][] = [
    ['linux', 'linux'],
    ['Linux', 'linux'],
    ['Darwin', 'macos'],
    ['macos', 'macos'],
    [' darwin\n', 'macos'],
    ['windows', undefined],
    ['', undefined],
  ];
  for (const [input, want] of osCases) it(`os ${JSON.stringify(input)} → ${want}`, () => assert.equal(normaliseOs(input), want));
  const archCases: [string, string | undefined][] = [
    ['x86_64', 'x86_64'],
    ['amd64', 'x86_64'],
    ['AMD64', 'x86_64'],
    ['aarch64', 'arm64'],
    ['arm64', 'arm64'],
    ['armv7l', undefined],
    ['i686', undefined],
  ];
  for (const [input, want] of archCases) it(`arch ${JSON.stringify(input)} → ${want}`, () => assert.equal(normaliseArch(input), want));
});

describe('scoreNode', () => {
  const cases: { name: string; state: NodeState | undefined; reserved?: number; maxParallel?: number; score: number; over: number }[] = [
    // cpu 20/40 + (4/8)/(4/4) + 40/80 = 0.5 + 0.5 + 0.5
    { name: 'under every threshold', state: probed('a', 20, 4, 40), score: 1.5, over: 0 },
    { name: 'reservations add reserved/maxParallel', state: probed('a', 20, 4, 40), reserved: 4, score: 2.5, over: 0 },
    // load/core 2.5 > 1: one penalty
    { name: 'load per core over threshold', state: probed('a', 20, 20, 40), score: 0.5 + 2.5 + 0.5 + OVER_THRESHOLD_PENALTY, over: 1 },
    { name: 'cpu and memory over', state: probed('a', 80, 0, 96), score: 2 + 0 + 1.2 + 2 * OVER_THRESHOLD_PENALTY, over: 2 },
    // without cores, load1 is compared to the absolute threshold (the original tool's meaning)
    { name: 'unknown cores: absolute load', state: { ...probed('a', 0, 2, 0), cores: undefined }, score: 0.5, over: 0 },
    { name: 'never probed: neutral ratios', state: undefined, score: 3 * UNKNOWN_METRIC_RATIO, over: 0 },
    { name: 'exactly at threshold is not over', state: probed('a', 40, 8, 80), score: 3, over: 0 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = scoreNode(node('a', { maxParallel: c.maxParallel ?? 8 }), c.state, c.reserved ?? 0, settings);
      assert.ok(Math.abs(s.score - c.score) < 1e-9, `score ${s.score} != ${c.score}`);
      assert.equal(s.over.length, c.over);
    });
  }
  it('reports full at maxParallel', () => {
    assert.equal(scoreNode(node('a', { maxParallel: 2 }), probed('a', 0, 0, 0), 2, settings).full, true);
    assert.equal(scoreNode(node('a', { maxParallel: 2 }), probed('a', 0, 0, 0), 1, settings).full, false);
  });
  it('names the exceeded figure', () => {
    assert.deepEqual(scoreNode(node('a'), probed('a', 10, 19.2, 10), 0, settings).over, ['load/core 2.40 over threshold 1.00']);
  });
});

describe('pickNode: heavy', () => {
  const nodes = [node('n1'), node('n2'), node('n3')];
  it('picks the least loaded node and explains against the runner-up', () => {
    const states = { n1: probed('n1', 30, 19.2, 50), n2: probed('n2', 12, 1.6, 40), n3: probed('n3', 25, 4, 60) };
    const p = pickNode(heavy, nodes, states, { n2: 1 }, settings);
    assert.equal(p.nodeId, 'n2');
    assert.match(p.reason, /^heavy: n2 least loaded — cpu 12%, load\/core 0\.20, mem 40%, 1 in flight; runner-up n3: scored 1\.88 /);
    assert.match(p.reason, /; n1 skipped: load\/core 2\.40 over threshold 1\.00$/);
  });
  it('avoids a node over a threshold while another is under', () => {
    const states = { n1: probed('n1', 1, 0, 95), n2: probed('n2', 39, 7.9, 79) };
    assert.equal(pickNode(heavy, nodes.slice(0, 2), states, {}, settings).nodeId, 'n2');
  });
  it('still places when every node is over a threshold, saying so', () => {
    const states = { n1: probed('n1', 90, 40, 50), n2: probed('n2', 95, 6, 50) };
    const p = pickNode(heavy, nodes.slice(0, 2), states, {}, settings);
    assert.equal(p.nodeId, 'n2');
    assert.match(p.reason, /n2 least loaded though over threshold \(cpu 95% over threshold 40%\)/);
  });
  it('skips a node at max_parallel unless all are full', () => {
    const two = [node('n1', { maxParallel: 2 }), node('n2', { maxParallel: 2 })];
    const states = { n1: probed('n1', 0, 0, 10), n2: probed('n2', 35, 7, 70) };
    const p = pickNode(heavy, two, states, { n1: 2 }, settings);
    assert.equal(p.nodeId, 'n2');
    assert.match(p.reason, /runner-up n1: full \(2\/2 in flight\)/);
    const allFull = pickNode(heavy, two, states, { n1: 3, n2: 2 }, settings);
    assert.equal(allFull.nodeId, 'n2');
    assert.match(allFull.reason, /every node under threshold is full, n2 least reserved/);
  });
  it('breaks ties by higher priority, then by id', () => {
    const states = { a: probed('a', 10, 1, 10), b: probed('b', 10, 1, 10), c: probed('c', 10, 1, 10) };
    assert.equal(pickNode(heavy, [node('c'), node('b'), node('a')], states, {}, settings).nodeId, 'a');
    assert.equal(pickNode(heavy, [node('a'), node('b', { priority: 5 }), node('c')], states, {}, settings).nodeId, 'b');
  });
  it('uses the reservations passed in, not state.in_flight', () => {
    const states = { n1: probed('n1', 10, 1, 10, 8, { in_flight: 50 }), n2: probed('n2', 10, 1, 10) };
    assert.equal(pickNode(heavy, nodes.slice(0, 2), states, { n2: 1 }, settings).nodeId, 'n1');
  });
  it('spreads a burst: 30 picks, one node at high load → the other two get ~15 each', () => {
    // max_parallel 24: room for the whole burst on one node, so only the scoring spreads it.
    const burstNodes = [node('n1', { maxParallel: 24 }), node('n2', { maxParallel: 24 }), node('n3', { maxParallel: 24 })];
    // Recorded metrics: n1 busy (load/core 3.0), n2 and n3 quiet but not identical.
    const states = { n1: probed('n1', 85, 24, 70), n2: probed('n2', 10, 0.8, 35), n3: probed('n3', 20, 1.6, 40) };
    const reservations: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const { nodeId } = pickNode(heavy, burstNodes, states, reservations, settings);
      reservations[nodeId] = (reservations[nodeId] ?? 0) + 1;
    }
    assert.equal(reservations.n1 ?? 0, 0);
    for (const id of ['n2', 'n3']) {
      const got = reservations[id] ?? 0;
      assert.ok(got >= 10.5 && got <= 19.5, `${id} got ${got} of 30 (${JSON.stringify(reservations)})`);
    }
  });
});

describe('pickNode: light', () => {
  const local = node('local', { local: true, host: undefined });
  const states = { local: probed('local', 95, 40, 95), n1: probed('n1', 1, 0, 1) };
  it('runs on the local node when it is eligible, however loaded', () => {
    assert.deepEqual(pickNode({ weight: 'light' }, [node('n1'), local], states, {}, settings), {
      nodeId: 'local',
      reason: 'light command: runs on the local node',
    });
  });
  it('falls back to scoring when the local node does not qualify', () => {
    const p = pickNode({ weight: 'light', requiresOs: 'linux' }, [node('n1'), { ...local, os: 'macos' }], states, {}, settings);
    assert.equal(p.nodeId, 'n1');
    assert.match(p.reason, /^light, local node local not eligible \(os is macos, linux required\): n1 least loaded/);
  });
  it('scores when there is no local node', () => {
    const p = pickNode({ weight: 'light' }, [node('n1'), node('n2')], { n1: probed('n1', 50, 1, 1), n2: probed('n2', 1, 1, 1) }, {}, settings);
    assert.equal(p.nodeId, 'n2');
    assert.match(p.reason, /^light, no local node: n2/);
  });
});

describe('pickNode: requirements', () => {
  const nodes = [node('n1', { os: 'linux', arch: 'x86_64', capabilities: ['docker'] }), node('n2', { os: 'macos', arch: 'arm64' }), node('n3'), node('n4')];
  const states: Record<string, NodeState> = {
    n1: probed('n1', 10, 1, 10),
    n2: probed('n2', 10, 1, 10, 8, { os: 'macos', arch: 'arm64' }),
    n3: { id: 'n3', status: 'unreachable', reason: 'connection refused', in_flight: 0, capabilities: [] },
    n4: { id: 'n4', status: 'unknown', in_flight: 0, capabilities: [] },
  };
  const errorCases: { name: string; req: PlacementRequest; exclusions: Record<string, string> }[] = [
    {
      name: 'os',
      req: { weight: 'heavy', requiresOs: 'macos', requiresCapabilities: ['xcode'] },
      exclusions: {
        n1: 'os is linux, macos required; lacks capability xcode',
        n2: 'lacks capability xcode',
        n3: 'unreachable (connection refused)',
        n4: 'os unknown (not probed yet; set os in cluster.yaml), macos required; lacks capability xcode',
      },
    },
    {
      name: 'arch and capabilities',
      req: { weight: 'light', requiresArch: 'arm64', requiresCapabilities: ['docker', 'gpu'] },
      exclusions: {
        n1: 'arch is x86_64, arm64 required; lacks capability gpu',
        n2: 'lacks capabilities docker, gpu',
        n3: 'unreachable (connection refused)',
        n4: 'arch unknown (not probed yet; set arch in cluster.yaml), arm64 required; lacks capabilities docker, gpu',
      },
    },
  ];
  for (const c of errorCases) {
    it(`lists why every node was excluded: ${c.name}`, () => {
      assert.throws(
        () => pickNode(c.req, nodes, states, {}, settings),
        (err: unknown) => {
          assert.ok(err instanceof NoEligibleNodeError);
          assert.deepEqual(err.exclusions, c.exclusions);
          for (const [id, why] of Object.entries(c.exclusions)) assert.ok(err.message.includes(`${id}: ${why}`), err.message);
          return true;
        },
      );
    });
  }
  const okCases: { name: string; req: PlacementRequest; want: string }[] = [
    { name: 'os from config', req: { weight: 'heavy', requiresOs: 'macos' }, want: 'n2' },
    { name: 'capability from config', req: { weight: 'heavy', requiresCapabilities: ['docker'] }, want: 'n1' },
  ];
  for (const c of okCases) it(`satisfies ${c.name}`, () => assert.equal(pickNode(c.req, nodes, states, {}, settings).nodeId, c.want));

  it('uses the probed os/arch/capabilities when config says nothing', () => {
    const withProbe = { ...states, n3: probed('n3', 5, 0, 5, 4, { os: 'macos', capabilities: ['xcode'] }) };
    const p = pickNode({ weight: 'heavy', requiresOs: 'macos', requiresCapabilities: ['xcode'] }, nodes, withProbe, {}, settings);
    assert.equal(p.nodeId, 'n3');
    assert.match(p.reason, /excluded: n1 \(os is linux, macos required; lacks capability xcode\)/);
  });
  it('lets config override the probe for os', () => {
    const p = pickNode({ weight: 'heavy', requiresOs: 'linux' }, [node('x', { os: 'linux' })], { x: probed('x', 1, 1, 1, 8, { os: 'macos' }) }, {}, settings);
    assert.equal(p.nodeId, 'x');
  });
  it('allows a never-probed node when nothing is required of it', () => {
    assert.equal(pickNode(heavy, [node('n4')], { n4: states.n4! }, {}, settings).nodeId, 'n4');
    assert.equal(pickNode(heavy, [node('n5')], {}, {}, settings).nodeId, 'n5');
  });
  it('says so when the cluster is empty', () => {
    assert.throws(() => pickNode(heavy, [], {}, {}, settings), /no eligible node: the cluster has no nodes/);
  });
});
