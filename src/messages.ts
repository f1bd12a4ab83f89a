// Every signal, query and update of our workflows, in one module that workflows, activities
// and the client all import (Temporal samples' shared.ts habit). Workflow-safe: definitions only.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CommandResult, NodeState } from './shared.js';

// --- fan-out (parallelWorkflow, batchWorkflow) ---
/** Stop commands: all of them (no taskIds), or only these `<parent>/<i>`. Running ones are killed, unstarted ones never start. */
export const stopSignal = defineSignal<[{ taskIds?: string[] }]>('stop');
/** What the batch was asked to stop, for its runBatch activity (activities cannot receive signals). */
export const stopQuery = defineQuery<{ all: boolean; taskIds: string[] }>('stopState');
export const progressQuery = defineQuery<{ total: number; done: number; by_node: Record<string, number> }>('progress');
/** The node command i was last sent to (its batch started there), or null: for reading its output live. */
export const commandNodeQuery = defineQuery<string | null, [number]>('commandNode');
/** Commands of the fan-out that were stopped (task_cancel of `<parent>/<i>`): their results, sent by the batch at once rather than when it ends. */
export const commandsEndedSignal = defineSignal<[CommandResult[]]>('commandsEnded');
/** Command i's result once the fan-out has it (its batch ended), else null: task_status of `<parent>/<i>`. */
export const commandResultQuery = defineQuery<CommandResult | null, [number]>('commandResult');

// --- cluster monitor ---
export interface ClusterSnapshot {
  nodes: Record<string, NodeState>;
  probed_at: string | null;
}
export const clusterStateQuery = defineQuery<ClusterSnapshot>('clusterState');
/** Probe now and answer with the fresh snapshot (cluster_status refresh=true). */
export const refreshUpdate = defineUpdate<ClusterSnapshot>('refresh');
/** New node list after a config change (sent by a starting worker). */
export const configureSignal = defineSignal<[{ nodeIds: string[]; intervalS: number }]>('configure');
