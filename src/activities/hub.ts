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
      const states = await deps.nodeStates();
      for (const id of input.exclude) states[id] = { ...(states[id] ?? emptyState(id)), status: 'unreachable', reason: 'unreachable for this task' };
      try {
        const placement = pickNode(
          { weight: input.weight, requiresOs: input.requires.os, requiresArch: input.requires.arch, requiresCapabilities: input.requires.capabilities },
          deps.config.nodes, states, deps.book.counts(), deps.config.settings,
        );
        deps.book.reserve(input.taskId, placement.nodeId, (deps.config.settings.cmdTimeoutS + 300) * 1000);
        return { nodeId: placement.nodeId, reason: `${input.classifyReason}; ${placement.reason}` };
      } catch (err) {
        if (err instanceof NoEligibleNodeError) throw ApplicationFailure.nonRetryable(err.message, FailureType.NoEligibleNode);
        throw err;
      }
    },

    async releasePlacement(input: { taskId: string }): Promise<void> {
      deps.book.release(input.taskId);
    },
  };
}

function emptyState(id: string): NodeState {
  return { id, status: 'unknown', in_flight: 0, capabilities: [] };
}
