// Reads the cluster monitor: a warm cluster_status or placement costs one Query.
import type { Client } from '@temporalio/client';
import { HUB_QUEUE, MONITOR_WORKFLOW_ID, type ClusterConfig, type NodeState } from '../shared.js';
import { clusterStateQuery, configureSignal, refreshUpdate, type ClusterSnapshot } from '../messages.js';
import type { clusterMonitorWorkflow } from '../workflows/monitor.js';

/** Start the monitor if it is not running, and tell it the current node list either way. */
export async function ensureMonitor(client: Client, config: ClusterConfig, intervalS: number): Promise<void> {
  const nodeIds = config.nodes.map((n) => n.id);
  await client.workflow.signalWithStart<typeof clusterMonitorWorkflow, [{ nodeIds: string[]; intervalS: number }]>('clusterMonitorWorkflow', {
    workflowId: MONITOR_WORKFLOW_ID,
    taskQueue: HUB_QUEUE,
    args: [{ nodeIds, intervalS }],
    signal: configureSignal,
    signalArgs: [{ nodeIds, intervalS }],
    staticSummary: 'clusterflow: probes every node on an interval',
  });
}

export class ClusterStateReader {
  private cached?: { at: number; snap: ClusterSnapshot };
  /** The query in flight: a burst of placements past the cache age shares one round trip. */
  private pending?: Promise<ClusterSnapshot>;

  constructor(
    private readonly client: Client,
    private readonly maxAgeMs = 1000,
    private readonly staleMs = 5000,
  ) {}

  async snapshot(refresh = false): Promise<ClusterSnapshot> {
    const handle = this.client.workflow.getHandle(MONITOR_WORKFLOW_ID);
    if (refresh) {
      const snap = await handle.executeUpdate(refreshUpdate);
      this.cached = { at: Date.now(), snap };
      return snap;
    }
    if (this.cached && Date.now() - this.cached.at < this.maxAgeMs) return this.cached.snap;
    const asked = Date.now();
    this.pending ??= handle
      .query(clusterStateQuery)
      .then((snap) => {
        // A refresh that answered meanwhile is newer: keep it.
        if (!this.cached || this.cached.at < asked) this.cached = { at: Date.now(), snap };
        return snap;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  /**
   * For placement: never fails; an unreachable monitor means "no figures yet". A snapshot up to
   * staleMs old answers at once while a newer one is asked for in the background: the monitor's
   * figures are up to its probe interval old anyway, and a Query (10-30 ms) on the way of every
   * cluster_bash and fan-out would cost more than it tells. Live load is the placement book's.
   */
  async states(): Promise<Record<string, NodeState>> {
    try {
      const age = this.cached ? Date.now() - this.cached.at : Infinity;
      if (age < this.staleMs) {
        if (age >= this.maxAgeMs) void this.snapshot().catch(() => undefined);
        return structuredClone(this.cached!.snap.nodes);
      }
      return structuredClone((await this.snapshot()).nodes);
    } catch {
      return {};
    }
  }
}
