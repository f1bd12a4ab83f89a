// task_list and the MCP resources list: recent tasks from Temporal's visibility, including those
// this process answered before their workflow existed (a journaled head start starts it just
// after the answer, and visibility records a start a moment after that).
import type { Client } from '@temporalio/client';
import type { TaskState } from '../shared.js';
import { ClusterCommand, ClusterNode, ClusterState } from '../workflows/searchAttributes.js';
import { RUNNING_START_WAIT_MS, type PendingStarts } from './pendingStarts.js';

export interface ListedTask {
  task_id: string;
  state: string;
  node: string;
  command: string;
  started: string;
  workflow_url: string;
}

/** How long a listing waits for the start of a task it knows to show in visibility. */
const VISIBLE_WAIT_MS = 1000;
const VISIBLE_POLL_MS = 50;

/**
 * Newest first. Tasks whose start is pending in this process are started now (an agent that just
 * got an answer may list its tasks at once); with no state filter, the list is asked again for a
 * moment until they show.
 */
export async function listTasks(
  client: Client,
  pending: PendingStarts,
  url: (taskId: string) => string,
  state: TaskState | undefined,
  limit: number,
): Promise<ListedTask[]> {
  const fresh = pending.ids();
  await Promise.all(fresh.map((id) => pending.settled(id, RUNNING_START_WAIT_MS)));
  const deadline = Date.now() + VISIBLE_WAIT_MS;
  for (;;) {
    const out = await listOnce(client, url, state, limit);
    const shown = new Set(out.map((t) => t.task_id));
    const waiting = state === undefined && out.length < limit && fresh.some((id) => !shown.has(id));
    if (!waiting || Date.now() >= deadline) return out;
    await new Promise((resolve) => setTimeout(resolve, VISIBLE_POLL_MS));
  }
}

async function listOnce(client: Client, url: (taskId: string) => string, state: TaskState | undefined, limit: number): Promise<ListedTask[]> {
  const clauses = ["(WorkflowType = 'commandWorkflow' OR WorkflowType = 'parallelWorkflow')"];
  if (state === 'running') clauses.push("ExecutionStatus = 'Running'");
  else if (state) clauses.push(`ClusterState = '${state}'`);
  const out: ListedTask[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    out.push({
      task_id: wf.workflowId,
      state: wf.status.name === 'RUNNING' ? 'running' : (wf.typedSearchAttributes.get(ClusterState) ?? wf.status.name.toLowerCase()),
      node: wf.typedSearchAttributes.get(ClusterNode) ?? '',
      // The memo (decrypted here) has the command; the search attribute only its programs.
      command: typeof wf.memo?.command === 'string' ? wf.memo.command : (wf.typedSearchAttributes.get(ClusterCommand) ?? ''),
      started: wf.startTime.toISOString(),
      workflow_url: url(wf.workflowId),
    });
    if (out.length >= limit) break;
  }
  return out;
}
