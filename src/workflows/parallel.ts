import {
  CancellationScope, ChildWorkflowCancellationType, defineQuery, defineSignal, executeChild, getExternalWorkflowHandle,
  isCancellation, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { createBatchActivities } from '../activities/batch.js';
import type { createHubActivities } from '../activities/hub.js';
import {
  FailureType, INLINE_RESULTS_MAX, nodeQueue, type BatchInput, type CommandResult, type ParallelResult, type ParallelSpec, type TaskState,
} from '../shared.js';
import { ClusterState } from './searchAttributes.js';

/** Commands per child workflow: big enough to amortise a workflow, small enough to spread. */
const BATCH_SIZE = 250;
/** Result payload budget for all inline outputs together (Temporal's payload limit is 2 MiB). */
const OUTPUT_BUDGET = 768 * 1024;

const { placeBatch, releasePlacement } = proxyLocalActivities<ReturnType<typeof createHubActivities>>({
  startToCloseTimeout: '60 seconds',
  retry: { maximumAttempts: 3 },
});

/** Stop the batch: running commands are killed, unstarted ones reported cancelled. */
export const stopSignal = defineSignal<[{ taskIds?: string[] }]>('stop');
export const stopQuery = defineQuery<{ all: boolean; taskIds: string[] }>('stopState');
export const progressQuery = defineQuery<{ total: number; done: number; by_node: Record<string, number> }>('progress');

/**
 * parallel_execute: place every command (light → local, heavy spread by load with
 * reservations), then run one child workflow per node-batch whose activity runs its commands
 * over the SSH pool. Every command keeps its own task id (`<parent>/<i>`) and result.
 * Children run per node one after another and across nodes at once; cancelling the parent
 * stops every child, which kills running commands and reports which ran.
 */
export async function parallelWorkflow(spec: ParallelSpec): Promise<ParallelResult> {
  const parentId = workflowInfo().workflowId;
  const started = Date.now();
  const n = spec.commands.length;
  const results: Array<CommandResult | undefined> = new Array(n);
  const doneByNode: Record<string, number> = {};
  let done = 0;
  setHandler(progressQuery, () => ({ total: n, done, by_node: doneByNode }));

  const placement = await placeBatch({ parentId, commands: spec.commands.map((c) => ({ weight: c.weight, classifyReason: c.classifyReason })), requires: spec.requires });
  if ('error' in placement) {
    for (let i = 0; i < n; i++) results[i] = notRun(parentId, i, '', placement.error, 'failed');
    return finish(parentId, started, results as CommandResult[], 'failed');
  }
  const streamCap = Math.min(64 * 1024, Math.max(256, Math.floor(OUTPUT_BUDGET / n / 2)));
  const batchesByNode = new Map<string, BatchInput[]>();
  for (const [nodeId, indices] of Object.entries(groupBy(placement.nodes))) {
    const share = Math.max(1, Math.round((spec.maxParallel * indices.length) / n));
    const list: BatchInput[] = [];
    for (let k = 0; k < indices.length; k += BATCH_SIZE) {
      list.push({
        nodeId, concurrency: Math.min(share, placement.capacity[nodeId] ?? share), timeoutS: spec.timeoutS, cwd: spec.cwd, env: spec.env, streamCap,
        items: indices.slice(k, k + BATCH_SIZE).map((i) => ({ index: i, taskId: `${parentId}/${i}`, command: spec.commands[i]!.command, routeReason: placement.reasons[nodeId] ?? '' })),
      });
    }
    batchesByNode.set(nodeId, list);
  }

  const running = new Set<string>();
  let cancelled = false;
  const stopChildren = async () => {
    await Promise.all([...running].map((id) => getExternalWorkflowHandle(id).signal(stopSignal, {}).catch(() => undefined)));
  };
  // A per-command cancel from task_cancel(<parent>/<i>): forward it to the child that owns it.
  setHandler(stopSignal, async ({ taskIds }) => {
    if (!taskIds) {
      cancelled = true;
      await stopChildren();
      return;
    }
    await Promise.all([...running].map((id) => getExternalWorkflowHandle(id).signal(stopSignal, { taskIds }).catch(() => undefined)));
  });

  const runNode = async (nodeId: string, batches: BatchInput[]) => {
    for (let k = 0; k < batches.length; k++) {
      const batch = batches[k]!;
      const childId = `${parentId}/${nodeId}-${k}`;
      let out: CommandResult[];
      if (cancelled) {
        out = batch.items.map((it) => notRun(parentId, it.index, nodeId, 'cancelled before it started', 'cancelled'));
      } else {
        running.add(childId);
        try {
          out = await executeChild(batchWorkflow, {
            workflowId: childId, args: [batch],
            // The parent stops children by signal so they can report what ran; a plain
            // cancellation would lose those results.
            cancellationType: ChildWorkflowCancellationType.ABANDON,
            staticSummary: `${nodeId}: ${batch.items.length} commands of ${parentId}`,
          });
        } catch (err) {
          out = batch.items.map((it) => notRun(parentId, it.index, nodeId, `batch failed: ${(err as Error).message}`, 'failed'));
        } finally {
          running.delete(childId);
        }
      }
      for (const r of out) {
        const idx = Number(r.task_id.slice(parentId.length + 1));
        results[idx] = r;
        done++;
        doneByNode[nodeId] = (doneByNode[nodeId] ?? 0) + 1;
      }
    }
  };

  const all = Promise.all([...batchesByNode].map(([nodeId, batches]) => runNode(nodeId, batches)));
  try {
    await all;
  } catch (err) {
    if (!isCancellation(err)) throw err;
  }
  // Cancelling the parent lands here: stop children and wait for them to report.
  if (CancellationScope.current().consideredCancelled) {
    await CancellationScope.nonCancellable(async () => {
      cancelled = true;
      await stopChildren();
      await all.catch(() => undefined);
    });
  }
  await CancellationScope.nonCancellable(() => releasePlacement({ taskId: parentId }));
  return finish(parentId, started, results.map((r, i) => r ?? notRun(parentId, i, '', 'no result', 'failed')), cancelled ? 'cancelled' : undefined);
}

/** runBatch on the node's own queue; a new attempt re-attaches to commands already launched. */
const runBatchOn = (nodeId: string) => proxyActivities<ReturnType<typeof createBatchActivities>>({
  taskQueue: nodeQueue(nodeId),
  startToCloseTimeout: '7 days',
  heartbeatTimeout: '30 seconds',
  scheduleToStartTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: [FailureType.HostKey, FailureType.Auth, FailureType.UnknownNode] },
}).runBatch;

