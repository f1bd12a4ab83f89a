// The running state of one fan-out (parallelWorkflow): which commands have results, which node
// each was sent to, what was stopped, which nodes proved unreachable, which batch children run.
// Deterministic workflow code: every method runs inside parallelWorkflow.
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  Trigger,
  upsertSearchAttributes,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { fanoutResult, notRun, planInputOf, planReplacement, type PlanInput } from '../cluster/fanoutPlan.js';
import { commandNodeQuery, commandResultQuery, commandsEndedSignal, progressQuery, stopQuery, stopSignal } from '../messages.js';
import { errorText, FailureType, type BatchInput, type CommandResult, type ParallelResult, type ParallelSpec, type TaskState } from '../shared.js';
import { failureType, fanoutHeadStartResults, placeBatch, runBatchOn } from './fanoutActivities.js';
import { FanoutWorkspaces } from './fanoutWorkspaces.js';
import { ClusterState } from './searchAttributes.js';

/** Marks histories whose unreachable batches are re-placed (older ones fail them). */
const REROUTE_PATCH = 'reroute-unreachable-batches';
/** Marks histories where a fan-out that could place nothing fails its workflow (older ones complete). */
const FANOUT_FAILED_PATCH = 'fanout-failed-status';
/** Marks histories whose fan-outs may sync the origin's files to each node first (older ones never do). */
const WORKSPACE_PATCH = 'workspace-sync';
/** Marks histories whose node-batches are of even size up to BATCH_MAX (older ones: fixed chunks of BATCH_SIZE). */
const EVEN_BATCHES_PATCH = 'fanout-even-batches';
/** Marks histories whose nodes run their batches chained (older ones: one after another); apart from the lean marker, which older lean histories carry. */
const CHAINED_BATCHES_PATCH = 'fanout-chained-batches';

type BatchChild = (batch: BatchInput) => Promise<CommandResult[]>;

export class Fanout {
  readonly parentId: string;
  private readonly started = Date.now();
  private readonly results: Array<CommandResult | undefined>;
  private done = 0;
  private readonly doneByNode: Record<string, number> = {};
  /** The node each command was last sent to (its batch started there). */
  private readonly sentTo: Array<string | undefined>;
  /** Commands stopped one by one (task_cancel of <parent>/<i>) before their batch started. */
  private readonly stoppedIds = new Set<string>();
  private readonly running = new Map<string, ChildWorkflowHandle<BatchChild>>();
  private cancelled = false;
  /** Nodes a batch could not reach before anything was sent, and why: their commands go elsewhere. */
  private readonly unreachable = new Map<string, string>();
  private replacements = 0;
  private readonly workspaces: FanoutWorkspaces;

  /**
   * `lean` (parallelWorkflow's FANOUT_LEAN_PATCH): a new history, where that one marker stands
   * for every patch of this file; older histories call each where it applies.
   */
  constructor(
    parentId: string,
    private readonly spec: ParallelSpec,
    private readonly batchWorkflow: BatchChild,
    private readonly lean = false,
  ) {
    this.parentId = parentId;
    this.workspaces = new FanoutWorkspaces(parentId, spec, () => this.has(WORKSPACE_PATCH));
    const n = spec.commands.length;
    this.results = new Array(n);
    this.sentTo = new Array(n);
    setHandler(progressQuery, () => ({ total: n, done: this.done, by_node: this.doneByNode }));
    setHandler(commandNodeQuery, (i) => this.sentTo[i] ?? null);
    setHandler(commandResultQuery, (i) => this.results[i] ?? null);
    setHandler(commandsEndedSignal, (results) => {
      for (const r of results) if (r.task_id.startsWith(`${this.parentId}/`)) this.record(r.executed_on, [r]);
    });
  }

  get plan(): PlanInput {
    return planInputOf(this.parentId, this.spec, this.has(EVEN_BATCHES_PATCH));
  }

  readonly has = (patch: string): boolean => this.lean || patched(patch); // a lean history has every patch (see the constructor)

  /**
   * Record the head-started batches this process already ran to their end from one local activity,
   * not runBatch; returns the plan left to run (usually none: a journaled fan-out starts once it answered).
   */
  async recordEndedHeadStarts(plan: Map<string, BatchInput[]>): Promise<Map<string, BatchInput[]>> {
    const nodeIds = (this.spec.headStart ?? []).filter((id) => plan.get(id)?.length === 1);
    if (nodeIds.length === 0) return plan;
    // Not cancellable: what it took is recorded; a cancel reaches the rest in run().
    const ended: Partial<Record<string, CommandResult[]>> = await CancellationScope.nonCancellable(() =>
      fanoutHeadStartResults({ parentId: this.parentId, nodeIds }),
    ).catch(() => ({}));
    const rest = new Map(plan);
    for (const nodeId of nodeIds) {
      const batch = plan.get(nodeId)![0]!;
      const results = ended[nodeId];
      const same = results?.length === batch.items.length && batch.items.every((it, k) => results[k]!.task_id === `${this.parentId}/${it.index}`);
      if (!same) continue;
      for (const it of batch.items) this.sentTo[it.index] = nodeId;
      this.record(nodeId, results);
      rest.delete(nodeId);
    }
    return rest;
  }

