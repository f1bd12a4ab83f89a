// `submit --dry-run` / `parallel --dry-run`: the plan, as data, without running anything: which
// node each command would go to and why (the policy, classification and workspace checks run as
// for a real start; placement reads the same cluster state, but reserves nothing).
import { planBatches, planInputOf, placementRequest } from '../cluster/fanoutPlan.js';
import { NoEligibleNodeError, pickNode } from '../cluster/placement.js';
import { PlacementBook } from '../runtime/placementBook.js';
import { placeMany } from '../runtime/placer.js';
import { explicitRouteReason, needsSync, type ClusterConfig, type NodeState, type WorkspaceSpec } from '../shared.js';
import type { ParallelRequest, SubmitRequest, TaskClient } from './tasks.js';
import { UserError } from './errors.js';

export interface PlanRow {
  /** Command index (fan-outs). */
  index?: number;
  node: string;
  command: string;
  reason: string;
}

export interface DryRunSources {
  tasks: TaskClient;
  config: ClusterConfig;
  nodeStates: () => Promise<Record<string, NodeState>>;
}

export async function dryRunCommand(src: DryRunSources, req: SubmitRequest): Promise<PlanRow[]> {
  const spec = src.tasks.plan(req);
  if (spec.nodeId) return [{ node: spec.nodeId, command: spec.command, reason: withFiles(explicitRouteReason(spec.nodeId), spec.workspace, spec.nodeId) }];
  try {
    const p = pickNode(
      {
        weight: spec.weight,
        requiresOs: spec.requires.os,
        requiresArch: spec.requires.arch,
        requiresCapabilities: spec.requires.capabilities,
        excludeNodes: spec.excludeNodes,
        kinds: spec.kinds,
      },
      src.config.nodes,
      await src.nodeStates(),
      {},
      src.config.settings,
    );
    return [{ node: p.nodeId, command: spec.command, reason: withFiles(`${spec.classifyReason}; ${p.reason}`, spec.workspace, p.nodeId) }];
  } catch (err) {
    if (err instanceof NoEligibleNodeError) throw new UserError(err.message);
    throw err;
  }
}

export async function dryRunFanout(src: DryRunSources, req: ParallelRequest): Promise<PlanRow[]> {
  const spec = src.tasks.planParallel(req);
  let placement;
  try {
    placement = placeMany(
      { config: src.config, book: new PlacementBook(), nodeStates: src.nodeStates },
      await src.nodeStates(),
      placementRequest('dry-run', spec),
      false,
    );
  } catch (err) {
    if (err instanceof NoEligibleNodeError) throw new UserError(err.message);
    throw err;
  }
  const rows: PlanRow[] = [];
  for (const [nodeId, batches] of planBatches(planInputOf('dry-run', spec, true), placement)) {
    batches.forEach((b, k) => {
      const where = `batch ${k + 1}/${batches.length} on ${nodeId}, ${b.concurrency} at once${batches.length > 1 ? ' (child workflow)' : ''}`;
      for (const it of b.items)
        rows.push({ index: it.index, node: nodeId, command: it.command, reason: withFiles(`${where}; ${b.routeReason}`, spec.workspace, nodeId) });
    });
  }
  return rows.sort((a, b) => a.index! - b.index!);
}

function withFiles(reason: string, ws: WorkspaceSpec | undefined, nodeId: string): string {
  if (!ws) return reason;
  return `${reason}; ${needsSync(ws, nodeId) ? `syncs ${ws.cwd} to ${nodeId} first` : `runs in ${ws.cwd} in place`}`;
}
