import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { createProbeActivities } from '../activities/probe.js';
import { clusterStateQuery, configureSignal, refreshUpdate, type ClusterSnapshot } from '../messages.js';
import { nodeQueue, type NodeState } from '../shared.js';

export { MONITOR_WORKFLOW_ID } from '../shared.js';

export interface MonitorInput {
  nodeIds: string[];
  intervalS: number;
  /** Carried across continue-as-new so a status call never sees an empty cluster. */
  states?: Record<string, NodeState>;
  /** Likewise, so the first status call after a continue-as-new does not force a probe. */
  probedAt?: string | null;
  /** Rounds before it continues as new (default ROUNDS_PER_RUN); carried across runs. Workflow tests set a few. */
  roundsPerRun?: number;
}

const { probeNode } = proxyActivities<ReturnType<typeof createProbeActivities>>({
  // The activity bounds itself by CLUSTER_STATUS_TIMEOUT and reports "unreachable"; this is a backstop.
  startToCloseTimeout: '60 seconds',
  retry: { maximumAttempts: 1 },
});

/** Marks histories whose probes run on each node's own queue (older ones probe from the hub). */
const PROBE_ON_NODE_QUEUES = 'probe-on-node-queues';
/**
 * A probe on the node's own queue is answered by a worker that serves that node: a fresh probe
 * proves the node is served, and a node nobody serves shows as such (and placement skips it).
 */
const probeOn = (nodeId: string) =>
  proxyActivities<ReturnType<typeof createProbeActivities>>({
    taskQueue: nodeQueue(nodeId),
    startToCloseTimeout: '60 seconds',
    scheduleToStartTimeout: '5 seconds',
    retry: { maximumAttempts: 1 },
  }).probeNode;

function probeFailed(nodeId: string, err: unknown): NodeState {
  const unserved = err instanceof ActivityFailure && err.cause instanceof TimeoutFailure;
  return {
    id: nodeId,
    status: 'unreachable',
    in_flight: 0,
    capabilities: [],
    ...(unserved
      ? { worker: false, reason: `no worker serves ${nodeQueue(nodeId)}: start one there (cluster-router worker --nodes ${nodeId}), or serve` }
      : { reason: String(err) }),
  };
}

const ROUNDS_PER_RUN = 500;

/**
 * The one long-lived workflow that knows the cluster: probes every node on an interval (an
 * activity per node), keeps the latest figures, answers a Query, so a warm cluster_status
 * costs one query instead of N SSH round trips. Continues-as-new to bound its history.
 */
export async function clusterMonitorWorkflow(input: MonitorInput): Promise<void> {
  let { nodeIds, intervalS } = input;
  const states: Record<string, NodeState> = { ...(input.states ?? {}) };
  let probedAt: string | null = input.probedAt ?? null;
  let wanted = false;
  let probing = false;
  let rounds = 0;
  const roundsPerRun = input.roundsPerRun ?? ROUNDS_PER_RUN;
  const snapshot = (): ClusterSnapshot => ({ nodes: states, probed_at: probedAt });

  setHandler(clusterStateQuery, snapshot);
  setHandler(configureSignal, (c) => {
    nodeIds = c.nodeIds;
    intervalS = c.intervalS;
    for (const id of Object.keys(states)) if (!nodeIds.includes(id)) delete states[id];
    wanted = true;
  });
  setHandler(refreshUpdate, async () => {
    // A round already under way may have started before the caller's change (a node just
    // stopped, say): only a round that starts after this request is fresh.
    const target = rounds + (probing ? 2 : 1);
    wanted = true;
    await condition(() => rounds >= target);
    return snapshot();
  });

  for (;;) {
    // Cleared before the round, so a refresh or reconfigure arriving during it asks for another.
    wanted = false;
    probing = true;
    const onNodeQueues = patched(PROBE_ON_NODE_QUEUES);
    const results = await Promise.all(
      nodeIds.map((nodeId) =>
        (onNodeQueues ? probeOn(nodeId) : probeNode)({ nodeId })
          .then((s): NodeState => (onNodeQueues ? { ...s, worker: true } : s))
          .catch((err: unknown) => probeFailed(nodeId, err)),
      ),
    );
    for (const s of results) states[s.id] = s.status === 'unreachable' ? keepIdentity(s, states[s.id]) : s;
    probedAt = new Date().toISOString();
    rounds++;
    probing = false;
    if (rounds >= roundsPerRun || workflowInfo().continueAsNewSuggested) {
      // Let refresh calls this round satisfied answer before the run ends; one that wants a
      // newer round gets it first (an update left pending across continue-as-new is lost).
      await condition(() => allHandlersFinished() || wanted);
      if (!wanted) break;
      continue;
    }
    await condition(() => wanted, `${intervalS} seconds`);
  }
  await continueAsNew<typeof clusterMonitorWorkflow>({ nodeIds, intervalS, states, probedAt, ...(input.roundsPerRun !== undefined ? { roundsPerRun } : {}) });
}

/** An unreachable node keeps when it was last seen and what it is; its old load figures are dropped as stale. */
function keepIdentity(now: NodeState, before: NodeState | undefined): NodeState {
  if (!before) return now;
  return { ...now, os: now.os ?? before.os, arch: now.arch ?? before.arch, last_seen: now.last_seen ?? before.last_seen };
}