  /** stop without taskIds stops the whole fan-out; with taskIds, those commands (the child that owns them acts). */
  listenForStops(): void {
    setHandler(stopSignal, async ({ taskIds }) => {
      if (!taskIds) this.cancelled = true;
      else for (const id of taskIds) this.stoppedIds.add(id);
      await this.signalRunning({ taskIds });
    });
    // Asked by the runBatch activities this workflow runs itself (see runSequence).
    setHandler(stopQuery, () => ({ all: this.cancelled, taskIds: [...this.stoppedIds] }));
  }

  /**
   * Run every node's batches (one sequence per node, nodes at once). They run in a non-cancellable
   * scope: cancelling the parent must not cancel the children (their results, which say what ran,
   * would be lost) but stop them by signal, then wait for their report.
   */
  async run(plan: Map<string, BatchInput[]>): Promise<void> {
    const all = CancellationScope.nonCancellable(() => Promise.all([...plan].map(([nodeId, batches]) => this.runSequence(nodeId, batches))));
    try {
      await Promise.race([all, CancellationScope.current().cancelRequested]);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      await CancellationScope.nonCancellable(async () => {
        this.cancelled = true;
        await this.signalRunning({});
        await all;
      });
    }
  }

  /**
   * Every command gets the same failure (nothing could be placed). Newer histories fail the
   * workflow with it (`ExecutionStatus="Failed"` finds it; the result rides as the failure's details).
   */
  failAll(error: string): ParallelResult {
    this.spec.commands.forEach((_, i) => (this.results[i] = notRun(this.parentId, i, '', error, 'failed')));
    const result = this.finish('failed');
    if (this.has(FANOUT_FAILED_PATCH)) throw ApplicationFailure.create({ message: error, type: FailureType.TaskFailed, nonRetryable: true, details: [result] });
    return result;
  }

  finish(forced?: TaskState): ParallelResult {
    // Array.from, not map: map skips the holes of commands that never got a result.
    const all = Array.from(this.results, (r, i) => r ?? notRun(this.parentId, i, '', 'no result', 'failed'));
    const r = fanoutResult(this.parentId, Date.now() - this.started, all, forced ?? (this.cancelled ? 'cancelled' : undefined));
    upsertSearchAttributes([{ key: ClusterState, value: r.state }]);
    const s = r.summary;
    setCurrentDetails(`${s.succeeded} ok · ${s.failed} failed · ${s.cancelled} cancelled of ${s.total} · ${(r.duration_ms / 1000).toFixed(1)} s`);
    return r;
  }

  private signalRunning(arg: { taskIds?: string[] }): Promise<unknown> {
    return Promise.all([...this.running.values()].map((child) => child.signal(stopSignal, arg).catch(() => undefined)));
  }

  /** A command's result; one that came early (commandsEndedSignal) is counted once when its batch reports it again. */
  private record(nodeId: string, out: CommandResult[]): void {
    for (const r of out) {
      const i = Number(r.task_id.slice(this.parentId.length + 1));
      const first = this.results[i] === undefined;
      this.results[i] = r;
      if (!first) continue;
      this.done++;
      this.doneByNode[nodeId] = (this.doneByNode[nodeId] ?? 0) + 1;
    }
  }

  /** After every batch: each synced tree's outputs back to the origin, by node. */
  returnWorkspaces(): Promise<Record<string, Array<{ path: string; size: number }>>> {
    return this.workspaces.returnAll();
  }

  /** A node's batches, one after another: in this workflow's own activity when they are one batch, else as child workflows. */
  private async runSequence(nodeId: string, batches: BatchInput[], childTag = ''): Promise<void> {
    // Asked only here: a fan-out whose nodes each have one batch keeps its history lean.
    if (batches.length > 1 && patched(CHAINED_BATCHES_PATCH)) return this.runChained(nodeId, batches, childTag);
    for (let k = 0; k < batches.length; k++) await this.runOne(nodeId, batches, k, childTag);
  }

  /**
   * A node's batches back to back: each child starts once the one before it started (and the one
   * before that ended: two at most at once), and its lanes take over that one's as they run dry
   * (BatchInput.after), so the node does not idle while a child ends and the next one starts.
   */
  private async runChained(nodeId: string, batches: BatchInput[], childTag: string): Promise<void> {
    const ends: Array<Promise<void>> = [];
    let started: PromiseLike<void> = Promise.resolve();
    for (let k = 0; k < batches.length; k++) {
      await started;
      if (k >= 2) await ends[k - 2];
      const next = new Trigger<void>();
      ends.push(this.runOne(nodeId, batches, k, childTag, { after: k > 0 ? this.childId(nodeId, childTag, k - 1) : undefined, started: next }));
      started = next;
    }
    await Promise.all(ends);
  }

