import {
  condition, continueAsNew, defineQuery, defineSignal, defineUpdate, proxyActivities, setHandler, workflowInfo,
} from '@temporalio/workflow';
import type { createProbeActivities } from '../activities/probe.js';
import type { NodeState } from '../shared.js';

export const MONITOR_WORKFLOW_ID = 'clusterflow-monitor';

export interface MonitorInput {
  nodeIds: string[];
  intervalS: number;
  /** Carried across continue-as-new so a status call never sees an empty cluster. */
  states?: Record<string, NodeState>;
}

export interface ClusterSnapshot {
  nodes: Record<string, NodeState>;
  probed_at: string | null;
}

export const clusterStateQuery = defineQuery<ClusterSnapshot>('clusterState');
/** Probe now and answer with the fresh snapshot (cluster_status refresh=true). */
export const refreshUpdate = defineUpdate<ClusterSnapshot>('refresh');
/** New node list after a config change (sent by a starting worker). */
export const configureSignal = defineSignal<[{ nodeIds: string[]; intervalS: number }]>('configure');

const { probeNode } = proxyActivities<ReturnType<typeof createProbeActivities>>({
  // The activity bounds itself by CLUSTER_STATUS_TIMEOUT and reports "unreachable"; this is a backstop.
  startToCloseTimeout: '60 seconds',
  retry: { maximumAttempts: 1 },
});

const ROUNDS_PER_RUN = 500;

/**
 * The one long-lived workflow that knows the cluster: probes every node on an interval (an
 * activity per node), keeps the latest figures, answers a Query, so a warm cluster_status
 * costs one query instead of N SSH round trips. Continues-as-new to bound its history.
 */
export async function clusterMonitorWorkflow(input: MonitorInput): Promise<void> {
  let { nodeIds, intervalS } = input;
  const states: Record<string, NodeState> = { ...(input.states ?? {}) };
  let probedAt: string | null = null;
  let wanted = false;
  let rounds = 0;
  const snapshot = (): ClusterSnapshot => ({ nodes: states, probed_at: probedAt });

  setHandler(clusterStateQuery, snapshot);
  setHandler(configureSignal, (c) => {
    nodeIds = c.nodeIds;
    intervalS = c.intervalS;
    for (const id of Object.keys(states)) if (!nodeIds.includes(id)) delete states[id];
    wanted = true;
  });
  setHandler(refreshUpdate, async () => {
    const target = rounds + 1;
    wanted = true;
    await condition(() => rounds >= target);
    return snapshot();
  });

  while (rounds < ROUNDS_PER_RUN && !workflowInfo().continueAsNewSuggested) {
    const results = await Promise.all(nodeIds.map((nodeId) => probeNode({ nodeId }).catch((err: unknown) => ({
      id: nodeId, status: 'unreachable' as const, in_flight: 0, capabilities: [], reason: String(err),
    }))));
    for (const s of results) states[s.id] = s;
    probedAt = new Date().toISOString();
    rounds++;
    wanted = false;
    await condition(() => wanted, `${intervalS} seconds`);
  }
  await continueAsNew<typeof clusterMonitorWorkflow>({ nodeIds, intervalS, states });
}
