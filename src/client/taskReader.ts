// The reading half of the task client: wait for a task, its status, progress, output, list, and
// cancel. Answers come through Temporal, or from this process's own worker when it ran the task
// (the result bus), or from this state dir's own output store: never from another process's
// disk, never over SSH from here (DESIGN.md, "Beyond one machine").
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ReadOutputInput } from '../activities/output.js';
import { completeFanout } from '../cluster/fanoutPlan.js';
import { commandNodeQuery, commandResultQuery, progressQuery, stopSignal } from '../messages.js';
import type { OutputPage, OutputStore, StreamName } from '../runtime/outputStore.js';
import type { ResultBus } from '../runtime/resultBus.js';
import type { ClusterConfig, CommandResult, ParallelResult, TaskState } from '../shared.js';
import { workflowUrl, type TemporalTarget } from '../temporal/connection.js';
import type { commandWorkflow } from '../workflows/command.js';
import { ClusterNode } from '../workflows/searchAttributes.js';
import { UserError } from './errors.js';
import { PendingStarts, RUNNING_START_WAIT_MS } from './pendingStarts.js';
import { checkTaskId, subTask, type TaskStatus } from './requests.js';
import { taskFailure } from './taskFailure.js';
import { listTasks, type ListedTask } from './taskList.js';

/** A head-started command still running this long gets the workflow's result long-polled too (a hung exec). */
const HEAD_START_POLL_AFTER_MS = 2000;

/** Reads a page of a task's output through a worker of the node it ran on (app.ts wires it: in-process or through Temporal). */
export type OutputReader = (input: ReadOutputInput) => Promise<OutputPage | null>;

export interface TaskReaderDeps {
  client: Client;
  target: TemporalTarget;
  config: ClusterConfig;
  /** This state dir's output store. */
  outputs: OutputStore;
  /**
   * The in-process worker's results (serve runs the worker): a command's final result is known
   * here one workflow task and a long-poll (~15 ms) before the workflow records it.
   */
  results?: ResultBus;
  readOutput: OutputReader;
}

export class TaskReader {
  readonly client: Client;
  readonly target: TemporalTarget;
  readonly config: ClusterConfig;
  readonly outputs: OutputStore;
  /** Tasks this client started and has not seen recorded as closed (TaskClient.drain). */
  protected readonly open = new Set<string>();
  /** Fan-outs whose every batch this process launched itself (TaskClient.submitParallel): true once all answered. */
  protected readonly launchedFanouts = new Map<string, Promise<boolean>>();
  /** Workflows this process starts after their launch answered (TaskClient.submit, submitParallel). */
  protected readonly pending = new PendingStarts();

  constructor(protected readonly deps: TaskReaderDeps) {
    ({ client: this.client, target: this.target, config: this.config, outputs: this.outputs } = deps);
  }

  url(taskId: string): string {
    return workflowUrl(this.target, taskId);
  }

  /**
   * A fan-out's progress while it runs (done/total), for progress notifications and status. The
   * workflow learns results a node-batch at a time; this process's worker, when it runs the
   * batches, knows each command as it ends.
   */
  async progress(taskId: string): Promise<{ total: number; done: number; by_node: Record<string, number> } | null> {
    if (this.pending.has(taskId)) return null; // not started yet (a journaled fan-out, for a moment): nothing to ask
    let p;
    try {
      p = await this.client.workflow.getHandle(taskId).query(progressQuery);
    } catch {
      return null;
    }
    return { ...p, done: Math.min(p.total, Math.max(p.done, this.deps.results?.doneCount(taskId) ?? 0)) };
  }

