// Starting a command's workflow: at once (the usual way), or after its head-started command
// answered (journaled: fastpath/launchJournal.ts holds the durable record until the workflow
// does). A deferred start is retried until it succeeds: the command ran, so its workflow must
// exist; a start that finds the workflow already there (a lost reply, a recovery) is done.
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowIdReusePolicy } from '@temporalio/common';
import { log } from '../log.js';
import { HUB_QUEUE, type CommandSpec } from '../shared.js';
import type { commandWorkflow } from '../workflows/command.js';
import { ClusterCommand, ClusterNode, ClusterState, ClusterTaskKind, programsAttr } from '../workflows/searchAttributes.js';
import { oneLine } from './requests.js';

/** How long a journaled start waits for its command's answer: Temporal's work then stays off the answer's path. */
export const DEFAULT_START_DEFER_MS = 50;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 30_000;

export class CommandStarter {
  /** The last start succeeded: a launch may run on its journal record alone (a failing Temporal gates launches on their start again). */
  healthy = false;

  constructor(
    private readonly client: Client,
    private readonly programsOf: (command: string) => string[],
    private readonly deferMs = DEFAULT_START_DEFER_MS,
  ) {}

  /** Start workflow `taskId` now. `once`: a workflow of that id that already ran is not run again (a deferred or recovered start). */
  async start(taskId: string, spec: CommandSpec, opts: { once?: boolean } = {}): Promise<WorkflowHandle<typeof commandWorkflow>> {
    const node = spec.nodeId ?? spec.placed?.nodeId;
    try {
      const handle = await this.client.workflow.start<typeof commandWorkflow>('commandWorkflow', {
        taskQueue: HUB_QUEUE,
        workflowId: taskId,
        args: [spec],
        requestEagerStart: true,
        ...(opts.once ? { workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE } : {}),
        typedSearchAttributes: new TypedSearchAttributes([
          { key: ClusterTaskKind, value: 'command' },
          { key: ClusterCommand, value: programsAttr(this.programsOf(spec.command)) },
          { key: ClusterState, value: 'running' },
          // Placed here (the fast path): named at once, so the workflow need not upsert it.
          ...(node ? [{ key: ClusterNode, value: node }] : []),
        ] as never),
        memo: { command: spec.command, node: node ?? 'auto', weight: spec.weight },
        staticSummary: `${spec.nodeId ?? 'auto'}: ${oneLine(spec.command, 180)}`,
      });
      this.healthy = true;
      return handle;
    } catch (err) {
      if (opts.once && err instanceof WorkflowExecutionAlreadyStartedError) {
        this.healthy = true;
        return this.client.workflow.getHandle(taskId);
      }
      this.healthy = false;
      throw err;
    }
  }

  /**
   * Start it once `after` settles (the command answered) or deferMs passed, whichever is first,
   * retrying until it succeeds (the command may have run: its workflow must exist). Resolves when it started.
   */
  async deferred(taskId: string, spec: CommandSpec, after: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([after, new Promise((resolve) => (timer = setTimeout(resolve, this.deferMs)))]);
    clearTimeout(timer);
    for (let wait = RETRY_FIRST_MS; ; wait = Math.min(RETRY_MAX_MS, wait * 2)) {
      try {
        await this.start(taskId, spec, { once: true });
        return;
      } catch (err) {
        log.warn({ taskId, err: String(err), retryInMs: wait }, 'could not start the workflow of a command that was launched; retrying');
      }
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  }
}
