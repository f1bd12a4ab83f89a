// Activities of the hub queue: placement (run as local activities inside commandWorkflow).
import { ApplicationFailure } from '@temporalio/activity';
import { NoEligibleNodeError, pickNode, type Placement } from '../cluster/placement.js';
import { markUnreachable, placeOne, type HubDeps, type PlaceCommandInput } from '../runtime/placer.js';
import { FailureType, type Requirements } from '../shared.js';

export type { HubDeps, PlaceCommandInput } from '../runtime/placer.js';

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
    async placeBatch(input: { parentId: string; count: number; requires: Requirements; exclude?: string[]; indices?: number[]; excludeNodes?: Record<string, string>; kinds?: string[] }):
      Promise<{ nodes: string[]; reasons: Record<string, string>; capacity: Record<string, number> } | { error: string }> {
      const states = await deps.nodeStates();
      // A re-placement: these nodes were found unreachable, and only commands `indices` move.
      markUnreachable(states, input.exclude ?? [], 'unreachable for this fan-out');
      const req = { weight: 'heavy' as const, requiresOs: input.requires.os, requiresArch: input.requires.arch, requiresCapabilities: input.requires.capabilities, excludeNodes: input.excludeNodes, kinds: input.kinds };
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
