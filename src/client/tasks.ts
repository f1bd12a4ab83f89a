// The one client module the MCP server and the CLI share: it checks, classifies and starts
// command workflows, waits for them, and answers status / output / cancel / list.
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { TypedSearchAttributes } from '@temporalio/common';
import { monotonicFactory } from 'ulid';
import { checkPolicy } from '../cluster/policy.js';
import { classifyCommand } from '../cluster/classify.js';
import { OutputStore, type OutputPage, type StreamName } from '../activities/outputStore.js';
import { workflowUrl, type TemporalTarget } from '../temporal/connection.js';
import { ClusterCommand, ClusterNode, ClusterState, ClusterTaskKind, commandAttr } from '../workflows/searchAttributes.js';
import { HUB_QUEUE, type ClusterConfig, type CommandResult, type CommandSpec, type ParallelResult, type ParallelSpec, type Requirements, type TaskState } from '../shared.js';
import { commandNodeQuery, fanoutResult, progressQuery, stopSignal, type parallelWorkflow } from '../workflows/parallel.js';
import type { commandWorkflow } from '../workflows/command.js';
import path from 'node:path';
import type { EventEmitter } from 'node:events';
import type { HeadStart } from '../activities/headStart.js';

/** A user-facing refusal (bad input, dangerous command, unknown node): shown as is, never retried. */
export class UserError extends Error {
  constructor(message: string, readonly code: 'invalid' | 'refused' | 'unknown-node' | 'not-found' = 'invalid') {
    super(message);
    this.name = 'UserError';
  }
}

export interface SubmitRequest {
  command: string;
  nodeId?: string;
  requires?: Requirements;
  timeoutS?: number;
  cwd?: string;
  env?: Record<string, string>;
}

export interface RunningTask {
  task_id: string;
  state: 'running';
  workflow_url: string;
  executed_on?: string;
}

export type TaskStatus = (CommandResult & { state: TaskState }) | RunningTask | (ParallelResult & { workflow_url: string });

const newUlid = monotonicFactory();
const DEFAULT_MAX_PARALLEL = 64;
/**
 * A workflow's input travels as one Temporal payload, and payloads over 2 MiB are refused (a
 * warning starts at 512 KiB). Bigger requests are refused here, with a message that says so.
 */
const MAX_INPUT_BYTES = 1536 * 1024;

function checkInputSize(what: string, input: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(input));
  if (bytes > MAX_INPUT_BYTES) {
    throw new UserError(`${what} is ${(bytes / 1024 / 1024).toFixed(1)} MiB as a workflow input; the limit is ${MAX_INPUT_BYTES / 1024 / 1024} MiB ` +
      '(Temporal refuses payloads over 2 MiB): split it into several calls, or put long scripts in files on the nodes');
  }
}

/** A head-started command still running this long gets the workflow's result long-polled too (a hung exec). */
const HEAD_START_POLL_AFTER_MS = 2000;

/** `par-…/17` names command 17 of fan-out `par-…`. */
function subTask(taskId: string): { parent: string; index: number } | null {
  const m = /^(par-[0-9a-z]+)\/(\d+)$/.exec(taskId);
  return m ? { parent: m[1]!, index: Number(m[2]) } : null;
}
export const newTaskId = (kind: 'cmd' | 'par' = 'cmd'): string => `${kind}-${newUlid().toLowerCase()}`;

/**
 * A fan-out's result from its commands' results (by task id) once every one of the `total` is
 * there and none was cancelled (a stopped fan-out is answered by its workflow); else null.
 */
function completeFanout(taskId: string, total: number, byId: Map<string, CommandResult>, durationMs: number): ParallelResult | null {
  if (byId.size < total) return null;
  const ordered = Array.from({ length: total }, (_, i) => byId.get(`${taskId}/${i}`));
  if (!ordered.every((c) => c !== undefined && c.state !== 'cancelled')) return null;
  return fanoutResult(taskId, durationMs, ordered as CommandResult[]);
}

