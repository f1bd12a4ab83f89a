// cluster_status / cluster-status: the monitor's snapshot, shaped as DESIGN.md says.
import { localNode } from '../cluster/nodes.js';
import type { PlacementBook } from '../runtime/placementBook.js';
import type { ClusterConfig, NodeState } from '../shared.js';
import type { ClusterStateReader } from './clusterState.js';

export interface ClusterStatus {
  local_node: string | null;
  probed_at: string | null;
  nodes: Record<string, NodeState & { host?: string; priority: number; max_parallel: number; specialties: string[] }>;
}

export interface StatusSources {
  config: ClusterConfig;
  clusterState: ClusterStateReader;
  /** This process's reservations (a worker's), fresher than the last probe's count. */
  book?: PlacementBook;
}

export async function clusterStatus(src: StatusSources, refresh: boolean): Promise<ClusterStatus> {
  let snap = await src.clusterState.snapshot(refresh);
  if (!snap.probed_at && !refresh) snap = await src.clusterState.snapshot(true);
  const live = src.book?.counts();
  const nodes: ClusterStatus['nodes'] = {};
  for (const n of src.config.nodes) {
    const s = snap.nodes[n.id] ?? { id: n.id, status: 'unknown', in_flight: 0, capabilities: n.capabilities };
    nodes[n.id] = {
      ...s,
      os: s.os ?? n.os,
      arch: s.arch ?? n.arch,
      capabilities: n.capabilities,
      specialties: n.specialties,
      in_flight: live ? (live[n.id] ?? 0) : s.in_flight,
      ...(n.local ? {} : { host: n.host ?? n.ip }),
      priority: n.priority,
      max_parallel: n.maxParallel,
    };
  }
  return { local_node: localNode(src.config)?.id ?? null, probed_at: snap.probed_at, nodes };
}
