// clusterMonitorWorkflow on a real dev server with mocked probes: it continues as new after its
// rounds (two here, via MonitorInput.roundsPerRun), keeps what it knows of each node across runs,
// and a refresh update after the continue-as-new still answers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MONITOR_WORKFLOW_ID, nodeQueue } from '../../src/shared.js';
import { monitor } from '../helpers/wfScenarios.js';
import { startWorkflowEnv, type WorkflowEnv } from '../helpers/workflowEnv.js';

describe('clusterMonitorWorkflow (mocked probes, real server)', { timeout: 60_000 }, () => {
  let w: WorkflowEnv;
  before(async () => {
    w = await startWorkflowEnv(['n1', 'n2']);
  });
  after(async () => {
    await w?.client.workflow
      .getHandle(MONITOR_WORKFLOW_ID)
      .terminate('test over')
      .catch(() => undefined);
    await w?.close();
  });

  it('continues as new with its node states, and answers a refresh after it', async () => {
    const r = await monitor(w);
    const { beforeCan, afterCan, refreshed } = r.result!;
    assert.deepEqual([beforeCan.nodes.n1?.status, beforeCan.nodes.n2?.status], ['healthy', 'healthy']);
    assert.equal((await r.handle.describe()).status.name, 'CONTINUED_AS_NEW');

    // The new run's first probe of n2 failed: it still knows what n2 is and when it was last seen.
    const n2 = afterCan.nodes.n2!;
    assert.equal(n2.status, 'unreachable');
    assert.match(n2.reason ?? '', /ECONNREFUSED/);
    assert.deepEqual([n2.os, n2.arch, n2.last_seen], ['linux', 'x86_64', '2026-01-01T00:00:02.000Z']);
    assert.equal(afterCan.nodes.n1?.status, 'healthy');

    assert.ok(refreshed.probed_at && refreshed.probed_at >= afterCan.probed_at!, 'the refresh answers with a round of its own');
    assert.deepEqual(Object.keys(refreshed.nodes).sort(), ['n1', 'n2']);
    assert.equal(refreshed.nodes.n2?.os, 'linux');

    const probes = r.calls.of('probeNode');
    for (const c of probes) assert.equal(c.queue, nodeQueue(c.input.nodeId), 'each node is probed on its own queue');
    // Two rounds in the first run, two in the second (its first, and the refresh's).
    const n2Probes = probes.filter((c) => c.input.nodeId === 'n2').length;
    assert.ok(n2Probes >= 4, `n2 probed ${n2Probes} times`);
  });
});
