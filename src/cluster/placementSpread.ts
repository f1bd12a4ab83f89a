// Placing a fan-out: for each command in turn, the node pickNode would choose with the
// reservations of the commands before it counted, without deriving every node's eligibility
// and writing a reason per command. Only the first placement on each node keeps its reason, so
// a 10,000-command fan-out wrote 9,997 reasons nobody read (~100 MiB of garbage in serve).
import { eligibleNodes, NoEligibleNodeError, pickNode, rankCandidates, scoreNode, type Candidate, type PlacementRequest } from './placement.js';
import type { NodeConfig, NodeState, Settings } from '../shared.js';

export interface Spread {
  /** The node of each command, in order. */
  nodes: string[];
  /** pickNode's reason for the first command placed on each node. */
  firstReasons: Record<string, string>;
}

/**
 * `count` heavy commands of one request placed one after another, as `count` pickNode calls
 * would place them (throws NoEligibleNodeError as it does). `counts` is updated in place.
 */
export function spreadPlacement(
  req: PlacementRequest & { weight: 'heavy' },
  nodes: NodeConfig[],
  states: Record<string, NodeState>,
  counts: Record<string, number>,
  settings: Settings,
  count: number,
): Spread {
  const { eligible, exclusions } = eligibleNodes(req, nodes, states);
  if (eligible.length === 0 && count > 0) throw new NoEligibleNodeError(exclusions);
  // Eligibility and a node's load do not change between the commands; only its reservations do.
  const candidates: Candidate[] = eligible.map((node) => ({ node, s: scoreNode(node, states[node.id], counts[node.id] ?? 0, settings) }));
  const out: string[] = [];
  const firstReasons: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const best = rankCandidates(candidates, req.kinds ?? []).ranked[0]!;
    const nodeId = best.node.id;
    firstReasons[nodeId] ??= pickNode(req, nodes, states, counts, settings).reason;
    counts[nodeId] = (counts[nodeId] ?? 0) + 1;
    best.s = scoreNode(best.node, states[nodeId], counts[nodeId], settings);
    out.push(nodeId);
  }
  return { nodes: out, firstReasons };
}
