// Fault: a node's sshd dies (with every session under it) while ~30 auto-routed heavy tasks
// are running or queued across the cluster. Every task must be accounted for: it succeeded,
// was re-routed away from the dead node (route_reason says so), or failed with a reason.
// None may be lost (every call returns a final state), and none may run twice.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stopNodeSshd } from '../../src/testcluster/localCluster.js';
import { structured } from '../helpers/harness.js';
import { faultSummary, startFaultHarness, waitFor, type FaultHarness } from '../helpers/faults.js';

interface Result {
  success: boolean;
  state: string;
  executed_on: string;
  stdout: string;
  error: string | null;
  route_reason: string;
  task_id: string;
}

const TASKS = 30;
const VICTIM = 'n1';

describe("faults: a node's sshd dies under load", () => {
  let h: FaultHarness;
  const tag = randomBytes(4).toString('hex');
  let homes: Record<string, string> = {};
  before(async () => {
    h = await startFaultHarness({ nodes: 3 });
    const me = userInfo();
    homes = Object.fromEntries([['local', me.homedir], ...h.cluster.nodes.map((n) => [n.id, n.user === me.username ? me.homedir : `/home/${n.user}`])]);
  });
  after(async () => {
    for (const home of new Set(Object.values(homes))) {
      for (let i = 0; i < TASKS; i++) await rm(path.join(home, `sshd-${tag}-${i}`), { force: true });
    }
    await h?.close();
  });

  /** How many times task i started, per node (its command appends "start" to a file in the node user's home). */
  async function startsOf(i: number): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [node, home] of Object.entries(homes)) {
      const text = await readFile(path.join(home, `sshd-${tag}-${i}`), 'utf8').catch(() => '');
      const n = text.split('\n').filter((l) => l === 'start').length;
      if (n > 0) out[node] = (out[node] ?? 0) + n;
    }
    return out;
  }

  it(`${TASKS} heavy tasks, ${VICTIM}'s sshd killed mid-run: none lost`, async (t) => {
    const started = Date.now();
    const calls = Array.from({ length: TASKS }, (_, i) =>
      h.mcp
        .callTool(
          { name: 'cluster_bash', arguments: { command: `make -f /dev/null -q x; echo start >> ~/sshd-${tag}-${i}; sleep 1; echo ok`, wait_s: 120 } },
          undefined,
          { timeout: 180_000 },
        )
        .then(
          (res) => ({ ...structured<Result>(res), answeredMs: Date.now() - started }),
          (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
        ),
    );

    // Kill while tasks run on the victim (one has started there) and others still wait.
    await waitFor(
      `a task to start on ${VICTIM}`,
      async () => {
        for (let i = 0; i < TASKS; i++) if ((await startsOf(i))[VICTIM]) return true;
        return false;
      },
      30_000,
    );
    await stopNodeSshd(h.cluster.dir, VICTIM);
    const killedAt = Date.now() - started;

    const results = await Promise.all(calls);
    const counts = { tasks: TASKS, lost: 0, duplicated: 0, stray: 0, ok: 0, rerouted: 0, failed: 0, on_victim: 0 };
    const byNode: Record<string, number> = {};
    for (const [i, r] of results.entries()) {
      const starts = await startsOf(i);
      const runs = Object.values(starts).reduce((a, b) => a + b, 0);
      if (r instanceof Error || r.state === 'running') {
        counts.lost++;
        t.diagnostic(`task ${i} lost: ${r instanceof Error ? r.message : JSON.stringify(r)}`);
        continue;
      }
      if (runs > 1) {
        counts.duplicated++;
        t.diagnostic(`task ${i} ran ${runs} times ${JSON.stringify(starts)}: ${r.state} on ${r.executed_on}: ${r.route_reason}`);
      }
      byNode[r.executed_on || '-'] = (byNode[r.executed_on || '-'] ?? 0) + 1;
      if (r.success) {
        counts.ok++;
        assert.equal(r.stdout, 'ok\n');
        if (r.executed_on === VICTIM) {
          counts.on_victim++;
          t.diagnostic(`task ${i} succeeded on ${VICTIM}, answered ${r.answeredMs - killedAt} ms after the kill`);
        }
        if (new RegExp(`${VICTIM} unreachable`).test(r.route_reason)) counts.rerouted++;
      } else {
        counts.failed++;
        t.diagnostic(`task ${i} failed on ${r.executed_on}: ${r.error}`);
        assert.ok(r.error && r.error.length > 0, `task ${i} failed without a reason: ${JSON.stringify(r)}`);
      }
    }
    t.diagnostic(`sshd killed at ${killedAt} ms; all ${TASKS} answered after ${Date.now() - started} ms; by node ${JSON.stringify(byNode)}`);
    faultSummary('sshd-kill', counts);
    assert.equal(counts.lost, 0);
    assert.equal(counts.duplicated, 0);
    assert.equal(counts.ok + counts.failed, TASKS);
    // The kill must have hit work in flight: something re-routed or failed because of it.
    assert.ok(counts.rerouted + counts.failed > 0, 'the sshd kill affected no task: the test proved nothing');
  });
});
