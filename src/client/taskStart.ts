// Starting a command's or a fan-out's workflow: at once (the usual way), or after its
// head-started launch answered (journaled: fastpath/launchJournal.ts holds the durable record
// until the workflow does). A deferred start is retried until it succeeds: the commands ran, so
// the workflow must exist; a start that finds it already there (a lost reply, a recovery) is done.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowIdReusePolicy } from '@temporalio/common';
import { log } from '../log.js';
import type { LaunchIntent } from '../fastpath/launchJournal.js';
import { HUB_QUEUE, type CommandSpec, type ParallelSpec } from '../shared.js';
import { ClusterCommand, ClusterNode, ClusterState, ClusterTaskKind, programsAttr } from '../workflows/searchAttributes.js';
import { oneLine } from './requests.js';

/** How long a journaled start waits for its command's answer: Temporal's work then stays off the answer's path. */
export const DEFAULT_START_DEFER_MS = 50;
/**
 * The same for a fan-out: most take longer than a command, and one whose workflow starts after it
 * answered is recorded in one workflow task (no runBatch activities: Fanout.recordEndedHeadStarts):
 * 10 events instead of ~30, and Temporal's CPU per 300-command fan-out 36-39 ms instead of 89-98
 * here. Until its start it is not in Temporal's lists (anything that asks starts it at once).
 */
export const DEFAULT_FANOUT_START_DEFER_MS = 1000;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 30_000;

export class TaskStarter {
  /** The last start succeeded: a launch may run on its journal record alone (a failing Temporal gates launches on their start again). */
  healthy = false;

  constructor(
    private readonly client: Client,
    private readonly programsOf: (command: string) => string[],
    /** CLUSTERFLOW_START_DEFER_MS, for both kinds; else the defaults above. */
    private readonly deferMs?: number,
  ) {}

  /** Start command `taskId`'s workflow now. `once`: a workflow of that id that already ran is not run again (a deferred or recovered start). */
  async start(taskId: string, spec: CommandSpec, opts: { once?: boolean } = {}): Promise<void> {
    const node = spec.nodeId ?? spec.placed?.nodeId;
    await this.startWorkflow('commandWorkflow', taskId, spec, opts, {
      attributes: [
        { key: ClusterTaskKind, value: 'command' },
        { key: ClusterCommand, value: programsAttr(this.programsOf(spec.command)) },
        // Placed here (the fast path): named at once, so the workflow need not upsert it.
        ...(node ? [{ key: ClusterNode, value: node }] : []),
      ],
      memo: { command: spec.command, node: node ?? 'auto', weight: spec.weight },
      summary: `${spec.nodeId ?? 'auto'}: ${oneLine(spec.command, 180)}`,
    });
  }

  /** Start fan-out `taskId`'s workflow now (`once`: as for start). */
  async startParallel(taskId: string, spec: ParallelSpec, opts: { once?: boolean } = {}): Promise<void> {
    await this.startWorkflow('parallelWorkflow', taskId, spec, opts, {
      attributes: [
        { key: ClusterTaskKind, value: 'parallel' },
        { key: ClusterCommand, value: programsAttr(spec.commands.slice(0, 20).flatMap((c) => this.programsOf(c))) },
      ],
      memo: { commands: spec.commands.length, command: oneLine(spec.commands.slice(0, 5).join(' ; '), 512) },
      summary: `fan-out of ${spec.commands.length} commands`,
    });
  }

  /** A journaled launch's workflow (recovery.ts, deferred): once. */
  startIntent(intent: LaunchIntent): Promise<unknown> {
    return intent.kind === 'parallel' ? this.startParallel(intent.taskId, intent.spec, { once: true }) : this.start(intent.taskId, intent.spec, { once: true });
  }

  /**
   * The start both kinds share: eager, in the running state, with what the list and the Web UI
   * show. Health follows each start; with `once`, a workflow of that id that exists already
   * counts as started.
   */
  private async startWorkflow(
    type: 'commandWorkflow' | 'parallelWorkflow',
    taskId: string,
    spec: CommandSpec | ParallelSpec,
    opts: { once?: boolean },
    shown: { attributes: Array<{ key: unknown; value: unknown }>; memo: Record<string, unknown>; summary: string },
  ): Promise<void> {
    try {
      await this.client.workflow.start(type, {
        taskQueue: HUB_QUEUE,
        workflowId: taskId,
        args: [spec],
        requestEagerStart: true,
        ...(opts.once ? { workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE } : {}),
        typedSearchAttributes: new TypedSearchAttributes([...shown.attributes, { key: ClusterState, value: 'running' }] as never),
        memo: shown.memo,
        staticSummary: shown.summary,
      });
      this.healthy = true;
    } catch (err) {
      if (!(opts.once && err instanceof WorkflowExecutionAlreadyStartedError)) {
        this.healthy = false;
        throw err;
      }
      this.healthy = true;
    }
  }

  /**
   * Start it once `after` settles (the command answered) or deferMs passed, whichever is first,
   * retrying until it succeeds (the command may have run: its workflow must exist). Resolves when it started.
   */
  async deferred(intent: LaunchIntent, after: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deferMs = this.deferMs ?? (intent.kind === 'parallel' ? DEFAULT_FANOUT_START_DEFER_MS : DEFAULT_START_DEFER_MS);
    await Promise.race([after, new Promise((resolve) => (timer = setTimeout(resolve, deferMs)))]);
    clearTimeout(timer);
    for (let wait = RETRY_FIRST_MS; ; wait = Math.min(RETRY_MAX_MS, wait * 2)) {
      try {
        await this.startIntent(intent);
        return;
      } catch (err) {
        log.warn({ taskId: intent.taskId, err: String(err), retryInMs: wait }, 'could not start the workflow of a launch that runs; retrying');
      }
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  }
}
