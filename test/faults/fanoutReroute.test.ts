// Fault: a node's sshd is down when a fan-out is placed, and the cluster state (probed long
// ago) still calls it healthy. Its batch cannot reach it and nothing was sent, so the fan-out
// places those commands on the other nodes: every command runs once, none on the dead node.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stopNodeSshd } from '../../src/testcluster/localCluster.js';
import { faultSummary, startFaultHarness, type FaultHarness } from '../helpers/faults.js';
import { structured } from '../helpers/harness.js';

interface Result {
  success: boolean;
  state: string;
  executed_on: string;
  stdout: string;
  route_reason: string;
  error: string | null;
}
interface Fanout {
  state: string;
  summary: { total: number; succeeded: number };
  results: Result[];
}

const COMMANDS = 24;
const VICTIM = 'n1';

describe('faults: a fan-out placed on a node that is down', () => {
  let h: FaultHarness;
  before(async () => {
    // One probe at the start, none after: placement believes the victim is healthy.
    h = await startFaultHarness({ nodes: 3, env: { CLUSTERFLOW_MONITOR_INTERVAL_S: '3600' } });
  });
  after(async () => {
    await h?.close();
  });

  it(`${VICTIM}'s commands are placed on the other nodes, each run once`, async (t) => {
    const status = structured<{ nodes: Record<string, { status: string }> }>(await h.mcp.callTool({ name: 'cluster_status', arguments: { refresh: true } }));
    assert.match(status.nodes[VICTIM]?.status ?? '', /^(healthy|busy)$/, JSON.stringify(status));
    await stopNodeSshd(h.cluster.dir, VICTIM);

    const started = Date.now();
    // Every node user appends to one shared directory: a command run twice shows two lines.
    const dir = path.join(h.dir, 'runs');
    mkdirSync(dir, { mode: 0o1777 });
    chmodSync(dir, 0o1777);
    const commands = Array.from({ length: COMMANDS }, (_, i) => `echo ran >>${dir}/${i}; echo ${i}`);
    const r = structured<Fanout>(await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands, wait_s: 120 } }, undefined, { timeout: 180_000 }));
    const rerouted = r.results.filter((x) => new RegExp(`after ${VICTIM} unreachable`).test(x.route_reason));
    t.diagnostic(
      `answered in ${Date.now() - started} ms; ${rerouted.length} re-placed; by node ${JSON.stringify(r.results.reduce<Record<string, number>>((m, x) => ({ ...m, [x.executed_on]: (m[x.executed_on] ?? 0) + 1 }), {}))}`,
    );
    const runs = commands.map((_, i) =>
      existsSync(path.join(dir, String(i)))
        ? readFileSync(path.join(dir, String(i)), 'utf8')
            .split('\n')
            .filter(Boolean).length
        : 0,
    );
    const duplicated = runs.filter((n) => n > 1).length;
    faultSummary('fanout-reroute', {
      tasks: COMMANDS,
      lost: COMMANDS - r.results.length,
      duplicated,
      stray: 0,
      rerouted: rerouted.length,
      failed: COMMANDS - r.summary.succeeded,
    });
    assert.deepEqual(runs, Array(COMMANDS).fill(1), 'every command runs exactly once');
    assert.equal(r.state, 'completed', JSON.stringify(r.results.filter((x) => !x.success).slice(0, 3)));
    assert.equal(r.summary.succeeded, COMMANDS);
    r.results.forEach((x, i) => {
      assert.notEqual(x.executed_on, VICTIM);
      assert.equal(x.stdout, `${i}\n`);
    });
    assert.ok(rerouted.length > 0, 'no command had been placed on the victim: the test proved nothing');
  });
});