  /**
   * Wait up to waitS for the result; after that, say it is still running. `fanoutSize`: a
   * fan-out's command count. `headStart`: submit's, for a head-started command (a fan-out's is
   * remembered by submitParallel): the workflow's result is long-polled only once the head start
   * ended without an answer (or after a while): most calls are answered by it, and a long-poll
   * per call is Temporal work on the critical path (and, for a fan-out, the decode of its result).
   */
  async wait(taskId: string, waitS: number, opts: { fanoutSize?: number; headStart?: Promise<boolean> } = {}): Promise<TaskStatus> {
    const handle = this.client.workflow.getHandle<typeof commandWorkflow>(taskId);
    const headStart = opts.headStart ?? this.launchedFanouts.get(taskId);
    let timer: NodeJS.Timeout | undefined;
    let pollTimer: NodeJS.Timeout | undefined;
    const local = this.localResult(taskId, opts.fanoutSize);
    let over = false;
    const recorded = !headStart
      ? handle.result()
      : new Promise<void>((resolve) => {
          pollTimer = setTimeout(resolve, HEAD_START_POLL_AFTER_MS);
          void headStart.then((answered) => answered || resolve());
        })
          .then(() => this.pending.settled(taskId))
          .then(() => (over ? new Promise<never>(() => undefined) : handle.result()));
    // waitS = Infinity waits for the end (setTimeout cannot take more than ~24 days). A task said
    // to be running can be looked up: a journaled start still deferred goes out first.
    const timeout = new Promise<void>((resolve) => {
      if (Number.isFinite(waitS)) timer = setTimeout(resolve, waitS * 1000);
    }).then(() => this.pending.settled(taskId, RUNNING_START_WAIT_MS).then(() => 'timeout' as const));
    try {
      const fromWorkflow = (recorded as Promise<CommandResult | ParallelResult>).then((r) => {
        this.open.delete(taskId);
        return r;
      });
      const r = await Promise.race([fromWorkflow, timeout, local.result]);
      if (r === 'timeout') return { task_id: taskId, state: 'running', workflow_url: this.url(taskId) };
      return this.withUrls({ ...r, workflow_url: this.url(taskId) } as TaskStatus);
    } catch (err) {
      return await this.status(taskId, err);
    } finally {
      over = true;
      clearTimeout(timer);
      clearTimeout(pollTimer);
      local.stop();
    }
  }

  /**
   * The result as the in-process worker has it, before the workflow records it (see completions):
   * a command's runCommand result, or a fan-out's once every batch is in and nothing was
   * cancelled (a stopped fan-out is answered by its workflow, which knows why). Never settles otherwise.
   */
  private localResult(taskId: string, fanoutSize?: number): { result: Promise<CommandResult | ParallelResult>; stop(): void } {
    const bus = this.deps.results;
    if (!bus) return { result: new Promise(() => undefined), stop: () => undefined };
    const submitted = Date.now();
    let stop: () => void = () => undefined;
    const result = new Promise<CommandResult | ParallelResult>((resolve) => {
      if (fanoutSize === undefined) {
        // A journaled head start can answer before submit returned.
        const had = bus.recent(taskId);
        if (had) return resolve({ ...had, duration_ms: Date.now() - submitted });
        stop = bus.onResult(taskId, (c) => resolve({ ...c, duration_ms: Date.now() - submitted }));
        return;
      }
      const got = new Map<string, CommandResult>();
      stop = bus.onBatch(taskId, (batch) => {
        for (const c of batch) got.set(c.task_id, c);
        const r = completeFanout(taskId, fanoutSize, got, Date.now() - submitted);
        if (r) resolve(r);
      });
    });
    return { result, stop: () => stop() };
  }

