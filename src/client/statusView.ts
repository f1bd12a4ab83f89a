// cluster_status / cluster-status: the monitor's snapshot, shaped as DESIGN.md says.
import type { App } from '../app.js';
import type { NodeState } from '../shared.js';

export interface ClusterStatus {
  local_node: string | null;
  probed_at: string | null;
  nodes: Record<string, NodeState & { host?: string; priority: number; max_parallel: number }>;
}

export async function clusterStatus(app: App, refresh: boolean): Promise<ClusterStatus> {
  let snap = await app.clusterState.snapshot(refresh);
  if (!snap.probed_at && !refresh) snap = await app.clusterState.snapshot(true);
  // Reservations held by this process are fresher than the last probe's count.
  const live = app.runtime?.book.counts();
  const nodes: ClusterStatus['nodes'] = {};
  for (const n of app.config.nodes) {
    const s = snap.nodes[n.id] ?? { id: n.id, status: 'unknown', in_flight: 0, capabilities: n.capabilities };
    nodes[n.id] = {
      ...s,
      os: s.os ?? n.os,
      arch: s.arch ?? n.arch,
      capabilities: n.capabilities,
      in_flight: live ? (live[n.id] ?? 0) : s.in_flight,
      ...(n.local ? {} : { host: n.host ?? n.ip }),
      priority: n.priority,
      max_parallel: n.maxParallel,
    };
  }
  return { local_node: app.config.nodes.find((n) => n.local)?.id ?? null, probed_at: snap.probed_at, nodes };
}
