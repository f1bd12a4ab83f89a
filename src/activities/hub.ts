// Activities of the hub queue: placement (run as local activities inside commandWorkflow).
import { ApplicationFailure } from '@temporalio/activity';
import { NoEligibleNodeError, type Placement } from '../cluster/placement.js';
import { placeMany, placeOne, type HubDeps, type PlaceBatchInput, type PlaceCommandInput } from '../runtime/placer.js';
import type { FanoutPlacement } from '../cluster/fanoutPlan.js';
import { FailureType } from '../shared.js';

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
    async placeBatch(input: PlaceBatchInput): Promise<FanoutPlacement | { error: string }> {
      try {
        return placeMany(deps, await deps.nodeStates(), input);
      } catch (err) {
        if (err instanceof NoEligibleNodeError) return { error: err.message };
        throw err;
      }
    },

    async releasePlacement(input: { taskId: string }): Promise<void> {
      deps.book.release(input.taskId);
    },
  };
}
