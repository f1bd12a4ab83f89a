// parallelWorkflow on a real dev server with mocked activities: an unreachable node's batch is
// placed again on the others; a fan-out placed by its starter needs no placeBatch, and the
// batches it launched itself are marked so for their runBatch (re-placed ones are not), and
// those that already ended are recorded in the first workflow task without one; a node's
// share over 1,000 commands runs as child batch workflows of even size that a stop of one
// command reaches; results come back in input order.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { commandResultQuery } from '../../src/messages.js';
import { nodeQueue } from '../../src/shared.js';
import {
  CHILDREN_COMMANDS,
  parallelChildren,
  parallelHeadStart,
  parallelHeadStartEnded,
  parallelPlaced,
  parallelReplace,
  STOPPED,
} from '../helpers/wfScenarios.js';
import { startWorkflowEnv, type WorkflowEnv } from '../helpers/workflowEnv.js';

const indices = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('parallelWorkflow (mocked activities, real server)', { concurrency: true, timeout: 90_000 }, () => {
  let w: WorkflowEnv;
  before(async () => {
    w = await startWorkflowEnv();
  });
  after(async () => {
    await w?.close();
  });

  it('re-places the commands of a node that proved unreachable on the other nodes: one result each, none on it', async () => {
    const r = await parallelReplace(w);
    assert.equal(r.error, undefined);
    const res = r.result!;
    assert.deepEqual(
      res.results.map((x) => x.task_id),
      indices(6).map((i) => `${r.id}/${i}`),
    );
    assert.deepEqual(res.summary, { total: 6, succeeded: 6, failed: 0, cancelled: 0, by_node: res.summary.by_node });
    for (const x of res.results) assert.ok(['n2', 'n3'].includes(x.executed_on), `${x.task_id} ran on ${x.executed_on}`);
    const place = r.calls.of('placeBatch');
    assert.equal(place.length, 2);
    assert.equal(place[0]!.input.exclude, undefined);
    assert.deepEqual([place[1]!.input.exclude, place[1]!.input.indices, place[1]!.input.count], [['n1'], [0, 3], 2]);
    const batches = r.calls.of('runBatch');
    assert.deepEqual(
      batches.filter((c) => c.input.nodeId === 'n1').map((c) => [c.queue, c.attempt]),
      [[nodeQueue('n1'), 1]],
      'a non-retryable NodeUnreachable is not retried',
    );
    // Every command was sent exactly once to a node that answered.
    const sent = batches.filter((c) => c.input.nodeId !== 'n1').flatMap((c) => c.input.items.map((it: { index: number }) => it.index));
    assert.deepEqual(sent.sort(), indices(6));
    for (const i of [0, 3]) assert.match(res.results[i]!.route_reason, /\(after n1 unreachable: n1: connect ECONNREFUSED/);
    assert.deepEqual(
      r.calls.of('releasePlacement').map((c) => c.input.taskId),
      [r.id],
    );
  });

  it('runs a fan-out placed by the process that started it without placeBatch: its batches go out in the first workflow task', async () => {
    const r = await parallelPlaced(w);
    assert.equal(r.error, undefined);
    const res = r.result!;
    assert.deepEqual(
      res.results.map((x) => [x.task_id, x.executed_on]),
      indices(6).map((i) => [`${r.id}/${i}`, ['n1', 'n2', 'n3'][i % 3]]),
    );
    assert.equal(r.calls.of('placeBatch').length, 0);
    assert.deepEqual(
      r.calls
        .of('runBatch')
        .map((c) => [c.queue, c.input.items.map((it: { index: number }) => it.index)])
        .sort(([a], [b]) => (a < b ? -1 : 1)),
      [
        [nodeQueue('n1'), [0, 3]],
        [nodeQueue('n2'), [1, 4]],
        [nodeQueue('n3'), [2, 5]],
      ],
    );
    const events = (await r.handle.fetchHistory()).events ?? [];
    const firstTask = events.find((e) => e.workflowTaskCompletedEventAttributes)!.eventId!.toString();
    const scheduledBy = events.flatMap((e) =>
      e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.workflowTaskCompletedEventId!.toString()] : [],
    );
    assert.deepEqual(scheduledBy, [firstTask, firstTask, firstTask], 'the three batches are scheduled by the first workflow task');
    assert.deepEqual(
      r.calls.of('releasePlacement').map((c) => c.input.taskId),
      [r.id],
    );
  });

  it('marks the batches its starter launched (spec.headStart) for their runBatch, and no batch it placed again', async () => {
    const r = await parallelHeadStart(w);
    assert.equal(r.error, undefined);
    const res = r.result!;
    assert.deepEqual(res.summary, { total: 6, succeeded: 6, failed: 0, cancelled: 0, by_node: res.summary.by_node });
    const batches = r.calls
      .of('runBatch')
      .map((c) => [c.input.nodeId, c.input.items.map((it: { index: number }) => it.index), c.input.headStart ?? false] as const);
    const first = batches.filter(([, ix]) => ix.length === 2);
    assert.deepEqual(
      first.sort(([a], [b]) => (a < b ? -1 : 1)),
      [
        ['n1', [0, 3], true],
        ['n2', [1, 4], true],
        ['n3', [2, 5], false],
      ],
    );
    // n3's commands 2 and 5, placed again on n1 and n2: new batches, which no launch covered.
    const again = batches.filter(([, ix]) => ix.length === 1);
    assert.deepEqual(again.map(([, ix, hs]) => [ix[0], hs]).sort(), [
      [2, false],
      [5, false],
    ]);
    assert.equal(r.calls.of('placeBatch').length, 1, 'only the re-placement');
  });

  it('records the head-started batches that already ended from the first task (one local activity, no runBatch); the rest go to runBatch', async () => {
    const r = await parallelHeadStartEnded(w);
    assert.equal(r.error, undefined);
    const res = r.result!;
    assert.deepEqual(
      res.results.map((x) => [x.task_id, x.executed_on, x.stdout]),
      indices(6).map((i) => [`${r.id}/${i}`, ['n1', 'n2', 'n3'][i % 3], i % 3 === 0 ? `early ${i}\n` : `ran ${i}\n`]),
    );
    assert.deepEqual(
      r.calls.of('fanoutHeadStartResults').map((c) => c.input),
      [{ parentId: r.id, nodeIds: ['n1', 'n2', 'n3'] }],
    );
    assert.deepEqual(
      r.calls
        .of('runBatch')
        .map((c) => [c.input.nodeId, c.input.items.map((it: { index: number }) => it.index), c.input.headStart])
        .sort(),
      [
        ['n2', [1, 4], true],
        ['n3', [2, 5], true],
      ],
      "n1's batch is recorded without runBatch; n2's mismatched answer is ignored",
    );
    const events = (await r.handle.fetchHistory()).events ?? [];
    assert.equal(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').length, 1, 'one patch marker (lean)');
    assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 2);
  });

  it("runs a node's 1,200 commands as two child batch workflows of even size; a stop of one command reaches its child; results in input order", async () => {
    const r = await parallelChildren(w);
    assert.equal(r.error, undefined);
    const res = r.result!;
    // Over INLINE_RESULTS_MAX: the result lists the failed ones only; each command's own result is asked for.
    assert.equal(res.results_omitted, true);
    assert.deepEqual(
      res.results.map((x) => [x.task_id, x.state]),
      [[`${r.id}/${STOPPED}`, 'cancelled']],
    );
    for (const i of [0, STOPPED + 1, 599, 600, CHILDREN_COMMANDS - 1]) {
      const one = await r.handle.query(commandResultQuery, i);
      assert.equal(one?.task_id, `${r.id}/${i}`, 'input order, though each batch answered in reverse');
    }
    assert.deepEqual([res.summary.succeeded, res.summary.cancelled, res.summary.failed], [CHILDREN_COMMANDS - 1, 1, 0]);
    const batches = r.calls.of('runBatch');
    assert.deepEqual(
      batches.map((c) => [c.workflowId, c.queue, c.input.items.length, c.input.after]),
      [
        [`${r.id}/n1-0`, nodeQueue('n1'), 600, undefined],
        // Chained: the second batch's lanes take over the first one's as they run dry.
        [`${r.id}/n1-1`, nodeQueue('n1'), 600, `${r.id}/n1-0`],
      ],
    );
    const history = (await r.handle.fetchHistory()).events ?? [];
    const patches = history.flatMap((e) =>
      e.markerRecordedEventAttributes?.markerName === 'core_patch' ? [JSON.stringify(e.markerRecordedEventAttributes.details)] : [],
    );
    assert.equal(patches.length, 2, 'the lean marker and the chained-batches one');
    // The second child started before the first one ended (one workflow task started both).
    const startedAt = (id: string) => history.findIndex((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId === id);
    const endedAt = (id: string) => history.findIndex((e) => e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId === id);
    assert.ok(startedAt(`${r.id}/n1-1`) >= 0 && startedAt(`${r.id}/n1-1`) < endedAt(`${r.id}/n1-0`), 'n1-1 started while n1-0 ran');
    assert.equal(r.seen.stopSeenBy, `${r.id}/n1-0`, 'the stop reached the child that owns the command');
    for (const child of [`${r.id}/n1-0`, `${r.id}/n1-1`]) {
      const d = await w.client.workflow.getHandle(child).describe();
      assert.deepEqual([d.type, d.status.name], ['batchWorkflow', 'COMPLETED']);
    }
    assert.equal(r.calls.of('placeBatch').length, 1);
  });
});
