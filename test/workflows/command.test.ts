// commandWorkflow on a real dev server with mocked activities: re-route of an unreachable node,
// re-attach on the same node after the command was sent, cancel, and a task that gets no result
// of its own. Scenarios run at once (each routes its own activity calls).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { explicitRouteReason, FailureType, HUB_QUEUE, nodeQueue, type CommandResult } from '../../src/shared.js';
import { ClusterNode, ClusterState } from '../../src/workflows/searchAttributes.js';
import { cancel, headStart, headStartLong, noEligibleNode, outcomeUnknown, pinAfterSend, reroute } from '../helpers/wfScenarios.js';
import { startWorkflowEnv, type WorkflowEnv } from '../helpers/workflowEnv.js';

/** The TaskFailed failure a workflow failed with, and the result it carries. */
function taskFailed(error: unknown): { failure: ApplicationFailure; result: CommandResult } {
  assert.ok(error instanceof WorkflowFailedError, `expected the workflow to fail, got ${String(error)}`);
  assert.ok(error.cause instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(error.cause)}`);
  assert.equal(error.cause.type, FailureType.TaskFailed);
  return { failure: error.cause, result: error.cause.details?.[0] as CommandResult };
}

describe('commandWorkflow (mocked activities, real server)', { concurrency: true, timeout: 90_000 }, () => {
  let w: WorkflowEnv;
  before(async () => {
    w = await startWorkflowEnv();
  });
  after(async () => {
    await w?.close();
  });

  it('re-places an auto-routed command whose node was unreachable (nothing sent) and runs it on the next node', async () => {
    const r = await reroute(w);
    assert.equal(r.error, undefined);
    assert.deepEqual(
      r.calls.of('placeCommand').map((c) => c.input.exclude),
      [[], ['n1']],
    );
    assert.deepEqual(
      r.calls.of('runCommand').map((c) => [c.queue, c.input.nodeId, c.attempt]),
      [
        [nodeQueue('n1'), 'n1', 1],
        [nodeQueue('n2'), 'n2', 1],
      ],
    );
    const res = r.result!;
    assert.equal(res.executed_on, 'n2');
    assert.equal(res.success, true);
    assert.match(res.route_reason, /^least loaded: n2 \(after n1 unreachable: n1: connect ECONNREFUSED/);
    // The node was told the same reason the result gives.
    assert.equal(r.calls.of('runCommand')[1]!.input.routeReason, res.route_reason);
    assert.equal(r.calls.of('releasePlacement').length, 2, 'each placement is given back');
    const desc = await r.handle.describe();
    assert.equal(desc.status.name, 'COMPLETED');
    assert.equal(desc.typedSearchAttributes.get(ClusterNode), 'n2');
    assert.equal(desc.typedSearchAttributes.get(ClusterState), 'completed');
  });

  it('a head-started command that ended at once is recorded from the first workflow task, without runCommand', async () => {
    const r = await headStart(w);
    assert.equal(r.error, undefined);
    assert.deepEqual(
      r.calls.map((c) => [c.name, c.queue]),
      [['headStartResult', HUB_QUEUE]],
    );
    assert.equal(r.calls[0]!.input.taskId, r.id);
    const res = r.result!;
    assert.deepEqual([res.executed_on, res.return_code, res.route_reason, res.auto_routed], ['n1', 3, explicitRouteReason('n1'), false]);
    const desc = await r.handle.describe();
    // A command that ran and exited 3 completes its workflow; its state says how it ended.
    assert.equal(desc.status.name, 'COMPLETED');
    assert.equal(desc.typedSearchAttributes.get(ClusterState), res.state);
    const events = (await r.handle.fetchHistory()).events ?? [];
    assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0, 'no activity task');
    assert.equal(events.filter((e) => e.workflowTaskCompletedEventAttributes).length, 1, 'one workflow task');
    // Lean: one patch marker for every patch, and the node the start named is not upserted again.
    const patchMarkers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
    assert.equal(patchMarkers.length, 1, 'one patch marker');
    const upserted = events.flatMap((e) => Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}));
    assert.deepEqual(upserted.sort(), ['ClusterExitCode', 'ClusterState', 'TemporalChangeVersion']);
    assert.equal(events.filter((e) => e.workflowPropertiesModifiedEventAttributes).length, 0, 'no memo upsert');
    assert.equal(desc.typedSearchAttributes.get(ClusterNode), 'n1');
    assert.equal(desc.memo?.node, 'n1');
  });

  it('a head-started command still running after the wait (or launched elsewhere) goes on to runCommand, marked as sent', async () => {
    const r = await headStartLong(w);
    assert.equal(r.error, undefined);
    assert.deepEqual(
      r.calls.map((c) => c.name),
      ['headStartResult', 'runCommand'],
    );
    assert.equal(r.calls.of('runCommand')[0]!.input.headStart, true);
    assert.equal(r.result!.executed_on, 'n1');
  });

  it('after the command was sent, re-attaches on the same node (never re-placed) until it answers', async () => {
    const r = await pinAfterSend(w);
    assert.equal(r.error, undefined);
    assert.equal(r.calls.of('placeCommand').length, 1, 'placed once, never again');
    const runs = r.calls.of('runCommand');
    assert.deepEqual(
      runs.map((c) => c.queue),
      Array(4).fill(nodeQueue('n1')),
    );
    // Three attempts of the activity, then the workflow's own re-attach (a new activity) after its pause.
    assert.deepEqual(
      runs.map((c) => c.attempt),
      [1, 2, 3, 1],
    );
    assert.equal(r.result!.executed_on, 'n1');
    assert.equal(r.result!.success, true);
    assert.equal(r.result!.route_reason, 'least loaded: n1');
    assert.ok(r.result!.duration_ms >= 5000, `re-attached after the 5 s pause (took ${r.result!.duration_ms} ms)`);
  });

  it('fails with "outcome is unknown" when the node stays lost past the command\'s timeout', async () => {
    const r = await outcomeUnknown(w);
    const { failure, result } = taskFailed(r.error);
    assert.match(failure.message, /lost contact with n1 until the 9 s timeout, so the command's outcome is unknown/);
    assert.equal(result.state, 'failed');
    assert.equal(result.executed_on, 'n1');
    assert.equal(r.calls.of('placeCommand').length, 1);
    const runs = r.calls.of('runCommand');
    assert.deepEqual(
      runs.map((c) => [c.queue, c.attempt]),
      [1, 2, 3, 1, 2, 3].map((a) => [nodeQueue('n1'), a]),
    );
    // The re-attach gets what is left of the timeout, not a fresh one.
    assert.ok(runs[3]!.input.timeoutS < runs[0]!.input.timeoutS, `${runs[3]!.input.timeoutS} < ${runs[0]!.input.timeoutS}`);
    assert.equal((await r.handle.describe()).status.name, 'FAILED');
  });

  it('cancelling the workflow cancels its running runCommand, and the result says cancelled', async () => {
    const r = await cancel(w);
    assert.equal(r.error, undefined);
    assert.deepEqual(r.seen.activity, { error: 'CancelledFailure', cancelRequested: true });
    assert.equal(r.result!.state, 'cancelled');
    assert.equal(r.result!.executed_on, 'n1');
    assert.equal(r.result!.error, 'cancelled before the command finished');
    assert.equal(r.calls.of('runCommand').length, 1);
    assert.equal(r.calls.of('releasePlacement').length, 1, 'the placement is given back despite the cancel');
    const desc = await r.handle.describe();
    assert.equal(desc.typedSearchAttributes.get(ClusterState), 'cancelled');
  });

  it('a task that gets no result of its own (no eligible node) fails its workflow, the result in the failure details', async () => {
    const r = await noEligibleNode(w);
    const { failure, result } = taskFailed(r.error);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /no eligible node: n1 \(linux, needs macos\)/);
    assert.equal(result.task_id, r.id);
    assert.equal(result.state, 'failed');
    assert.equal(result.executed_on, '');
    assert.equal(result.error, failure.message);
    assert.equal(r.calls.of('placeCommand').length, 1, 'NoEligibleNode is not retried');
    assert.equal(r.calls.of('runCommand').length, 0);
    const desc = await r.handle.describe();
    assert.equal(desc.status.name, 'FAILED');
    assert.equal(desc.typedSearchAttributes.get(ClusterState), 'failed');
  });
});
