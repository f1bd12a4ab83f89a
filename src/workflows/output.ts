import { proxyActivities } from '@temporalio/workflow';
import type { createOutputActivities, ReadOutputInput } from '../activities/output.js';
import type { OutputPage } from '../runtime/outputStore.js';
import { FailureType, nodeQueue } from '../shared.js';

/**
 * task_output for a client that does not hold the output: one page, read by a worker of the node
 * the task ran on (its own store, or the node's run files). A short workflow, because a client
 * can reach an activity only through one.
 */
export async function readOutputWorkflow(input: ReadOutputInput): Promise<OutputPage | null> {
  const { readOutput } = proxyActivities<ReturnType<typeof createOutputActivities>>({
    taskQueue: nodeQueue(input.nodeId),
    // Nobody serving the node's queue: say so soon rather than wait for a worker.
    scheduleToStartTimeout: '10 seconds',
    startToCloseTimeout: '60 seconds',
    retry: { maximumAttempts: 2, nonRetryableErrorTypes: [FailureType.UnknownNode, FailureType.HostKey, FailureType.Auth] },
  });
  return readOutput(input);
}