/** One node-batch: runs its commands over the pool; stops on signal (all or some commands). */
export async function batchWorkflow(batch: BatchInput): Promise<CommandResult[]> {
  const stop = { all: false, taskIds: [] as string[] };
  setHandler(stopSignal, ({ taskIds }) => {
    if (taskIds) stop.taskIds.push(...taskIds);
    else stop.all = true;
  });
  setHandler(stopQuery, () => stop);
  return runBatchOn(batch.nodeId)(batch);
}

function finish(parentId: string, started: number, results: CommandResult[], forced?: TaskState): ParallelResult {
  const summary = { total: results.length, succeeded: 0, failed: 0, cancelled: 0, by_node: {} as Record<string, { succeeded: number; failed: number }> };
  for (const r of results) {
    if (r.state === 'cancelled') summary.cancelled++;
    else if (r.success) summary.succeeded++;
    else summary.failed++;
    if (!r.executed_on) continue;
    const b = (summary.by_node[r.executed_on] ??= { succeeded: 0, failed: 0 });
    if (r.success) b.succeeded++;
    else b.failed++;
  }
  const state: TaskState = forced ?? (summary.failed + summary.cancelled === 0 ? 'completed' : 'failed');
  upsertSearchAttributes([{ key: ClusterState, value: state }]);
  const inline = results.length <= INLINE_RESULTS_MAX;
  return {
    task_id: parentId, state, summary, duration_ms: Date.now() - started,
    results: inline ? results : results.filter((r) => !r.success).slice(0, 100),
    ...(inline ? {} : { results_omitted: true }),
  };
}

function notRun(parentId: string, i: number, nodeId: string, error: string, state: TaskState): CommandResult {
  return {
    success: false, executed_on: nodeId, stdout: '', stderr: '', return_code: null, auto_routed: true, task_id: `${parentId}/${i}`,
    error, duration_ms: 0, route_reason: '', truncated: false, workflow_url: '', state,
  };
}

function groupBy(nodes: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  nodes.forEach((id, i) => (out[id] ??= []).push(i));
  return out;
}

