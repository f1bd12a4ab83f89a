import { CancellationScope, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { planBatches, placementRequest } from '../cluster/fanoutPlan.js';
import { stopQuery, stopSignal } from '../messages.js';
import type { BatchInput, CommandResult, ParallelResult, ParallelSpec } from '../shared.js';
import { Fanout } from './fanout.js';
import { placeBatch, releasePlacement, runBatchOn } from './fanoutActivities.js';

/** Marks histories whose fan-out came placed in its input (older ones always run placeBatch first). */
const PLACED_BY_STARTER_PATCH = 'fanout-placed-by-starter';
/**
 * Marks lean fan-out histories: this one marker stands for every patch of the fan-out (here and in
 * fanout.ts; each patched() call costs a marker and a search-attribute upsert), and the batches
 * that the starting process's head start already ran are recorded from the first workflow task
 * (Fanout.recordEndedHeadStarts) instead of their runBatch activities. Older histories do neither.
 */
const FANOUT_LEAN_PATCH = 'fanout-lean-head-start';

/**
 * parallel_execute: place every command (spread by load and capacity with reservations; a
 * fan-out is for throughput, so light commands go to the nodes too), plan node-batches that fit
 * max_parallel (cluster/fanoutPlan.ts), and run them: per node one after another, across nodes
 * at once; a node's single batch runs in this workflow's own activity, more as child
 * workflows. Every command keeps its own task id (`<parent>/<i>`) and result. Cancelling the
 * parent stops every batch, which kills running commands and reports which ran.
 */
export async function parallelWorkflow(spec: ParallelSpec): Promise<ParallelResult> {
  const lean = patched(FANOUT_LEAN_PATCH);
  const fanout = new Fanout(workflowInfo().workflowId, spec, batchWorkflow, lean);
  // Placed by the process that started it (it runs the hub: the same choice, reserved there),
  // or here: then the first workflow task waits for the placeBatch local activity.
  const placement = spec.placement && fanout.has(PLACED_BY_STARTER_PATCH) ? spec.placement : await placeBatch(placementRequest(fanout.parentId, spec));
  if ('error' in placement) return fanout.failAll(placement.error);
  fanout.listenForStops();
  const plan = planBatches(fanout.plan, placement);
  // Only a fan-out whose every batch its starter launched may have run before this start (journaled).
  const early = lean && spec.headStart?.length === plan.size;
  await fanout.run(early ? await fanout.recordEndedHeadStarts(plan) : plan);
  const outputs = await fanout.returnWorkspaces();
  await CancellationScope.nonCancellable(() => releasePlacement({ taskId: fanout.parentId }));
  const result = fanout.finish();
  return Object.keys(outputs).length > 0 ? { ...result, outputs_returned: outputs } : result;
}

/** One node-batch: runs its commands over the pool; stops on signal (all or some commands). */
export async function batchWorkflow(batch: BatchInput): Promise<CommandResult[]> {
  const stop = { all: false, taskIds: [] as string[] };
  setHandler(stopSignal, ({ taskIds }) => {
    if (taskIds) stop.taskIds.push(...taskIds);
    else stop.all = true;
  });
  setHandler(stopQuery, () => stop);
  return runBatchOn(batch.nodeId, batch.sshRetries)(batch);
}
