// The activities a fan-out runs (placement and the head start's results on the hub, batches on
// each node's queue), proxied once with every setting, and how their failures are told apart.
// Apart from fanout.ts so the Fanout class reads as the fan-out's state alone. Deterministic
// workflow code.
import { ApplicationFailure, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { createBatchActivities } from '../activities/batch.js';
import type { createHeadStartActivities } from '../activities/headStart.js';
import type { createHubActivities } from '../activities/hub.js';
import { activityAttempts, FailureType, nodeQueue } from '../shared.js';

export const { placeBatch, releasePlacement } = proxyLocalActivities<ReturnType<typeof createHubActivities>>({
  startToCloseTimeout: '60 seconds',
  retry: { maximumAttempts: 3 },
});

/** The head-started batches that already ended, once: a process that has none answers {} and runBatch does the work. */
export const { fanoutHeadStartResults } = proxyLocalActivities<ReturnType<typeof createHeadStartActivities>>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/** runBatch on the node's own queue; a new attempt re-attaches to commands already launched. */
export const runBatchOn = (nodeId: string, sshRetries?: number) =>
  proxyActivities<ReturnType<typeof createBatchActivities>>({
    taskQueue: nodeQueue(nodeId),
    startToCloseTimeout: '7 days',
    heartbeatTimeout: '30 seconds',
    scheduleToStartTimeout: '5 minutes',
    // CLUSTER_SSH_RETRIES (batch.sshRetries) is enforced by the activity for an unreachable node; 5 attempts at least, as before.
    retry: {
      initialInterval: '1 second',
      maximumAttempts: activityAttempts(sshRetries, 5),
      nonRetryableErrorTypes: [FailureType.HostKey, FailureType.Auth, FailureType.UnknownNode],
    },
  }).runBatch;

/** The ApplicationFailure type at the root of an activity's or a child workflow's failure. */
export function failureType(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure) return e.type ?? undefined;
  }
  return undefined;
}
