// The one client module the MCP server and the CLI share: it checks, classifies and starts
// command workflows (this file), and waits for them and answers status / output / cancel / list
// (taskReader.ts, which it extends).
import { classifyCommand } from '../cluster/classify.js';
import { findNode, unknownNodeMessage } from '../cluster/nodes.js';
import type { FastPath } from '../fastpath/fastPath.js';
import type { LaunchIntent } from '../fastpath/launchJournal.js';
import type { CommandSpec, ParallelSpec } from '../shared.js';
import { TaskStarter } from './taskStart.js';
import { UserError } from './errors.js';
import { checkRequestPolicy } from './policyCheck.js';
import { checkInputSize, DEFAULT_MAX_PARALLEL, inputBytes, inputRoomFor, kindsOf, newTaskId, type ParallelRequest, type SubmitRequest } from './requests.js';
import { TaskReader, type TaskReaderDeps } from './taskReader.js';
import { planWorkspace, type Origin } from './workspacePlan.js';

export { NeedsApproval, UserError } from './errors.js';
export { newTaskId, type ParallelRequest, type RunningTask, type SubmitRequest, type TaskStatus } from './requests.js';
export type { OutputReader } from './taskReader.js';

export interface TaskClientDeps extends TaskReaderDeps {
  /** Place and launch commands from this process before their workflow runs (serve: fastpath/fastPath.ts). */
  fastPath?: FastPath;
  /** runCommand's heartbeat timeout for the tasks this client starts (CLUSTERFLOW_HEARTBEAT_TIMEOUT_S). */
  heartbeatTimeoutS?: number;
  /** This host and state dir as the origin of workspaces (its workers sync the files). */
  origin: Origin;
  /** How long a journaled head start's workflow start waits for the command's answer (CLUSTERFLOW_START_DEFER_MS). */
  startDeferMs?: number;
}

/** Started tasks remembered for the drain at session end: more than this and the oldest are forgotten. */
const OPEN_TASKS_MAX = 10_000;

export class TaskClient extends TaskReader {
  /** Starts command workflows (also recovery's, for launches a dead process journaled). */
  readonly starter: TaskStarter;

  constructor(protected override readonly deps: TaskClientDeps) {
    super(deps);
    this.starter = new TaskStarter(deps.client, (command) => this.programsOf(command), deps.startDeferMs);
  }

  /**
   * A journaled launch's workflow: started once the launch answered (`after`), after the
   * deferral, or as soon as anything asks about the task (PendingStarts.settled), retried until
   * it exists. Then the launch hears that it started.
   */
  private startLater(intent: LaunchIntent, after: Promise<unknown> | undefined, started: (ok: boolean) => void): void {
    this.pending.track(intent.taskId, (hurry) => this.starter.deferred(intent, Promise.race([after ?? Promise.resolve(), hurry])).then(() => started(true)));
  }

  private remember(taskId: string): void {
    this.open.add(taskId);
    if (this.open.size > OPEN_TASKS_MAX) this.open.delete(this.open.values().next().value!);
  }

