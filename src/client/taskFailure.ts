// What a task's failed workflow carries: workflows/command.ts and fanout.ts fail a task that got
// no result of its own (no eligible node, refused, ...) with its result as the failure's details.
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, type CommandResult, type ParallelResult } from '../shared.js';

/** The result a TaskFailed workflow failure carries (workflows/command.ts, fanout.ts), if that is what `err` is. */
export function taskFailure(err: unknown): CommandResult | ParallelResult | undefined {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure && e.type === FailureType.TaskFailed) return e.details?.[0] as CommandResult | ParallelResult | undefined;
  }
  return undefined;
}
