// headStartResult: a local activity of commandWorkflow's first workflow task. With eager start
// that task runs in the process that started the workflow, which is the process whose fast path
// launched the command (fastpath/fastPath.ts). A command that ends within a moment is then
// recorded in that same task: no activity on the node's queue, no second workflow task (Temporal's
// CPU per command fell from 29 to 16-23 ms here). Anywhere else (another process got the task, no fast
// path, a long run) it answers null at once or after the wait, and the workflow goes on to
// runCommand, which takes the result or re-attaches to the run as before.
import type { FastPath } from '../fastpath/fastPath.js';
import type { CommandResult } from '../shared.js';

export interface HeadStartInput {
  taskId: string;
  /** How long a launch still running is waited for. */
  maxWaitMs: number;
}

export function createHeadStartActivities(fastPath?: FastPath) {
  return {
    async headStartResult(input: HeadStartInput): Promise<CommandResult | null> {
      return (await fastPath?.result(input.taskId, input.maxWaitMs)) ?? null;
    },
  };
}
