import {
  ApplicationFailure, CancellationScope, defineQuery, defineSignal, isCancellation, patched, proxyActivities, proxyLocalActivities, setHandler, startChild,
  upsertSearchAttributes, workflowInfo, type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { createBatchActivities } from '../activities/batch.js';
import type { createHubActivities } from '../activities/hub.js';
import {
  errorText, FailureType, INLINE_RESULTS_MAX, nodeQueue, unranResult, type BatchInput, type CommandResult, type ParallelResult, type ParallelSpec, type TaskState,
} from '../shared.js';
import { ClusterState } from './searchAttributes.js';

/** Marks histories whose unreachable batches are re-placed (older ones fail them). */
const REROUTE_PATCH = 'reroute-unreachable-batches';
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
/** The node command i was last sent to (its batch started there), or null: for reading its output live. */
export const commandNodeQuery = defineQuery<string | null, [number]>('commandNode');

/**
 * parallel_execute: place every command (spread by load and capacity with reservations; a
 * fan-out is for throughput, so light commands go to the nodes too), fit the spread to
 * max_parallel, then run one child workflow per node-batch whose activity runs its commands
 * over the SSH pool (or, when a node's share fits one batch, that activity directly). Every
 * command keeps its own task id (`<parent>/<i>`) and result.
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
  const sentTo: Array<string | undefined> = new Array(n);
  setHandler(commandNodeQuery, (i) => sentTo[i] ?? null);

  const placement = await placeBatch({ parentId, count: n, requires: spec.requires });
  if ('error' in placement) {
    for (let i = 0; i < n; i++) results[i] = notRun(parentId, i, '', placement.error, 'failed');
    return finish(parentId, started, results as CommandResult[], 'failed');
  }
  const streamCap = Math.min(64 * 1024, Math.max(256, Math.floor(OUTPUT_BUDGET / n / 2)));
  const toBatches = (nodeId: string, indices: number[], concurrency: number, routeReason: string): BatchInput[] => {
    const list: BatchInput[] = [];
    for (let k = 0; k < indices.length; k += BATCH_SIZE) {
      list.push({
        parentId, nodeId, routeReason, concurrency, timeoutS: spec.timeoutS, cwd: spec.cwd, env: spec.env, streamCap,
        items: indices.slice(k, k + BATCH_SIZE).map((i) => ({ index: i, command: spec.commands[i]! })),
      });
    }
    return list;
  };
  const batchesByNode = new Map<string, BatchInput[]>();
  for (const { nodeId, indices, share } of fitToMaxParallel(groupBy(placement.nodes), spec.maxParallel)) {
    batchesByNode.set(nodeId, toBatches(nodeId, indices, Math.min(share, placement.capacity[nodeId] ?? share), placement.reasons[nodeId] ?? ''));
  }

  // Commands stopped one by one (task_cancel of <parent>/<i>) before their batch started.
  const stoppedIds = new Set<string>();
  const running = new Map<string, ChildWorkflowHandle<typeof batchWorkflow>>();
  let cancelled = false;
  const signalRunning = (arg: { taskIds?: string[] }) =>
    Promise.all([...running.values()].map((child) => child.signal(stopSignal, arg).catch(() => undefined)));
  // stop without taskIds stops the whole fan-out; with taskIds, those commands (the child that owns them acts).
  setHandler(stopSignal, async ({ taskIds }) => {
    if (!taskIds) cancelled = true;
    else for (const id of taskIds) stoppedIds.add(id);
    await signalRunning({ taskIds });
  });
  // Asked by the runBatch activities this workflow runs itself (see runNode).
  setHandler(stopQuery, () => ({ all: cancelled, taskIds: [...stoppedIds] }));

  const record = (nodeId: string, out: CommandResult[]) => {
    for (const r of out) {
      const idx = Number(r.task_id.slice(parentId.length + 1));
      results[idx] = r;
      done++;
      doneByNode[nodeId] = (doneByNode[nodeId] ?? 0) + 1;
    }
  };
  // Nodes a batch could not reach before anything was sent, and why: their commands go elsewhere.
  const unreachable = new Map<string, string>();
  let replacements = 0;
  const replace = async (nodeId: string, batch: BatchInput): Promise<boolean> => {
    const indices = batch.items.map((it) => it.index);
    const again = await placeBatch({ parentId, count: indices.length, requires: spec.requires, exclude: [...unreachable.keys()], indices });
    if ('error' in again) return false;
    const note = `after ${nodeId} unreachable: ${unreachable.get(nodeId)}`;
    const groups: Record<string, number[]> = {};
    again.nodes.forEach((id, k) => (groups[id] ??= []).push(indices[k]!));
    const tag = `r${++replacements}-`;
    await Promise.all(Object.entries(groups).map(([id, idx]) => runNode(id,
      toBatches(id, idx, Math.min(batch.concurrency, again.capacity[id] ?? batch.concurrency), `${again.reasons[id] ?? ''} (${note})`), tag)));
    return true;
  };
  const failBatch = async (nodeId: string, batch: BatchInput, err: unknown): Promise<void> => {
    if (failureType(err) === FailureType.NodeUnreachable && !cancelled && patched(REROUTE_PATCH)) {
      unreachable.set(nodeId, errorText(err));
      if (await replace(nodeId, batch)) return;
    }
    record(nodeId, batch.items.map((it) => notRun(parentId, it.index, nodeId, `batch failed: ${errorText(err)}`, 'failed')));
  };

  const runNode = async (nodeId: string, batches: BatchInput[], childTag = ''): Promise<void> => {
    for (let k = 0; k < batches.length; k++) {
      const batch = batches[k]!;
      const childId = `${parentId}/${nodeId}-${childTag}${k}`;
      let out: CommandResult[];
      // The node's next batches do not try it again.
      if (!cancelled && unreachable.has(nodeId) && await replace(nodeId, batch)) continue;
      for (const it of batch.items) sentTo[it.index] = nodeId;
      if (cancelled) {
        out = batch.items.map((it) => notRun(parentId, it.index, '', 'cancelled before it started', 'cancelled', batch.routeReason));
      } else if (batches.length === 1) {
        // A node's whole share fits one batch: run it here, without a child workflow (two fewer
        // workflow tasks and a start on the way; the history stays small at this size).
        try {
          out = await runBatchOn(nodeId)(batch);
        } catch (err) {
          await failBatch(nodeId, batch, err);
          continue;
        }
      } else {
        try {
          const child = await startChild(batchWorkflow, { workflowId: childId, args: [batch], staticSummary: `${nodeId}: ${batch.items.length} commands of ${parentId}` });
          running.set(childId, child);
          // Stops that came while the child was starting: a signal sent before it existed was lost.
          const pending = batch.items.map((it) => `${parentId}/${it.index}`).filter((id) => stoppedIds.has(id));
          if (cancelled) await child.signal(stopSignal, {}).catch(() => undefined);
          else if (pending.length > 0) await child.signal(stopSignal, { taskIds: pending }).catch(() => undefined);
          out = await child.result();
        } catch (err) {
          await failBatch(nodeId, batch, err);
          continue;
        } finally {
          running.delete(childId);
        }
      }
      record(nodeId, out);
    }
  };

  // Children run in a non-cancellable scope: cancelling the parent must not cancel them (their
  // results, which say what ran, would be lost) but stop them by signal, then wait for their report.
  const all = CancellationScope.nonCancellable(() => Promise.all([...batchesByNode].map(([nodeId, batches]) => runNode(nodeId, batches))));
  try {
    await Promise.race([all, CancellationScope.current().cancelRequested]);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(async () => {
      cancelled = true;
      await signalRunning({});
      await all;
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
  const r = fanoutResult(parentId, Date.now() - started, results, forced);
  upsertSearchAttributes([{ key: ClusterState, value: r.state }]);
  return r;
}

/** A fan-out's result from its commands' results, in input order (pure: the client uses it too). */
export function fanoutResult(parentId: string, durationMs: number, results: CommandResult[], forced?: TaskState): ParallelResult {
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
  const inline = results.length <= INLINE_RESULTS_MAX;
  return {
    task_id: parentId, state, summary, duration_ms: durationMs,
    results: inline ? results : results.filter((r) => !r.success).slice(0, 100),
    ...(inline ? {} : { results_omitted: true }),
  };
}

/** The ApplicationFailure type at the root of an activity's or a child workflow's failure. */
function failureType(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure) return e.type ?? undefined;
  }
  return undefined;
}