export class TaskClient {
  readonly client: Client;
  readonly outputs: OutputStore;
  /**
   * The in-process worker's runCommand results (serve runs the worker): a command's final result
   * is known here one workflow task and a long-poll (~15 ms) before the workflow records it.
   */
  completions?: EventEmitter;
  /** Place and launch commands from this process before their workflow runs (serve: see activities/headStart.ts). */
  headStart?: HeadStart;
  /** Reads a running command's output on its node (client/liveOutput.ts). */
  liveOutput?: (nodeId: string, taskId: string, stream: StreamName, offset: number, limit: number, encoding: 'utf8' | 'base64') => Promise<OutputPage | null>;

  constructor(connection: NativeConnection, readonly target: TemporalTarget, readonly config: ClusterConfig, stateDir: string) {
    this.client = new Client({ connection, namespace: target.namespace });
    this.outputs = new OutputStore(path.join(stateDir, 'output'));
  }

  url(taskId: string): string {
    return workflowUrl(this.target, taskId);
  }

  /** Refuse, classify and start; returns at once with the task id. */
  async submit(req: SubmitRequest): Promise<{ taskId: string; handle: WorkflowHandle<typeof commandWorkflow>; headStart?: Promise<boolean> }> {
    const taskId = newTaskId('cmd');
    // A head start's launch is opened now and let run only once the workflow exists: a command
    // must never run without its workflow.
    const planned = this.plan(req);
    const head = await this.headStart?.(taskId, planned);
    const spec = head?.spec ?? planned;
    const handle = await this.client.workflow.start<typeof commandWorkflow>('commandWorkflow', {
      taskQueue: HUB_QUEUE,
      workflowId: taskId,
      args: [spec],
      requestEagerStart: true,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: ClusterTaskKind, value: 'command' },
        { key: ClusterCommand, value: commandAttr(spec.command) },
        { key: ClusterState, value: 'running' },
        ...(spec.nodeId ? [{ key: ClusterNode, value: spec.nodeId }] : []),
      ] as never),
      memo: { command: spec.command, node: spec.nodeId ?? 'auto', weight: spec.weight },
      staticSummary: `${spec.nodeId ?? 'auto'}: ${commandAttr(spec.command).slice(0, 180)}`,
    }).catch((err: unknown) => {
      head?.started(false);
      throw err;
    });
    head?.started(true);
    return { taskId, handle, headStart: head?.answered };
  }

  /** The workflow input for a request: validation, dangerous-command policy and classification. */
  plan(req: SubmitRequest): CommandSpec {
    this.checkPolicy(req.command, req, req.nodeId);
    checkInputSize('the command with its cwd and env', { command: req.command, cwd: req.cwd, env: req.env });
    if (req.nodeId && !this.config.nodes.some((n) => n.id === req.nodeId)) {
      throw new UserError(`unknown node "${req.nodeId}"; known nodes: ${this.config.nodes.map((n) => n.id).join(', ')}`, 'unknown-node');
    }
    const cls = classifyCommand(req.command, {
      offload: this.config.settings.offloadCommands,
      local: this.config.settings.localCommands,
    });
    return {
      command: req.command,
      nodeId: req.nodeId,
      requires: req.requires ?? {},
      weight: cls.weight,
      classifyReason: cls.reason,
      timeoutS: req.timeoutS ?? this.config.settings.cmdTimeoutS,
      cwd: req.cwd,
      env: req.env,
      ...heartbeatTimeoutFromEnv(),
    };
  }

  /**
   * The policy verdict before anything starts, on the command with its cwd and env (and the
   * node's own policy when the node is named). A refusal is final; a finding that needs
   * confirmation is refused too until an approval step exists, with the hint that says how
   * to allow it per node.
   */
  private checkPolicy(command: string, req: { cwd?: string; env?: Record<string, string> }, nodeId?: string, prefix = ''): void {
    const node = nodeId ? this.config.nodes.find((n) => n.id === nodeId) : undefined;
    const [first] = checkPolicy({
      command,
      ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
      ...(req.env !== undefined ? { env: req.env } : {}),
      ...(node ? { node: node.policy ? { id: node.id, policy: node.policy } : { id: node.id } } : {}),
    });
    if (first) throw new UserError(`${prefix}${first.message} (${first.hint})`, 'refused');
  }

  /** Start a fan-out: every command is checked by the policy first (one refusal refuses all). */
  async submitParallel(req: { commands: string[]; requires?: Requirements; maxParallel?: number; timeoutS?: number; cwd?: string; env?: Record<string, string> }): Promise<string> {
    if (req.commands.length === 0) throw new UserError('commands is empty');
    req.commands.forEach((command, i) => this.checkPolicy(command, req, undefined, `commands[${i}]: `));
    const spec: ParallelSpec = {
      commands: req.commands, requires: req.requires ?? {}, maxParallel: req.maxParallel ?? DEFAULT_MAX_PARALLEL,
      timeoutS: req.timeoutS ?? this.config.settings.cmdTimeoutS, cwd: req.cwd, env: req.env,
    };
    checkInputSize(`the fan-out of ${spec.commands.length} commands`, spec);
    const taskId = newTaskId('par');
    await this.client.workflow.start<typeof parallelWorkflow>('parallelWorkflow', {
      taskQueue: HUB_QUEUE, workflowId: taskId, args: [spec], requestEagerStart: true,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: ClusterTaskKind, value: 'parallel' },
        { key: ClusterCommand, value: commandAttr(req.commands.slice(0, 5).join(' ; ')) },
        { key: ClusterState, value: 'running' },
      ] as never),
      memo: { commands: req.commands.length },
      staticSummary: `fan-out of ${req.commands.length} commands`,
    });
    return taskId;
  }

  /**
   * A fan-out's progress while it runs (done/total), for progress notifications and status. The
   * workflow learns results a node-batch at a time; each command's result lands in the output
   * store as it finishes, so count those too (same state dir as the worker, as task_output).
   */
  async progress(taskId: string): Promise<{ total: number; done: number; by_node: Record<string, number> } | null> {
    let p;
    try {
      p = await this.client.workflow.getHandle(taskId).query(progressQuery);
    } catch {
      return null;
    }
    return { ...p, done: Math.min(p.total, Math.max(p.done, this.outputs.countResults(taskId))) };
  }

  /**
   * Wait up to waitS for the result; after that, say it is still running. `fanoutSize`: a
   * fan-out's command count. `headStart`: submit's, for a head-started command: the workflow's
   * result is long-polled only once the head start ended without an answer (or after a while):
   * most calls are answered by it, and a long-poll per call is Temporal work on the critical path.
   */
  async wait(taskId: string, waitS: number, opts: { fanoutSize?: number; headStart?: Promise<boolean> } = {}): Promise<TaskStatus> {
    const handle = this.client.workflow.getHandle<typeof commandWorkflow>(taskId);
    let timer: NodeJS.Timeout | undefined;
    let pollTimer: NodeJS.Timeout | undefined;
    const local = this.localResult(taskId, opts.fanoutSize);
    let over = false;
    const recorded = !opts.headStart ? handle.result() : new Promise<void>((resolve) => {
      pollTimer = setTimeout(resolve, HEAD_START_POLL_AFTER_MS);
      void opts.headStart!.then((answered) => answered || resolve());
    }).then(() => (over ? new Promise<never>(() => undefined) : handle.result()));
    // waitS = Infinity waits for the end (setTimeout cannot take more than ~24 days).
    const timeout = new Promise<'timeout'>((resolve) => {
      if (Number.isFinite(waitS)) timer = setTimeout(() => resolve('timeout'), waitS * 1000);
    });
    try {
      const r = await Promise.race([recorded as Promise<CommandResult | ParallelResult>, timeout, local.result]);
      if (r === 'timeout') return { task_id: taskId, state: 'running', workflow_url: this.url(taskId) };
      return this.withUrls({ ...r, workflow_url: this.url(taskId) } as TaskStatus);
    } catch (err) {
      return this.status(taskId, err);
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
    const hub = this.completions;
    if (!hub) return { result: new Promise(() => undefined), stop: () => undefined };
    const submitted = Date.now();
    let listener: (payload: unknown) => void = () => undefined;
    const event = fanoutSize === undefined ? taskId : `batch:${taskId}`;
    const result = new Promise<CommandResult | ParallelResult>((resolve) => {
      if (fanoutSize === undefined) {
        listener = (c) => resolve({ ...(c as CommandResult), duration_ms: Date.now() - submitted });
        return;
      }
      const got = new Map<string, CommandResult>();
      listener = (batch) => {
        for (const c of batch as CommandResult[]) got.set(c.task_id, c);
        const r = completeFanout(taskId, fanoutSize, got, Date.now() - submitted);
        if (r) resolve(r);
      };
    });
    hub.on(event, listener);
    return { result, stop: () => hub.off(event, listener) };
  }

  async status(taskId: string, resultError?: unknown): Promise<TaskStatus> {
    const sub = subTask(taskId);
    if (sub) return this.subStatus(sub.parent, taskId);
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
      // Answered early (see completions): the stored result is final, the workflow records it in a moment.
      const stored = taskId.startsWith('cmd-') ? this.outputs.loadResult<CommandResult>(taskId) : await this.storedFanout(taskId, desc.startTime);
      if (stored) return this.withUrls({ ...stored, workflow_url: url } as TaskStatus);
      const node = desc.typedSearchAttributes.get(ClusterNode);
      return { task_id: taskId, state: 'running', workflow_url: url, ...(node ? { executed_on: node } : {}) };
    }
    if (desc.status.name === 'COMPLETED') return this.withUrls({ ...(await handle.result()), workflow_url: url });
    const state: TaskState = desc.status.name === 'CANCELLED' ? 'cancelled' : desc.status.name === 'TIMED_OUT' ? 'timed_out' : 'failed';
    return {
      success: false, executed_on: desc.typedSearchAttributes.get(ClusterNode) ?? '', stdout: '', stderr: '', return_code: null,
      auto_routed: false, task_id: taskId, error: `workflow ${desc.status.name.toLowerCase()}${resultError instanceof Error ? `: ${resultError.message}` : ''}`,
      duration_ms: desc.closeTime && desc.startTime ? desc.closeTime.getTime() - desc.startTime.getTime() : 0,
      route_reason: '', truncated: false, workflow_url: url, state,
    };
  }

  /** A fan-out whose every command has its result stored (none cancelled): its result, as the workflow is about to record it. */
  private async storedFanout(taskId: string, started: Date): Promise<ParallelResult | null> {
    let total: number;
    try {
      total = (await this.client.workflow.getHandle(taskId).query(progressQuery)).total;
    } catch {
      return null;
    }
    if (this.outputs.countResults(taskId) < total) return null;
    return completeFanout(taskId, total, this.outputs.loadFanoutResults<CommandResult>(taskId), Date.now() - started.getTime());
  }

  /** Each command of a fan-out links to the fan-out's page in the Web UI (it has no workflow of its own). */
  private withUrls(s: TaskStatus): TaskStatus {
    if (!('summary' in s)) return s;
    return { ...s, results: s.results.map((r) => ({ ...r, workflow_url: s.workflow_url })) };
  }

  /** One command of a fan-out: its stored result, or running while its parent runs. */
  private async subStatus(parent: string, taskId: string): Promise<TaskStatus> {
    const stored = this.outputs.loadResult<CommandResult>(taskId);
    if (stored) return { ...stored, workflow_url: this.url(parent) };
    const p = await this.status(parent);
    if (p.state === 'running') return { task_id: taskId, state: 'running', workflow_url: this.url(parent) };
    const r = (p as unknown as ParallelResult).results?.find((x) => x.task_id === taskId);
    if (r) return { ...r, workflow_url: this.url(parent) };
    throw new UserError(`no result stored for "${taskId}"`, 'not-found');
  }

  async cancel(taskId: string): Promise<TaskStatus> {
    const sub = subTask(taskId);
    if (sub) {
      // One command of a fan-out: the parent forwards the stop to the batch that owns it.
      await this.client.workflow.getHandle(sub.parent).signal(stopSignal, { taskIds: [taskId] });
      for (let i = 0; i < 150; i++) {
        const s = await this.status(taskId);
        if (s.state !== 'running') return s;
        await new Promise((r) => setTimeout(r, 200));
      }
      return this.status(taskId);
    }
    const handle = this.client.workflow.getHandle(taskId);
    try {
      await handle.cancel();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new UserError(`no running task with id "${taskId}"`, 'not-found');
      throw err;
    }
    return this.wait(taskId, 30);
  }

  async list(state?: TaskState, limit = 50): Promise<Array<{ task_id: string; state: string; node: string; command: string; started: string; workflow_url: string }>> {
    const clauses = ["(WorkflowType = 'commandWorkflow' OR WorkflowType = 'parallelWorkflow')"];
    if (state === 'running') clauses.push("ExecutionStatus = 'Running'");
    else if (state) clauses.push(`ClusterState = '${state}'`);
    const out = [];
    for await (const wf of this.client.workflow.list({ query: clauses.join(' AND ') })) {
      out.push({
        task_id: wf.workflowId,
        state: wf.status.name === 'RUNNING' ? 'running' : (wf.typedSearchAttributes.get(ClusterState) ?? wf.status.name.toLowerCase()),
        node: wf.typedSearchAttributes.get(ClusterNode) ?? '',
        command: wf.typedSearchAttributes.get(ClusterCommand) ?? '',
        started: wf.startTime.toISOString(),
        workflow_url: this.url(wf.workflowId),
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** A page of a task's output: from the output store once it ended, else live from the node (running: true). */
  async output(taskId: string, stream: StreamName, offset: number, limit: number, encoding: 'utf8' | 'base64' = 'utf8'): Promise<OutputPage> {
    if (this.outputs.has(taskId)) return this.outputs.read(taskId, stream, offset, limit, encoding);
    const node = this.liveOutput ? await this.runningOn(taskId) : undefined;
    const page = node ? await this.liveOutput!(node, taskId, stream, offset, limit, encoding) : null;
    if (page) return page;
    if (this.outputs.has(taskId)) return this.outputs.read(taskId, stream, offset, limit, encoding); // it just ended
    throw new UserError(`no output for task "${taskId}" yet (not started, or not a task of this state dir)`, 'not-found');
  }

  /** The node a running command (or command of a running fan-out) was sent to. */
  private async runningOn(taskId: string): Promise<string | undefined> {
    const sub = subTask(taskId);
    try {
      if (sub) return (await this.client.workflow.getHandle(sub.parent).query(commandNodeQuery, sub.index)) ?? undefined;
      const desc = await this.client.workflow.getHandle(taskId).describe();
      return desc.status.name === 'RUNNING' ? desc.typedSearchAttributes.get(ClusterNode) : undefined;
    } catch (err) {
      // Gone, or a fan-out from before this query existed: no live output.
      if (err instanceof WorkflowNotFoundError || sub) return undefined;
      throw err;
    }
  }
}

/** CLUSTERFLOW_HEARTBEAT_TIMEOUT_S: a shorter heartbeat timeout retries a dead worker's attempts sooner (fault tests). */
function heartbeatTimeoutFromEnv(): { heartbeatTimeoutS?: number } {
  const raw = process.env.CLUSTERFLOW_HEARTBEAT_TIMEOUT_S;
  if (raw === undefined || raw === '') return {};
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 1 || s > 3600) throw new UserError(`CLUSTERFLOW_HEARTBEAT_TIMEOUT_S must be 1..3600 seconds, got "${raw}"`);
  return { heartbeatTimeoutS: s };
}

export { WorkflowExecutionAlreadyStartedError };
