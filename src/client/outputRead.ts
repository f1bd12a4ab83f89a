// task_output for output this process does not hold: a short workflow whose activity runs on
// the worker of the node the task ran on (workflows/output.ts). The client itself never opens
// SSH or another process's state dir.
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { ReadOutputInput } from '../activities/output.js';
import type { OutputPage } from '../runtime/outputStore.js';
import { errorText, HUB_QUEUE, nodeQueue } from '../shared.js';
import type { readOutputWorkflow } from '../workflows/output.js';
import { newTaskId, UserError } from './tasks.js';

export async function readOutputThroughTemporal(client: Client, input: ReadOutputInput): Promise<OutputPage | null> {
  try {
    return await client.workflow.execute<typeof readOutputWorkflow>('readOutputWorkflow', {
      taskQueue: HUB_QUEUE,
      workflowId: `read-${newTaskId('cmd').slice(4)}`,
      args: [input],
      staticSummary: `read ${input.stream} of ${input.taskId} on ${input.nodeId}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const why = errorText(err);
    if (/schedule.?to.?start|ScheduleToStart/i.test(why) || /timeout/i.test(why)) {
      throw new UserError(
        `no worker serves ${nodeQueue(input.nodeId)} to read the output of ${input.taskId}; start one: cluster-router worker --nodes ${input.nodeId}`,
        'not-found',
      );
    }
    throw new UserError(`cannot read the output of ${input.taskId} on ${input.nodeId}: ${why}`, 'not-found');
  }
}
