// Local activities of a workflow's first workflow task that record what this process's head start
// (fastpath/) already ran. With eager start that task runs in the process that started the
// workflow, which is the process whose fast path launched the command or the fan-out's batches.
//   headStartResult (commandWorkflow): a command that ends within a moment is recorded in that same
//     task: no activity on the node's queue, no second workflow task (Temporal's CPU per command
//     fell from 29 to 16-23 ms here).
//   fanoutHeadStartResults (parallelWorkflow): the batches that already ended (a journaled
//     fan-out's workflow starts once it answered), recorded without their runBatch activities.
// Anywhere else (another process got the task, no fast path, a long run) they answer null / {},
// and the workflow goes on to runCommand / runBatch, which take the launch or re-attach to its
// runs as before.
import type { FastPath } from '../fastpath/fastPath.js';
import type { CommandResult } from '../shared.js';

/**
 * What fanoutHeadStartResults returns at most, as JSON (the rest is left to runBatch): the results
 * ride in one history event, under Temporal's 2 MiB payload limit with room to spare.
 */
export const HEAD_START_RESULTS_BUDGET = 512 * 1024;

export interface HeadStartInput {
  taskId: string;
  /** How long a launch still running is waited for. */
  maxWaitMs: number;
}

export interface FanoutHeadStartInput {
  parentId: string;
  /** The head-started nodes whose single batch the workflow would run in runBatch. */
  nodeIds: string[];
}

export function createHeadStartActivities(fastPath?: FastPath) {
  return {
    async headStartResult(input: HeadStartInput): Promise<CommandResult | null> {
      return (await fastPath?.result(input.taskId, input.maxWaitMs)) ?? null;
    },

    /** Results by node of the batches launched here that have ended; taken, so runBatch will not find them. */
    async fanoutHeadStartResults(input: FanoutHeadStartInput): Promise<Record<string, CommandResult[]>> {
      return fastPath?.fanouts.takeEnded(input.parentId, input.nodeIds, HEAD_START_RESULTS_BUDGET) ?? {};
    },
  };
}