  private readonly childId = (nodeId: string, childTag: string, k: number): string => `${this.parentId}/${nodeId}-${childTag}${k}`;

  /** Batch k of a node's sequence; a chained one says when its child started. */
  private async runOne(nodeId: string, batches: BatchInput[], k: number, childTag: string, chain?: { after?: string; started: Trigger<void> }): Promise<void> {
    try {
      let batch = batches[k]!;
      if (this.spec.workspace && !this.cancelled) {
        try {
          batch = { ...batch, cwd: await this.workspaces.cwdOn(nodeId) };
        } catch (err) {
          return await this.failBatch(nodeId, batch, err);
        }
      }
      // A node found unreachable: its next batches do not try it again.
      if (!this.cancelled && this.unreachable.has(nodeId) && (await this.replace(nodeId, batch))) return;
      for (const it of batch.items) this.sentTo[it.index] = nodeId;
      let out: CommandResult[];
      if (this.cancelled) {
        out = batch.items.map((it) => notRun(this.parentId, it.index, '', 'cancelled before it started', 'cancelled', batch.routeReason));
      } else {
        try {
          // A node's whole share fits one batch: run it here, without a child workflow (two fewer
          // workflow tasks and a start on the way; the history stays small at this size).
          out =
            batches.length === 1
              ? await runBatchOn(nodeId, batch.sshRetries)(childTag ? batch : this.markHeadStart(batch))
              : await this.runChild(this.childId(nodeId, childTag, k), nodeId, chain?.after ? { ...batch, after: chain.after } : batch, chain?.started);
        } catch (err) {
          return await this.failBatch(nodeId, batch, err);
        }
      }
      this.record(nodeId, out);
    } finally {
      chain?.started.resolve();
    }
  }

  /**
   * A batch the starting process launched (spec.headStart): its runBatch takes that launch, or
   * re-attaches. No patch: only the activity's input changes (not the workflow's commands), and
   * only in fan-outs whose input names head starts, which older histories never do.
   */
  private markHeadStart(batch: BatchInput): BatchInput {
    return this.spec.headStart?.includes(batch.nodeId) ? { ...batch, headStart: true } : batch;
  }

  private async runChild(childId: string, nodeId: string, batch: BatchInput, started?: Trigger<void>): Promise<CommandResult[]> {
    try {
      const child = await startChild(this.batchWorkflow, {
        workflowId: childId,
        args: [batch],
        staticSummary: `${nodeId}: ${batch.items.length} commands of ${this.parentId}`,
      });
      this.running.set(childId, child);
      started?.resolve();
      // Stops that came while the child was starting: a signal sent before it existed was lost.
      const pending = batch.items.map((it) => `${this.parentId}/${it.index}`).filter((id) => this.stoppedIds.has(id));
      if (this.cancelled) await child.signal(stopSignal, {}).catch(() => undefined);
      else if (pending.length > 0) await child.signal(stopSignal, { taskIds: pending }).catch(() => undefined);
      return await child.result();
    } finally {
      this.running.delete(childId);
    }
  }

  /** An unreachable node's batch goes elsewhere (nothing of it was sent); any other failure fails its commands. */
  private async failBatch(nodeId: string, batch: BatchInput, err: unknown): Promise<void> {
    if (failureType(err) === FailureType.NodeUnreachable && !this.cancelled && this.has(REROUTE_PATCH)) {
      this.unreachable.set(nodeId, errorText(err));
      if (await this.replace(nodeId, batch)) return;
    }
    this.record(
      nodeId,
      batch.items.map((it) => notRun(this.parentId, it.index, nodeId, `batch failed: ${errorText(err)}`, 'failed')),
    );
  }

  /** Place the batch's commands again, without the unreachable nodes, and run them there; false when nothing is left to place them on. */
  private async replace(nodeId: string, batch: BatchInput): Promise<boolean> {
    const indices = batch.items.map((it) => it.index);
    const again = await placeBatch({
      parentId: this.parentId,
      count: indices.length,
      requires: this.spec.requires,
      exclude: [...this.unreachable.keys()],
      indices,
      ...(this.spec.excludeNodes ? { excludeNodes: this.spec.excludeNodes } : {}),
      ...(this.spec.kinds ? { kinds: this.spec.kinds } : {}),
    });
    if ('error' in again) return false;
    const tag = `r${++this.replacements}-`;
    const groups = planReplacement(this.plan, batch, again, `after ${nodeId} unreachable: ${this.unreachable.get(nodeId)}`);
    await Promise.all(groups.map(([id, batches]) => this.runSequence(id, batches, tag)));
    return true;
  }
}
