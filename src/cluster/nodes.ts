// Node lookup by id, and the one "unknown node" message every layer shows (pure).
import type { ClusterConfig, NodeConfig } from '../shared.js';

export function findNode(config: Pick<ClusterConfig, 'nodes'>, id: string): NodeConfig | undefined {
  return config.nodes.find((n) => n.id === id);
}

/** `unknown node "x"; known nodes: a, b`: callers wrap it in their own error type. */
export function unknownNodeMessage(config: Pick<ClusterConfig, 'nodes'>, id: string): string {
  return `unknown node "${id}"; known nodes: ${config.nodes.map((n) => n.id).join(', ') || '(none)'}`;
}

/** The node that runs by child_process on this machine, if the cluster has one. */
export function localNode(config: Pick<ClusterConfig, 'nodes'>): NodeConfig | undefined {
  return config.nodes.find((n) => n.local);
}
