// Placement of one command by this process (pure scoring in cluster/placement.ts, plus this
// process's reservations): the hub's placeCommand activity and the fast path make the same choice.
import { pickNode, type Placement } from '../cluster/placement.js';
import { spreadPlacement } from '../cluster/placementSpread.js';
import type { ClusterConfig, NodeState, Requirements, Weight } from '../shared.js';
import type { FanoutPlacement } from '../cluster/fanoutPlan.js';
import type { PlacementBook } from './placementBook.js';

export interface PlaceCommandInput {
  taskId: string;
  weight: Weight;
  classifyReason: string;
  requires: Requirements;
  /** Nodes already tried and found unreachable for this task. */
  exclude: string[];
  /** Nodes that may not take it, and why (their own policy refuses the command). */
  excludeNodes?: Record<string, string>;
  /** The command's kinds: a node with a matching specialty wins ties. */
  kinds?: string[];
}

export interface HubDeps {
  config: ClusterConfig;
  book: PlacementBook;
  /** Latest known node states (from the cluster monitor); may be empty before the first probe. */
  nodeStates: () => Promise<Record<string, NodeState>>;
}

/**
 * Pick a node for one command and reserve it (throws NoEligibleNodeError). The serving process
 * calls it before the workflow starts (fastpath/fastPath.ts), placeCommand inside the workflow.
 */
export async function placeOne(deps: HubDeps, input: PlaceCommandInput): Promise<Placement> {
  const states = await deps.nodeStates();
  markUnreachable(states, input.exclude, 'unreachable for this task');
  const placement = pickNode(
    {
      weight: input.weight,
      requiresOs: input.requires.os,
      requiresArch: input.requires.arch,
      requiresCapabilities: input.requires.capabilities,
      excludeNodes: input.excludeNodes,
      kinds: input.kinds,
    },
    deps.config.nodes,
    states,
    deps.book.counts(),
    deps.config.settings,
  );
  deps.book.reserve(input.taskId, placement.nodeId, (deps.config.settings.cmdTimeoutS + 300) * 1000);
  return { nodeId: placement.nodeId, reason: `${input.classifyReason}; ${placement.reason}` };
}

export interface PlaceBatchInput {
  parentId: string;
  count: number;
  requires: Requirements;
  /** Nodes found unreachable for this fan-out (a re-placement). */
  exclude?: string[];
  /** A re-placement: the command indices `count` stands for. */
  indices?: number[];
  excludeNodes?: Record<string, string>;
  kinds?: string[];
}

/**
 * Places every command of a fan-out, one after another with reservations (unless `reserve` is
 * false: a dry run), so the batch spreads by load and capacity. Every command counts as heavy: a
 * fan-out exists for throughput, so even light commands go to the nodes rather than all to the
 * local one. Throws NoEligibleNodeError.
 */
export function placeMany(deps: HubDeps, states: Record<string, NodeState>, input: PlaceBatchInput, reserve = true): FanoutPlacement {
  // A re-placement: these nodes were found unreachable, and only commands `indices` move.
  markUnreachable(states, input.exclude ?? [], 'unreachable for this fan-out');
  const req = {
    weight: 'heavy' as const,
    requiresOs: input.requires.os,
    requiresArch: input.requires.arch,
    requiresCapabilities: input.requires.capabilities,
    excludeNodes: input.excludeNodes,
    kinds: input.kinds,
  };
  const ttl = (deps.config.settings.cmdTimeoutS + 300) * 1000;
  const { nodes, firstReasons } = spreadPlacement(req, deps.config.nodes, states, deps.book.counts(), deps.config.settings, input.count);
  if (reserve) nodes.forEach((nodeId, i) => deps.book.reserve(`${input.parentId}/${input.indices?.[i] ?? i}`, nodeId, ttl));
  const reasons = Object.fromEntries(Object.entries(firstReasons).map(([id, why]) => [id, `fan-out spread by load and capacity; first placement: ${why}`]));
  const capacity = Object.fromEntries(deps.config.nodes.map((n) => [n.id, Math.max(1, n.maxParallel)]));
  return { nodes, reasons, capacity };
}

/** Nodes found unreachable for this work: placement passes them over. */
export function markUnreachable(states: Record<string, NodeState>, ids: readonly string[], reason: string): void {
  for (const id of ids) states[id] = { ...(states[id] ?? emptyState(id)), status: 'unreachable', reason };
}

function emptyState(id: string): NodeState {
  return { id, status: 'unknown', in_flight: 0, capabilities: [] };
}
