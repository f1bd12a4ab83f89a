// A fan-out's plan as data (pure, workflow-safe): which commands go to which node, in what
// batches, at what concurrency, and how the commands' results add up to the fan-out's result.
// parallelWorkflow only runs the plan; the choices are here, with table-driven tests.
import {
  INLINE_RESULTS_MAX,
  RESULT_STREAM_CAP,
  unranResult,
  type BatchInput,
  type CommandResult,
  type ParallelResult,
  type ParallelSpec,
  type ParallelSummary,
  type TaskState,
} from '../shared.js';
import { fitResults } from './resultFit.js';

/** Commands per batch in fan-outs started before even batches: a node's commands in fixed chunks of this many. */
export const BATCH_SIZE = 250;
/**
 * Newer fan-outs (PlanInput.evenBatches): a node's commands in as few batches of at most this
 * many as it takes, of even size. Each batch after a node's first waits for the one before (a
 * child workflow's start, its tasks, its activity's dispatch, and lanes running dry at its end):
 * 10,000 commands on three nodes were 14 such steps per node at 250. Its results stay well
 * under Temporal's 2 MiB payload limit (inline output is shared out of OUTPUT_BUDGET).
 */
export const BATCH_MAX = 1000;
/** Result payload budget for all inline outputs together (Temporal's payload limit is 2 MiB). */
export const OUTPUT_BUDGET = 768 * 1024;

/** Where placement put the fan-out's commands: a node per command, and what each node may run at once. */
export interface FanoutPlacement {
  nodes: string[];
  reasons: Record<string, string>;
  capacity: Record<string, number>;
}

export interface NodeShare {
  nodeId: string;
  /** Command indices, ascending. */
  indices: number[];
  /** Commands in flight at once on this node. */
  share: number;
}

export interface PlanInput {
  parentId: string;
  commands: readonly string[];
  maxParallel: number;
  timeoutS: number;
  cwd?: string;
  env?: Record<string, string>;
  /** Policy rules a person approved for these commands. */
  approved?: string[];
  /** Outputs come back after the batches: their results are not the fan-out's final answer. */
  notFinal?: boolean;
  /** CLUSTER_SSH_RETRIES, carried to every batch (absent in fan-outs started before the setting). */
  sshRetries?: number;
  /** Batches of even size, at most BATCH_MAX (absent: fan-outs started before, fixed BATCH_SIZE). */
  evenBatches?: boolean;
}

/**
 * The plan's input for fan-out `parentId`: the same from the workflow (Fanout.plan, where
 * `evenBatches` comes from a patch) and from the process that launches its batches before the
 * start (fastpath/fanoutHeadStart.ts), so both cut the same batches.
 */
export function planInputOf(parentId: string, spec: ParallelSpec, evenBatches: boolean): PlanInput {
  const { commands, maxParallel, timeoutS, cwd, env, approved, workspace, sshRetries } = spec;
  return {
    parentId,
    commands,
    maxParallel,
    timeoutS,
    cwd,
    env,
    ...(approved ? { approved } : {}),
    ...(workspace?.outputs?.length ? { notFinal: true } : {}),
    ...(sshRetries !== undefined ? { sshRetries } : {}),
    ...(evenBatches ? { evenBatches: true } : {}),
  };
}

/**
 * What placement is asked for a fan-out: the same request from the workflow's placeBatch, the
 * starting process (fastpath/fastPath.ts) and the dry run.
 */
export function placementRequest(parentId: string, spec: Pick<ParallelSpec, 'commands' | 'requires' | 'excludeNodes' | 'kinds'>) {
  return {
    parentId,
    count: spec.commands.length,
    requires: spec.requires,
    ...(spec.excludeNodes ? { excludeNodes: spec.excludeNodes } : {}),
    ...(spec.kinds ? { kinds: spec.kinds } : {}),
  };
}

/** Bytes of each stream a fan-out's command carries inline (head + tail): the budget shared by all, 256 B to 64 KiB. */
export function streamCapFor(count: number): number {
  return Math.min(RESULT_STREAM_CAP, Math.max(256, Math.floor(OUTPUT_BUDGET / Math.max(1, count) / 2)));
}