function notRun(parentId: string, i: number, nodeId: string, error: string, state: TaskState, routeReason = ''): CommandResult {
  return unranResult(`${parentId}/${i}`, nodeId, error, state, routeReason);
}

/**
 * max_parallel bounds commands in flight across the cluster, and each batch runs at a fixed
 * concurrency: so use at most max_parallel nodes (the commands of the others move round-robin
 * onto the ones placement gave most) and split it into per-node shares that sum to it exactly
 * (largest remainder, at least 1 each).
 */
export function fitToMaxParallel(groups: Record<string, number[]>, maxParallel: number): Array<{ nodeId: string; indices: number[]; share: number }> {
  const limit = Math.max(1, Math.floor(maxParallel));
  const sorted = Object.entries(groups).sort(([a, x], [b, y]) => y.length - x.length || (a < b ? -1 : 1));
  const kept = sorted.slice(0, limit).map(([nodeId, indices]) => ({ nodeId, indices: [...indices], share: 0 }));
  sorted.slice(limit).flatMap(([, indices]) => indices).forEach((i, k) => kept[k % kept.length]!.indices.push(i));
  const n = kept.reduce((sum, g) => sum + g.indices.length, 0);
  const exact = kept.map((g) => (limit * g.indices.length) / n);
  kept.forEach((g, k) => {
    g.indices.sort((a, b) => a - b);
    g.share = Math.max(1, Math.floor(exact[k]!));
  });
  const total = () => kept.reduce((sum, g) => sum + g.share, 0);
  // Raising small shares to 1 may overshoot (take from the largest); rounding down undershoots.
  while (total() > limit) kept.reduce((big, g) => (g.share > big.share ? g : big)).share--;
  const byRemainder = kept.map((_, k) => k).sort((a, b) => (exact[b]! % 1) - (exact[a]! % 1));
  for (let k = 0; total() < limit; k++) kept[byRemainder[k % kept.length]!]!.share++;
  return kept;
}

function groupBy(nodes: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  nodes.forEach((id, i) => (out[id] ??= []).push(i));
  return out;
}

