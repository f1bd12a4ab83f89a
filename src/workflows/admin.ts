import { proxyActivities } from '@temporalio/workflow';
import type { createWorkspaceActivities } from '../activities/workspace.js';
import { FailureType, nodeQueue } from '../shared.js';

type WorkspaceAdmin = ReturnType<typeof createWorkspaceActivities>['workspaceAdmin'];

/** `cluster-router workspace list|prune`: the node's workspaces, by a worker of that node (a client opens no SSH itself). */
export async function workspaceAdminWorkflow(input: Parameters<WorkspaceAdmin>[0]): Promise<Awaited<ReturnType<WorkspaceAdmin>>> {
  const { workspaceAdmin } = proxyActivities<ReturnType<typeof createWorkspaceActivities>>({
    taskQueue: nodeQueue(input.nodeId),
    scheduleToStartTimeout: '10 seconds',
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: 2, nonRetryableErrorTypes: [FailureType.UnknownNode, FailureType.Workspace, FailureType.HostKey, FailureType.Auth] },
  });
  return workspaceAdmin(input);
}
