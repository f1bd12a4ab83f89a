// Activities of the hub queue: placement (run as local activities inside commandWorkflow).
import { ApplicationFailure } from '@temporalio/activity';
import { NoEligibleNodeError, pickNode, type Placement } from '../cluster/placement.js';
import { FailureType, type ClusterConfig, type NodeState, type Requirements, type Weight } from '../shared.js';
import type { PlacementBook } from './placementBook.js';

export interface PlaceCommandInput {
  taskId: string;
  weight: Weight;
  classifyReason: string;
  requires: Requirements;
  /** Nodes already tried and found unreachable for this task. */
  exclude: string[];
}

export interface HubDeps {
  config: ClusterConfig;
  book: PlacementBook;
  /** Latest known node states (from the cluster monitor); may be empty before the first probe. */
  nodeStates: () => Promise<Record<string, NodeState>>;
}

export function createHubActivities(deps: HubDeps) {
  return {
    async placeCommand(input: PlaceCommandInput): Promise<Placement> {
      try {
        return await placeOne(deps, input);
      } catch (err) {
        if (err instanceof NoEligibleNodeError) throw ApplicationFailure.nonRetryable(err.message, FailureType.NoEligibleNode);
        throw err;
      }
    },

    /**
     * Places every command of a fan-out, one after another with reservations, so the batch
     * spreads by load and capacity. Every command counts as heavy here: a fan-out exists for
     * throughput, so even light commands go to the nodes rather than all to the local one.
     */
    async placeBatch(input: { parentId: string; count: number; requires: Requirements; exclude?: string[]; indices?: number[] }):
      Promise<{ nodes: string[]; reasons: Record<string, string>; capacity: Record<string, number> } | { error: string }> {
      const states = await deps.nodeStates();
      // A re-placement: these nodes were found unreachable, and only commands `indices` move.
      markUnreachable(states, input.exclude ?? [], 'unreachable for this fan-out');
      const req = { weight: 'heavy' as const, requiresOs: input.requires.os, requiresArch: input.requires.arch, requiresCapabilities: input.requires.capabilities };
      const ttl = (deps.config.settings.cmdTimeoutS + 300) * 1000;
      const nodes: string[] = [];
      const reasons: Record<string, string> = {};
      const counts = deps.book.counts();
      try {
        for (let i = 0; i < input.count; i++) {
          const p = pickNode(req, deps.config.nodes, states, counts, deps.config.settings);
          counts[p.nodeId] = (counts[p.nodeId] ?? 0) + 1;
          deps.book.reserve(`${input.parentId}/${input.indices?.[i] ?? i}`, p.nodeId, ttl);
          nodes.push(p.nodeId);
          reasons[p.nodeId] ??= `fan-out spread by load and capacity; first placement: ${p.reason}`;
        }
      } catch (err) {
        if (err instanceof NoEligibleNodeError) return { error: err.message };
        throw err;
      }
      const capacity = Object.fromEntries(deps.config.nodes.map((n) => [n.id, Math.max(1, n.maxParallel)]));
      return { nodes, reasons, capacity };
    },

    async releasePlacement(input: { taskId: string }): Promise<void> {
      deps.book.release(input.taskId);
    },
  };
}

/**
 * Pick a node for one command and reserve it (throws NoEligibleNodeError). The serving process
 * calls it before the workflow starts (see headStart.ts), placeCommand inside the workflow.
 */
export async function placeOne(deps: HubDeps, input: PlaceCommandInput): Promise<Placement> {
  const states = await deps.nodeStates();
  markUnreachable(states, input.exclude, 'unreachable for this task');
  const placement = pickNode(
    { weight: input.weight, requiresOs: input.requires.os, requiresArch: input.requires.arch, requiresCapabilities: input.requires.capabilities },
    deps.config.nodes, states, deps.book.counts(), deps.config.settings,
  );
  deps.book.reserve(input.taskId, placement.nodeId, (deps.config.settings.cmdTimeoutS + 300) * 1000);
  return { nodeId: placement.nodeId, reason: `${input.classifyReason}; ${placement.reason}` };
}

/** Nodes found unreachable for this work: placement passes them over. */
function markUnreachable(states: Record<string, NodeState>, ids: readonly string[], reason: string): void {
  for (const id of ids) states[id] = { ...(states[id] ?? emptyState(id)), status: 'unreachable', reason };
}

function emptyState(id: string): NodeState {
  return { id, status: 'unknown', in_flight: 0, capabilities: [] };
}
