// runBatch: the commands of one fan-out batch on one node, as one engine attempt whose lanes
// (the node's share of max_parallel) each run a chunk of commands per exec. Stop requests reach
// it as a Query answer (activities cannot receive signals), checked every second.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { findNode, unknownNodeMessage } from '../cluster/nodes.js';
import { workerRefusal } from '../cluster/policyGate.js';
import { runAttempt } from '../engine/attempt.js';
import { commandsEndedSignal, stopQuery } from '../messages.js';
import type { Services } from '../runtime/services.js';
import { FailureType, unranResult, type BatchInput, type CommandResult } from '../shared.js';
import { spendRetryBudget } from '../engine/failures.js';
import { activityControl } from './control.js';

const CHECK_MS = 1000;
/** Attempts of a batch whose node cannot be reached (nothing sent) before the fan-out re-places it, in fan-outs without CLUSTER_SSH_RETRIES. */
const UNREACHABLE_ATTEMPTS = 2;

export interface BatchActivityDeps {
  services: Services;
  /** Asks the batch's workflow which commands were stopped. */
  client: Client;
}

export function createBatchActivities({ services: rt, client }: BatchActivityDeps) {
  return {
    async runBatch(batch: BatchInput): Promise<CommandResult[]> {
      const ctx = Context.current();
      const node = findNode(rt.config, batch.nodeId);
      if (!node) throw ApplicationFailure.nonRetryable(unknownNodeMessage(rt.config, batch.nodeId), FailureType.UnknownNode);
      const items = batch.items.map((it) => ({
        taskId: `${batch.parentId}/${it.index}`,
        command: it.command,
        routeReason: batch.routeReason,
        autoRouted: true,
        stop: new AbortController(),
      }));
      // The worker decides what it runs: a command the policy refuses on this node gets that as its result, unrun.
      const refused = new Map<number, string>();
      // Each distinct command is checked once (a batch often repeats one).
      const verdicts = new Map<string, string | undefined>();
      items.forEach((it, k) => {
        if (!verdicts.has(it.command))
          verdicts.set(it.command, workerRefusal({ command: it.command, cwd: batch.cwd, env: batch.env, node, approved: batch.approved }));
        const why = verdicts.get(it.command);
        if (why) refused.set(k, why);
      });
      const wf = ctx.info.workflowExecution;
      const checkStops = async () => {
        if (!wf) return;
        try {
          const st = await client.workflow.getHandle(wf.workflowId, wf.runId).query(stopQuery);
          for (const it of items) if (st.all || st.taskIds.includes(it.taskId)) it.stop.abort();
        } catch {
          /* the next tick asks again */
        }
      };
      // A stop may have come before a retry of this batch started: start nothing it stopped. A first
      // attempt asks first after CHECK_MS: a Query is a round trip through the server and a task of
      // the workflow (which holds its next workflow task back), for every batch, and a stop that
      // raced the start is rare; it still kills what it started, within CHECK_MS.
      if (ctx.info.attempt > 1) await checkStops();
      const poll = setInterval(() => void checkStops(), CHECK_MS);
      const { control, dispose } = activityControl(ctx);
      try {
        const runnable = items.filter((_, k) => !refused.has(k));
        const ran = (await runAttempt(
          rt,
          node,
          runnable.map((it) => ({ ...it, signal: it.stop.signal })),
          {
            lanes: batch.concurrency,
            timeoutS: batch.timeoutS,
            cwd: batch.cwd,
            env: batch.env,
            streamCap: batch.streamCap,
            onResult: (_k, result) => {
              rt.book.releaseOne(result.task_id);
              rt.results.publish(result);
              // A stopped command's result goes to the fan-out now: task_status of it answers at
              // once, from any process, instead of when the whole batch ends.
              if (result.state === 'cancelled')
                void client.workflow
                  .getHandle(batch.parentId)
                  .signal(commandsEndedSignal, [result])
                  .catch(() => undefined);
            },
          },
          control,
        )) as CommandResult[];
        let next = 0;
        const results = items.map((it, k) => {
          if (!refused.has(k)) return ran[next++]!;
          const r = unranResult(it.taskId, '', `refused on ${node.id}: ${refused.get(k)}`, 'failed', it.routeReason);
          rt.outputs.saveResult(it.taskId, r);
          rt.results.publish(r);
          return r;
        });
        // The fan-out's waiter in this process (serve) may answer once every batch is in.
        if (!batch.notFinal) rt.results.publishBatch(batch.parentId, results);
        return results;
      } catch (err) {
        // Unreachable with nothing sent: retried CLUSTER_SSH_RETRIES times (once in older fan-outs), then the workflow re-places the batch.
        throw spendRetryBudget(err, ctx.info.attempt, batch.sshRetries ?? UNREACHABLE_ATTEMPTS - 1);
      } finally {
        clearInterval(poll);
        dispose();
      }
    },
  };
}
