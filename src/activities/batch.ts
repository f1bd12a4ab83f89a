// runBatch: the commands of one fan-out batch on one node (engine/batch.ts), or, when this
// process launched the batch before the workflow's activity existed (its head start,
// fastpath/fanoutHeadStart.ts), that launch's results: the same runs, no second exec.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { findNode, unknownNodeMessage } from '../cluster/nodes.js';
import { HEARTBEAT_MS, type AttemptProgress } from '../engine/attempt.js';
import { runNodeBatch } from '../engine/batch.js';
import { spendRetryBudget } from '../engine/failures.js';
import type { BatchLaunch, FanoutHeadStart } from '../fastpath/fanoutHeadStart.js';
import type { Services } from '../runtime/services.js';
import { FailureType, type BatchInput, type CommandResult } from '../shared.js';
import { activityControl, cancelRequested } from './control.js';

/** Attempts of a batch whose node cannot be reached (nothing sent) before the fan-out re-places it, in fan-outs without CLUSTER_SSH_RETRIES. */
const UNREACHABLE_ATTEMPTS = 2;

/** Heartbeat details of a batch attempt: the engine's progress, and whether an attempt already knew what the head start sent. */
type BatchProgress = Partial<AttemptProgress> & { headStartSettled?: boolean };

export interface BatchActivityDeps {
  services: Services;
  /** Asks the batch's workflow which commands were stopped. */
  client: Client;
  /** This process's head-started fan-out batches, when it has them. */
  headStarts?: FanoutHeadStart;
}

export function createBatchActivities({ services: rt, client, headStarts }: BatchActivityDeps) {
  return {
    async runBatch(batch: BatchInput): Promise<CommandResult[]> {
      const ctx = Context.current();
      const node = findNode(rt.config, batch.nodeId);
      if (!node) throw ApplicationFailure.nonRetryable(unknownNodeMessage(rt.config, batch.nodeId), FailureType.UnknownNode);
      const details = (ctx.info.heartbeatDetails ?? {}) as BatchProgress;
      // A head start nobody here can vouch for may have sent every command: re-attach, never re-place.
      let sent = details.sent === true || (batch.headStart === true && details.headStartSettled !== true);
      let settled = details.headStartSettled === true;
      const launch = batch.headStart ? headStarts?.take(batch.parentId, batch.nodeId) : undefined;
      try {
        // The launch ran the batch the workflow asks for (both cut it from the same plan); anything else re-attaches.
        if (launch && sameItems(launch.batch, batch)) {
          const taken = await takeLaunch(ctx, launch);
          if (taken.results) return taken.results;
          // It failed: this attempt knows what it sent (nothing: the node may be re-placed; else re-attach there).
          sent = taken.sent;
          settled = true;
          ctx.heartbeat({ sent, done: 0, bytes: 0, headStartSettled: true } satisfies BatchProgress);
        }
        const { control, dispose } = activityControl(ctx, { sent }, settled ? { headStartSettled: true } : {});
        try {
          const wf = ctx.info.workflowExecution;
          return await runNodeBatch(rt, client, node, batch, control, {
            stopsFrom: wf ? { workflowId: wf.workflowId, runId: wf.runId } : undefined,
            // A stop may have come before a retry of this batch started: start nothing it stopped.
            checkStopsFirst: ctx.info.attempt > 1,
            // A child batch workflow: the node's next batch may wait for its lanes (BatchInput.after).
            handsOverAs: wf && wf.workflowId !== batch.parentId ? wf.workflowId : undefined,
          });
        } finally {
          dispose();
        }
      } catch (err) {
        // Unreachable with nothing sent: retried CLUSTER_SSH_RETRIES times (once in older fan-outs), then the workflow re-places the batch.
        throw spendRetryBudget(err, ctx.info.attempt, batch.sshRetries ?? UNREACHABLE_ATTEMPTS - 1);
      }
    },
  };
}

/**
 * Wait for this process's launch of the batch, heartbeating its progress; a cancel the workflow
 * asked for kills it. Temporal giving up on this attempt lets go (the launch runs on; the next
 * attempt re-attaches to its commands). Results, or what the failed launch had sent.
 */
async function takeLaunch(ctx: Context, launch: BatchLaunch): Promise<{ results?: CommandResult[]; sent: boolean }> {
  // Not marked settled while the launch runs: Temporal throttles heartbeats, so the details a
  // dead process leaves may be an early "nothing sent" from before its launch sent the batch.
  const beat = () => ctx.heartbeat(launch.progress() satisfies BatchProgress);
  launch.onProgress = beat;
  beat();
  const timer = setInterval(beat, HEARTBEAT_MS);
  let onCancel = () => undefined as void;
  const abandoned = new Promise<never>((_, reject) => {
    onCancel = () => {
      if (cancelRequested(ctx)) launch.cancel();
      else reject(ctx.cancellationSignal.reason);
    };
  });
  abandoned.catch(() => undefined);
  ctx.cancellationSignal.addEventListener('abort', onCancel);
  if (ctx.cancellationSignal.aborted) onCancel();
  try {
    return { results: await Promise.race([launch.outcome, abandoned]), sent: true };
  } catch (err) {
    if (ctx.cancellationSignal.aborted && !cancelRequested(ctx)) throw err;
    return { sent: launch.progress().sent };
  } finally {
    launch.onProgress = undefined;
    clearInterval(timer);
    ctx.cancellationSignal.removeEventListener('abort', onCancel);
  }
}

const sameItems = (a: BatchInput, b: BatchInput): boolean =>
  a.items.length === b.items.length && a.items.every((it, k) => it.index === b.items[k]!.index && it.command === b.items[k]!.command);
