// A command with a synced workspace, on a real dev server with mocked activities: the origin's
// queue syncs before the command and gets the outputs and the lease back after it, whatever the
// exit code; an origin that cannot reach the node re-routes the command.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nodeQueue } from '../../src/shared.js';
import { ClusterExitCode } from '../../src/workflows/searchAttributes.js';
import { treeOn, workspace, workspaceReroute, workspaceSpec } from '../helpers/wfScenarios.js';
import { ORIGIN_QUEUE, startWorkflowEnv, type WorkflowEnv } from '../helpers/workflowEnv.js';

describe('commandWorkflow with a synced workspace (mocked activities, real server)', { concurrency: true, timeout: 90_000 }, () => {
  let w: WorkflowEnv;
  before(async () => {
    w = await startWorkflowEnv();
  });
  after(async () => {
    await w?.close();
  });

  it('syncs on the origin queue first, runs in the synced tree, then returns outputs and the lease though the command exits 2', async () => {
    const r = await workspace(w);
    assert.equal(r.error, undefined);
    const tree = treeOn('n1');
    assert.deepEqual(
      r.calls.map((c) => [c.name, c.queue]),
      [
        ['syncWorkspace', ORIGIN_QUEUE],
        ['runCommand', nodeQueue('n1')],
        ['returnOutputs', ORIGIN_QUEUE],
        ['releaseWorkspace', ORIGIN_QUEUE],
      ],
    );
    const [sync, run, back, release] = r.calls;
    assert.deepEqual(sync!.input, { taskId: r.id, nodeId: 'n1', ws: workspaceSpec, leaseS: 30 + 600 });
    assert.equal(run!.input.cwd, `${tree}/proj`, 'the command runs in the synced copy of the cwd');
    assert.equal(run!.input.notFinal, true, 'its result is not the final answer: outputs come back after it');
    assert.deepEqual(back!.input, { nodeId: 'n1', tree, nodeCwd: `${tree}/proj`, globs: ['build/*.bin'], originCwd: workspaceSpec.cwd });
    assert.deepEqual(release!.input, { nodeId: 'n1', tree, taskId: r.id });
    const res = r.result!;
    assert.equal(res.return_code, 2);
    assert.equal(res.state, 'failed');
    assert.deepEqual(res.workspace, { mode: 'sync', node_path: `${tree}/proj`, files: 12, bytes_sent: 3400, blobs_reused: 0, sync_ms: 40 });
    assert.deepEqual(res.outputs_returned, [{ path: 'build/app.bin', size: 1234 }]);
    const desc = await r.handle.describe();
    assert.equal(desc.status.name, 'COMPLETED', 'a command that ran and exited non-zero is a result, not a failed workflow');
    assert.equal(desc.typedSearchAttributes.get(ClusterExitCode), 2);
  });

  it("re-routes when the origin cannot reach the node to sync (after the sync's own retries)", async () => {
    const r = await workspaceReroute(w);
    assert.equal(r.error, undefined);
    assert.deepEqual(
      r.calls.of('placeCommand').map((c) => c.input.exclude),
      [[], ['n1']],
    );
    assert.deepEqual(
      r.calls.of('syncWorkspace').map((c) => [c.queue, c.input.nodeId, c.attempt]),
      [
        [ORIGIN_QUEUE, 'n1', 1],
        [ORIGIN_QUEUE, 'n1', 2],
        [ORIGIN_QUEUE, 'n1', 3],
        [ORIGIN_QUEUE, 'n2', 1],
      ],
    );
    assert.deepEqual(
      r.calls.of('runCommand').map((c) => [c.queue, c.input.cwd]),
      [[nodeQueue('n2'), `${treeOn('n2')}/proj`]],
    );
    assert.deepEqual(
      r.calls.of('returnOutputs').map((c) => c.input.tree),
      [treeOn('n2')],
    );
    assert.deepEqual(
      r.calls.of('releaseWorkspace').map((c) => c.input.tree),
      [treeOn('n2')],
      'no lease on n1 to give back',
    );
    const res = r.result!;
    assert.equal(res.executed_on, 'n2');
    assert.equal(res.success, true);
    assert.match(res.route_reason, /^least loaded: n2 \(after n1 unreachable: n1: connect ECONNREFUSED/);
    assert.equal(res.workspace?.node_path, `${treeOn('n2')}/proj`);
  });
});