  async status(taskId: string, resultError?: unknown): Promise<TaskStatus> {
    checkTaskId(taskId);
    const sub = subTask(taskId);
    if (sub) return this.subStatus(sub.parent, taskId, sub.index);
    const early = this.pending.has(taskId) ? this.deps.results?.recent(taskId) : undefined;
    if (early) return { ...early, workflow_url: this.url(taskId) };
    await this.pending.settled(taskId);
    const handle = this.client.workflow.getHandle<typeof commandWorkflow>(taskId);
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new UserError(`no task with id "${taskId}"`, 'not-found');
      throw err;
    }
    const url = this.url(taskId);
    if (desc.status.name === 'RUNNING') {
      // Answered early by this process's worker: that result is final, the workflow records it in a moment.
      const early = this.deps.results?.recent(taskId);
      if (early) return { ...early, workflow_url: url };
      const node = desc.typedSearchAttributes.get(ClusterNode);
      return { task_id: taskId, state: 'running', workflow_url: url, ...(node ? { executed_on: node } : {}) };
    }
    if (desc.status.name === 'COMPLETED') return this.withUrls({ ...(await handle.result()), workflow_url: url });
    // A task that got no result of its own (no eligible node, refused, ...) failed its workflow with the result as details.
    const carried = taskFailure(
      resultError ??
        (desc.status.name === 'FAILED'
          ? await handle.result().then(
              () => undefined,
              (e: unknown) => e,
            )
          : undefined),
    );
    if (carried) return this.withUrls({ ...carried, workflow_url: url } as TaskStatus);
    const state: TaskState = desc.status.name === 'CANCELLED' ? 'cancelled' : desc.status.name === 'TIMED_OUT' ? 'timed_out' : 'failed';
    return {
      success: false,
      executed_on: desc.typedSearchAttributes.get(ClusterNode) ?? '',
      stdout: '',
      stderr: '',
      return_code: null,
      auto_routed: false,
      task_id: taskId,
      error: `workflow ${desc.status.name.toLowerCase()}${resultError instanceof Error ? `: ${resultError.message}` : ''}`,
      duration_ms: desc.closeTime && desc.startTime ? desc.closeTime.getTime() - desc.startTime.getTime() : 0,
      route_reason: '',
      truncated: false,
      workflow_url: url,
      state,
    };
  }

  /** Each command of a fan-out links to the fan-out's page in the Web UI (it has no workflow of its own). */
  private withUrls(s: TaskStatus): TaskStatus {
    return 'summary' in s ? { ...s, results: s.results.map((r) => ({ ...r, workflow_url: s.workflow_url })) } : s;
  }

  /** One command of a fan-out: its result as its fan-out has it (a batch that ended), or running while its parent runs. */
  private async subStatus(parent: string, taskId: string, index: number): Promise<TaskStatus> {
    const url = this.url(parent);
    let recorded: CommandResult | null;
    try {
      await this.pending.settled(parent);
      recorded = await this.client.workflow.getHandle(parent).query(commandResultQuery, index);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new UserError(`no task with id "${parent}"`, 'not-found');
      throw err;
    }
    if (recorded) return { ...recorded, workflow_url: url };
    const early = this.deps.results?.recent(taskId);
    if (early) return { ...early, workflow_url: url };
    const p = await this.status(parent);
    if (p.state === 'running') return { task_id: taskId, state: 'running', workflow_url: url };
    throw new UserError(`no result for "${taskId}" (its fan-out ended without one)`, 'not-found');
  }

  async cancel(taskId: string): Promise<TaskStatus> {
    checkTaskId(taskId);
    const sub = subTask(taskId);
    if (sub) {
      // One command of a fan-out: the parent forwards the stop to the batch that owns it.
      await this.pending.settled(sub.parent);
      await this.client.workflow.getHandle(sub.parent).signal(stopSignal, { taskIds: [taskId] });
      for (let i = 0; i < 150; i++) {
        const s = await this.status(taskId);
        if (s.state !== 'running') return s;
        await new Promise((r) => setTimeout(r, 200));
      }
      return this.status(taskId);
    }
    await this.pending.settled(taskId);
    const handle = this.client.workflow.getHandle(taskId);
    try {
      await handle.cancel();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new UserError(`no running task with id "${taskId}"`, 'not-found');
      throw err;
    }
    return this.wait(taskId, 30);
  }

  async list(state?: TaskState, limit = 50): Promise<ListedTask[]> {
    return listTasks(this.client, this.pending, (id) => this.url(id), state, limit);
  }

  /**
   * A page of a task's output: from this state dir's store when it holds the finished task, else
   * through a worker of the node it ran on (running: read live from the node's run files).
   */
  async output(taskId: string, stream: StreamName, offset: number, limit: number, encoding: 'utf8' | 'base64' = 'utf8'): Promise<OutputPage> {
    checkTaskId(taskId);
    if (this.outputs.loadResult(taskId) !== null) return this.outputs.read(taskId, stream, offset, limit, encoding);
    const nodeId = await this.nodeOf(taskId);
    const page = nodeId ? await this.deps.readOutput({ nodeId, taskId, stream, offset, limit, encoding }) : null;
    if (page) return page;
    throw new UserError(`no output for task "${taskId}" yet (not started, or its node no longer keeps it)`, 'not-found');
  }

  /** The node a command (or command of a fan-out) was sent to, running or finished. */
  private async nodeOf(taskId: string): Promise<string | undefined> {
    const sub = subTask(taskId);
    try {
      await this.pending.settled(sub?.parent ?? taskId);
      if (sub) return (await this.client.workflow.getHandle(sub.parent).query(commandNodeQuery, sub.index)) ?? undefined;
      const desc = await this.client.workflow.getHandle(taskId).describe();
      return desc.typedSearchAttributes.get(ClusterNode);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }
}
