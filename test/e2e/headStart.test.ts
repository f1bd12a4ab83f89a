// Head start: `serve` launches a named node's command itself as soon as there is a durable
// record of it (its workflow; once a start has succeeded, its launch-journal record, the
// workflow being started after the command answered), and the workflow's activity re-attaches
// to that run. Here serve polls only the
// node queues (--no-hub), so no workflow task can run until the test starts a hub worker:
// whatever the MCP client gets before that came from the head start alone.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client as TemporalClient } from '@temporalio/client';
import type { CommandResult } from '../../src/shared.js';
import { markedProcesses, resultOf, settleStrays, spawnWorker, startFaultHarness, temporalClient, waitFor, type FaultHarness } from '../helpers/faults.js';
import { structured } from '../helpers/harness.js';

type Status = CommandResult & { workflow_url: string };

describe('head start: offload_to answers from the serving process', () => {
  let h: FaultHarness;
  let temporal: { client: TemporalClient; close(): Promise<void> };
  before(async () => {
    h = await startFaultHarness({ nodes: 1, serveArgs: ['--no-hub'], extraNodeYaml: { n1: { max_parallel: 2 } } });
    temporal = await temporalClient(h);
  });
  after(async () => {
    await temporal?.close();
    await h?.close();
  });

  const offload = async (nodeId: string, command: string, waitS: number) =>
    structured<Status & { state: string }>(await h.mcp.callTool({ name: 'offload_to', arguments: { command, node_id: nodeId, wait_s: waitS } }));
  const workflowTasksStarted = async (taskId: string) => {
    const history = await temporal.client.workflow.getHandle(taskId).fetchHistory();
    return (history.events ?? []).filter((e) => e.workflowTaskStartedEventAttributes).length;
  };

  for (const nodeId of ['n1', 'local']) {
    it(`${nodeId}: a run whose workflow is terminated before its activity starts is killed`, async () => {
      const m = `1000.${randomInt(1e8, 1e9)}`;
      const r = await offload(nodeId, `echo started; sleep ${m}`, 1);
      assert.equal(r.state, 'running', JSON.stringify(r));
      await waitFor('the head-started command to run', async () => (await markedProcesses(`sleep ${m}`)).length >= 1, 10_000);
      assert.equal(await workflowTasksStarted(r.task_id), 0, 'no workflow task can have run without a hub worker');
      await temporal.client.workflow.getHandle(r.task_id).terminate('test: before the activity started');
      const left = await settleStrays(() => markedProcesses(`sleep ${m}`), 12_000);
      assert.deepEqual(left, [], `the head-started run outlived its terminated workflow: ${JSON.stringify(left)}`);
    });
  }

  it('answers before any workflow task ran; the workflow then records the same single run', async () => {
    const runs = `/tmp/cf-head-start-${randomInt(1e8, 1e9)}`; // the node user's home outlives the test
    const r = await offload('n1', `echo run >>${runs}; echo out; echo err >&2; exit 4`, 30);
    assert.deepEqual(
      [r.state, r.return_code, r.stdout, r.stderr, r.executed_on, r.auto_routed, r.route_reason],
      ['failed', 4, 'out\n', 'err\n', 'n1', false, 'explicit: offload to n1'],
      JSON.stringify(r),
    );
    assert.match(r.error ?? '', /exit code 4/);
    // The answer came from serve alone: the workflow has not had a single task yet. (Once a start
    // has succeeded, serve starts a head-started command's workflow after it answered: a moment later.)
    const described = await waitFor(
      'the workflow to be started',
      () =>
        temporal.client.workflow
          .getHandle(r.task_id)
          .describe()
          .catch(() => undefined),
      10_000,
    );
    assert.equal(described.status.name, 'RUNNING');
    assert.equal(await workflowTasksStarted(r.task_id), 0);
    const status = structured<Status>(await h.mcp.callTool({ name: 'task_status', arguments: { task_id: r.task_id } }));
    assert.deepEqual([status.state, status.return_code, status.stdout], ['failed', 4, 'out\n']);

    // A hub worker (no node queues: serve keeps those) lets the workflow run; its runCommand
    // (in serve) takes the head start's result: no second run.
    spawnWorker(h, ['--nodes', '']);
    const recorded = await resultOf(temporal.client, r.task_id);
    assert.deepEqual(
      [recorded.state, recorded.return_code, recorded.stdout, recorded.stderr, recorded.executed_on, recorded.route_reason],
      ['failed', 4, 'out\n', 'err\n', 'n1', 'explicit: offload to n1'],
    );
    const ran = await offload('n1', `cat ${runs}; rm -f ${runs}`, 30);
    assert.equal(ran.stdout, 'run\n', 'the command ran more than once');
  });

  it('a command still running when its activity starts: the activity re-attaches, one run, one result', async () => {
    const runs = `/tmp/cf-head-start-${randomInt(1e8, 1e9)}`;
    const r = await offload('n1', `echo run >>${runs}; sleep 1.5; echo done`, 30);
    assert.deepEqual([r.state, r.return_code, r.stdout], ['completed', 0, 'done\n'], JSON.stringify(r));
    const recorded = await resultOf(temporal.client, r.task_id);
    assert.deepEqual([recorded.state, recorded.return_code, recorded.stdout], ['completed', 0, 'done\n']);
    // The activity started while the command ran (so it could not take a finished result).
    const history = await temporal.client.workflow.getHandle(r.task_id).fetchHistory();
    const at = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null } | undefined) =>
      Number(e?.eventTime?.seconds ?? 0) * 1000 + (e?.eventTime?.nanos ?? 0) / 1e6;
    const actStarted = at(history.events?.find((e) => e.activityTaskStartedEventAttributes));
    const wfStarted = at(history.events?.[0]);
    assert.ok(actStarted - wfStarted < 1400, `the activity started ${actStarted - wfStarted} ms in: too late to test a re-attach`);
    const ran = await offload('n1', `cat ${runs}; rm -f ${runs}`, 30);
    assert.equal(ran.stdout, 'run\n', 'the command ran more than once');
  });

  it("head starts keep within the node's max_parallel (2 here): the rest wait for a slot", async () => {
    const log = `/tmp/cf-head-start-${randomInt(1e8, 1e9)}`;
    const command = `echo "$(date +%s%N) +1" >>${log}; sleep 0.8; echo "$(date +%s%N) -1" >>${log}`;
    const all = await Promise.all(Array.from({ length: 5 }, () => offload('n1', command, 60)));
    assert.deepEqual(
      all.map((r) => r.state),
      Array(5).fill('completed'),
      JSON.stringify(all),
    );
    const events = (await offload('n1', `cat ${log}; rm -f ${log}`, 30)).stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([t, d]) => [Number(t), Number(d)] as const)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    assert.equal(events.length, 10);
    let now = 0;
    let most = 0;
    for (const [, d] of events) most = Math.max(most, (now += d));
    assert.equal(most, 2, `up to ${most} ran at once on n1`);
  });
});
