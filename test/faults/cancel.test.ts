// Fault: a user cancels a running task from another process (the CLI). The task must end as
// cancelled, and its whole process group must be gone from the node.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { faultSummary, markedProcesses, settleStrays, startFaultHarness, startTask, userProcesses, waitFor, type FaultHarness } from '../helpers/faults.js';

interface Status {
  task_id: string;
  state: string;
  success?: boolean;
  error?: string | null;
  stdout?: string;
}

// The two cases run at once: each waits out the SDK's heartbeat throttle (see the report line).
describe('faults: cancel from the CLI kills the task on the node', { concurrency: true }, () => {
  let h: FaultHarness;
  let tasks = 0;
  let stray = 0;
  let lost = 0;
  before(async () => {
    h = await startFaultHarness({ nodes: 1 });
  });
  after(async () => {
    faultSummary('cancel', { tasks, lost, duplicated: 0, stray });
    await h?.close();
  });

  const cases = [
    { name: 'n1 (SSH)', tool: 'offload_to' as const, args: { node_id: 'n1' } },
    { name: 'local', tool: 'cluster_bash' as const, args: { auto_route: false } },
  ];
  for (const c of cases) {
    it(`${c.name}: cancel → state cancelled, the group is killed`, async (t) => {
      const m = `1000.${randomInt(1e8, 1e9)}`;
      tasks++;
      // Ignores TERM too: cancel must escalate to KILL like a timeout does.
      const taskId = await startTask(h, c.tool, { ...c.args, command: `echo started; bash -c 'trap "" TERM; sleep ${m} & sleep ${m}'` });
      await waitFor('the command to run', async () => (await markedProcesses(`sleep ${m}`)).length >= 2, 15_000);

      const started = Date.now();
      const res = await h.cli(['cancel', taskId, '--json']);
      const elapsed = Date.now() - started;
      assert.equal(res.code, 0, res.stderr);
      const s = JSON.parse(res.stdout) as Status;
      t.diagnostic(`${c.name}: cancel returned in ${elapsed} ms: ${s.state} (${s.error})`);
      if (s.state === 'running') lost++;
      assert.equal(s.state, 'cancelled', res.stdout);
      assert.equal(s.success, false);

      // The CLI's status agrees (the workflow result is durable, not just the cancel reply).
      const status = JSON.parse((await h.cli(['status', taskId, '--json'])).stdout) as Status;
      assert.equal(status.state, 'cancelled');

      const left = await settleStrays(() => markedProcesses(`sleep ${m}`), 8000);
      stray += left.length;
      assert.deepEqual(left, [], `stray processes: ${JSON.stringify(left)}`);
      if (c.name !== 'local') {
        const user = h.cluster.nodes[0]!.user;
        const others = await settleStrays(() => userProcesses(user));
        stray += others.length;
        assert.deepEqual(others, [], `processes of ${user} left besides sshd: ${JSON.stringify(others)}`);
      }
    });
  }
});