/** Command indices per node, in input order. */
export function groupByNode(nodes: readonly string[], indices?: readonly number[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  nodes.forEach((id, k) => (out[id] ??= []).push(indices ? indices[k]! : k));
  return out;
}

/**
 * max_parallel bounds commands in flight across the cluster, and each batch runs at a fixed
 * concurrency: so use at most max_parallel nodes (the commands of the others move round-robin
 * onto the ones placement gave most) and split it into per-node shares that sum to it exactly
 * (largest remainder, at least 1 each).
 */
export function fitToMaxParallel(groups: Record<string, number[]>, maxParallel: number): NodeShare[] {
  const limit = Math.max(1, Math.floor(maxParallel));
  const sorted = Object.entries(groups)
    .filter(([, ix]) => ix.length > 0)
    .sort(([a, x], [b, y]) => y.length - x.length || (a < b ? -1 : 1));
  if (sorted.length === 0) return [];
  const kept = sorted.slice(0, limit).map(([nodeId, indices]) => ({ nodeId, indices: [...indices], share: 0 }));
  sorted
    .slice(limit)
    .flatMap(([, indices]) => indices)
    .forEach((i, k) => kept[k % kept.length]!.indices.push(i));
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

/** How many commands each batch of a node's `count` takes (see BATCH_MAX and BATCH_SIZE). */
export function batchSize(count: number, evenBatches = false): number {
  if (!evenBatches) return BATCH_SIZE;
  return Math.max(1, Math.ceil(count / Math.ceil(count / BATCH_MAX)));
}

/** One node's commands as batches (batchSize), each at `concurrency`. */
export function toBatches(input: PlanInput, nodeId: string, indices: readonly number[], concurrency: number, routeReason: string): BatchInput[] {
  const streamCap = streamCapFor(input.commands.length);
  const size = batchSize(indices.length, input.evenBatches);
  const batches: BatchInput[] = [];
  for (let k = 0; k < indices.length; k += size) {
    batches.push({
      parentId: input.parentId,
      nodeId,
      routeReason,
      concurrency,
      timeoutS: input.timeoutS,
      cwd: input.cwd,
      env: input.env,
      streamCap,
      ...(input.approved?.length ? { approved: input.approved } : {}),
      ...(input.notFinal ? { notFinal: true } : {}),
      ...(input.sshRetries !== undefined ? { sshRetries: input.sshRetries } : {}),
      items: indices.slice(k, k + size).map((i) => ({ index: i, command: input.commands[i]! })),
    });
  }
  return batches;
}

/**
 * The whole plan: per node, its batches (concurrency = its share of max_parallel, capped at
 * the node's own capacity). `indices` (a re-placement) says which commands `placement.nodes` covers.
 */
export function planBatches(
  input: PlanInput,
  placement: FanoutPlacement,
  opts: { indices?: readonly number[]; maxParallel?: number; note?: string } = {},
): Map<string, BatchInput[]> {
  const plan = new Map<string, BatchInput[]>();
  for (const { nodeId, indices, share } of fitToMaxParallel(groupByNode(placement.nodes, opts.indices), opts.maxParallel ?? input.maxParallel)) {
    const reason = `${placement.reasons[nodeId] ?? ''}${opts.note ? ` (${opts.note})` : ''}`;
    plan.set(nodeId, toBatches(input, nodeId, indices, Math.min(share, placement.capacity[nodeId] ?? share), reason));
  }
  return plan;
}

/** A command of fan-out `parentId` that got no result of its own. */
export function notRun(parentId: string, i: number, nodeId: string, error: string, state: TaskState, routeReason = ''): CommandResult {
  return unranResult(`${parentId}/${i}`, nodeId, error, state, routeReason);
}

/** A fan-out's result from its commands' results, in input order. */
export function fanoutResult(parentId: string, durationMs: number, results: CommandResult[], forced?: TaskState): ParallelResult {
  const summary: ParallelSummary = { total: results.length, succeeded: 0, failed: 0, cancelled: 0, by_node: {} };
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
    task_id: parentId,
    state,
    summary,
    duration_ms: durationMs,
    results: fitResults(inline ? results : results.filter((r) => !r.success).slice(0, 100)),
    ...(inline ? {} : { results_omitted: true }),
  };
}

/**
 * A batch whose node could not be reached, moved onto the nodes `again` placed its commands on
 * (grouped in order of first appearance). Each group runs at the failed batch's concurrency,
 * capped at its node's capacity.
 */
export function planReplacement(input: PlanInput, failed: BatchInput, again: FanoutPlacement, note: string): Array<[string, BatchInput[]]> {
  const indices = failed.items.map((it) => it.index);
  return Object.entries(groupByNode(again.nodes, indices)).map(([id, idx]) => [
    id,
    toBatches(input, id, idx, Math.min(failed.concurrency, again.capacity[id] ?? failed.concurrency), `${again.reasons[id] ?? ''} (${note})`),
  ]);
}

/**
 * A fan-out's result from its commands' results (by task id) once every one of the `total` is
 * there and none was cancelled (a stopped fan-out is answered by its workflow); else null.
 */
export function completeFanout(taskId: string, total: number, byId: ReadonlyMap<string, CommandResult>, durationMs: number): ParallelResult | null {
  if (byId.size < total) return null;
  const ordered = Array.from({ length: total }, (_, i) => byId.get(`${taskId}/${i}`));
  if (!ordered.every((c) => c !== undefined && c.state !== 'cancelled')) return null;
  return fanoutResult(taskId, durationMs, ordered as CommandResult[]);
}
