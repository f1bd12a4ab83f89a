// Fault: a command outlives its timeout_s, even ignoring SIGTERM. The task must end as
// timed_out within timeout + kill grace, keep the output printed so far, and leave no process
// behind on the node (the whole process group is TERMed, then KILLed).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { structured } from '../helpers/harness.js';
import { faultSummary, markedProcesses, settleStrays, startFaultHarness, userProcesses, type FaultHarness } from '../helpers/faults.js';

interface Result {
  success: boolean;
  state: string;
  stdout: string;
  stderr: string;
  error: string | null;
  executed_on: string;
  return_code: number | null;
}

const TIMEOUT_S = 2;
/** timeout + the 5 s TERM→KILL grace + SSH / workflow overhead. */
const MAX_ELAPSED_MS = 12_000;

describe('faults: timeout kills the whole process group', () => {
  let h: FaultHarness;
  let tasks = 0;
  let stray = 0;
  let lost = 0;
  before(async () => {
    h = await startFaultHarness({ nodes: 1 });
  });
  after(async () => {
    faultSummary('timeout', { tasks, lost, duplicated: 0, stray });
    await h?.close();
  });

  // A fresh, unique duration per case: pgrep -f finds exactly this test's sleeps.
  const marker = () => `1000.${randomInt(1e8, 1e9)}`;
  const cases = [
    { name: 'n1 (SSH)', call: (command: string) => ({ name: 'offload_to', arguments: { command, node_id: 'n1', timeout_s: TIMEOUT_S } }) },
    { name: 'local', call: (command: string) => ({ name: 'cluster_bash', arguments: { command, auto_route: false, timeout_s: TIMEOUT_S } }) },
  ];

  for (const c of cases) {
    it(`${c.name}: a group that ignores TERM is KILLed after the grace, nothing left`, async (t) => {
      const m = marker();
      const started = Date.now();
      tasks++;
      const r = structured<Result>(await h.mcp.callTool(c.call(`bash -c 'trap "" TERM; sleep ${m} & sleep ${m}'`)));
      const elapsed = Date.now() - started;
      t.diagnostic(`${c.name}: timed out after ${elapsed} ms (${r.error})`);
      if (!r.state) lost++;
      assert.equal(r.state, 'timed_out', JSON.stringify(r));
      assert.equal(r.success, false);
      assert.match(r.error ?? '', /timed out after 2 s/);
      assert.ok(elapsed >= TIMEOUT_S * 1000, `returned before the timeout: ${elapsed} ms`);
      assert.ok(elapsed <= MAX_ELAPSED_MS, `took ${elapsed} ms`);
      const left = await settleStrays(() => markedProcesses(`sleep ${m}`), 1000);
      stray += left.length;
      assert.deepEqual(left, [], `stray processes: ${JSON.stringify(left)}`);
      if (c.name !== 'local') {
        const user = h.cluster.nodes[0]!.user;
        const others = await settleStrays(() => userProcesses(user));
        stray += others.length;
        assert.deepEqual(others, [], `processes of ${user} left besides sshd: ${JSON.stringify(others)}`);
      }
    });

    it(`${c.name}: output printed before the timeout is returned`, async () => {
      const m = marker();
      const started = Date.now();
      tasks++;
      const r = structured<Result>(await h.mcp.callTool(c.call(`echo before-the-timeout; echo to-stderr >&2; sleep ${m}`)));
      const elapsed = Date.now() - started;
      if (!r.state) lost++;
      assert.equal(r.state, 'timed_out', JSON.stringify(r));
      assert.equal(r.stdout, 'before-the-timeout\n');
      assert.match(r.stderr, /^to-stderr\n/); // then bash may say "Terminated"
      // sleep dies on TERM: no grace needed.
      assert.ok(elapsed < TIMEOUT_S * 1000 + 4000, `took ${elapsed} ms`);
      const left = await settleStrays(() => markedProcesses(`sleep ${m}`), 1000);
      stray += left.length;
      assert.deepEqual(left, []);
    });
  }
});