  /**
   * Wait until every task this client started is closed in Temporal, at most `timeoutMs`: the
   * session's worker is still running meanwhile, so what it answered gets recorded. Returns the
   * ids still running at the deadline. (No long-poll per task while serving: most are forgotten
   * when wait() sees the workflow's own result; the rest are asked here, most answer at once.)
   */
  async drain(timeoutMs: number): Promise<string[]> {
    const ids = [...this.open];
    const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    let next = 0;
    const asker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await this.pending.settled(id);
        // Failed, cancelled, terminated or gone: closed all the same.
        await this.client.workflow
          .getHandle(id)
          .result()
          .catch(() => undefined)
          .finally(() => this.open.delete(id));
      }
    };
    await Promise.race([Promise.all(Array.from({ length: 16 }, asker)), timer]);
    return ids.filter((id) => this.open.has(id));
  }

  /** Refuse, classify and start; returns at once with the task id. */
  async submit(req: SubmitRequest): Promise<{ taskId: string; headStart?: Promise<boolean> }> {
    const taskId = newTaskId('cmd');
    const planned = { ...this.plan(req), workflowUrl: this.url(taskId) };
    // A head start's launch is opened now and let run only once there is a durable record of it:
    // its journal record while starts succeed (the workflow is started after it answered), else
    // the workflow itself.
    const head = await this.deps.fastPath?.prepare(taskId, planned, { journal: this.starter.healthy });
    const spec = head?.spec ?? planned;
    this.remember(taskId);
    if (head?.journaled) {
      this.startLater({ taskId, spec }, head.startAfter, head.started);
      return { taskId, headStart: head.answered };
    }
    await this.starter.start(taskId, spec).catch((err: unknown) => {
      this.open.delete(taskId);
      head?.started(false);
      throw err;
    });
    head?.started(true);
    return { taskId, headStart: head?.answered };
  }

  /** The workflow input for a request: validation, dangerous-command policy and classification. */
  plan(req: SubmitRequest): CommandSpec {
    const ws = planWorkspace(this.config, this.deps.origin, req);
    const excludeNodes = checkRequestPolicy(this.config, [req.command], { ...req, cwd: ws.cwd });
    checkInputSize('the command with its cwd and env', { command: req.command, cwd: req.cwd, env: req.env });
    if (req.nodeId && !findNode(this.config, req.nodeId)) throw new UserError(unknownNodeMessage(this.config, req.nodeId), 'unknown-node');
    const cls = this.classify(req.command);
    return {
      command: req.command,
      nodeId: req.nodeId,
      requires: req.requires ?? {},
      weight: cls.weight,
      classifyReason: cls.reason,
      ...kindsOf([req.command]),
      timeoutS: req.timeoutS ?? this.config.settings.cmdTimeoutS,
      cwd: ws.cwd,
      env: req.env,
      ...(this.deps.heartbeatTimeoutS !== undefined ? { heartbeatTimeoutS: this.deps.heartbeatTimeoutS } : {}),
      ...(req.approved?.length ? { approved: req.approved } : {}),
      ...(Object.keys(excludeNodes).length ? { excludeNodes } : {}),
      ...(ws.workspace ? { workspace: ws.workspace } : {}),
      sshRetries: this.config.settings.sshRetries,
    };
  }

  private classify(command: string) {
    return classifyCommand(command, { offload: this.config.settings.offloadCommands, local: this.config.settings.localCommands });
  }

  /** The programs a command runs (the parse is cached: plan() just did it). */
  private programsOf(command: string): string[] {
    return this.classify(command).programs;
  }

  /** Start a fan-out: every command is checked by the policy first (one refusal refuses all). */
  async submitParallel(req: ParallelRequest): Promise<string> {
    const taskId = newTaskId('par');
    const planned = { ...this.planParallel(req), workflowUrl: this.url(taskId) };
    const bytes = checkInputSize(`the fan-out of ${planned.commands.length} commands`, planned);
    let placement = await this.deps.fastPath?.placeFanout(taskId, planned);
    // A placement is a node id per command: an input near the limit goes without (the workflow places it).
    if (placement && !inputRoomFor(bytes, inputBytes(placement) + 16)) {
      this.deps.fastPath?.unplaceFanout(taskId);
      placement = undefined;
    }
    // Placed here: the batches of the nodes this process serves are launched now, held at a gate
    // until there is a durable record of them (as for a command, submit).
    const launches = placement ? this.deps.fastPath?.fanouts.prepare(taskId, planned, placement, this.starter.healthy) : undefined;
    const spec = launches?.spec ?? (placement ? { ...planned, placement } : planned);
    // Every batch runs here: wait() answers from them and long-polls the workflow only if that fails (or takes a while).
    if (launches?.everyNode) {
      this.launchedFanouts.set(taskId, launches.answered);
      void launches.answered.then(() => setTimeout(() => this.launchedFanouts.delete(taskId), 60_000).unref());
    }
    this.remember(taskId);
    if (launches?.journaled) {
      this.startLater({ taskId, kind: 'parallel', spec }, launches.startAfter, launches.started);
      return taskId;
    }
    await this.starter.startParallel(taskId, spec).catch((err: unknown) => {
      this.open.delete(taskId);
      this.launchedFanouts.delete(taskId);
      launches?.started(false);
      if (placement) this.deps.fastPath?.unplaceFanout(taskId);
      throw err;
    });
    launches?.started(true);
    return taskId;
  }

  /** The workflow input of a fan-out: every command checked by the policy (one refusal refuses all), the workspace planned. */
  planParallel(req: ParallelRequest): ParallelSpec {
    if (req.commands.length === 0) throw new UserError('commands is empty');
    const ws = planWorkspace(this.config, this.deps.origin, req);
    // A node whose own policy refuses any of the commands takes none of them.
    const excludeNodes = checkRequestPolicy(this.config, req.commands, { ...req, cwd: ws.cwd });
    return {
      commands: req.commands,
      requires: req.requires ?? {},
      maxParallel: req.maxParallel ?? DEFAULT_MAX_PARALLEL,
      timeoutS: req.timeoutS ?? this.config.settings.cmdTimeoutS,
      cwd: ws.cwd,
      env: req.env,
      ...(req.approved?.length ? { approved: req.approved } : {}),
      ...(Object.keys(excludeNodes).length ? { excludeNodes } : {}),
      ...(ws.workspace ? { workspace: ws.workspace } : {}),
      sshRetries: this.config.settings.sshRetries,
      ...kindsOf(req.commands.slice(0, 20)),
    };
  }
}
