// The cwd of a fan-out on each of its nodes: in place where the node sees it, else the origin's
// tree synced there once (the node's batches share it), whose outputs come back after the last
// batch. Apart from fanout.ts, which keeps the fan-out's running state. Deterministic workflow code.
import { CancellationScope } from '@temporalio/workflow';
import { notRun } from '../cluster/fanoutPlan.js';
import { needsSync, type ParallelSpec } from '../shared.js';
import { afterCommand, asTree, originOf, type SyncedTree } from './workspace.js';

export class FanoutWorkspaces {
  /** The cwd's tree on each node that needed it (synced once per node, shared by its batches). */
  private readonly trees = new Map<string, Promise<SyncedTree | { skipped: string }>>();

  /** `syncs`: whether this history may sync at all (asked only when a node needs it: a patch check). */
  constructor(
    private readonly parentId: string,
    private readonly spec: ParallelSpec,
    private readonly syncs: () => boolean,
  ) {}

  /**
   * The directory a node's batches run in: the cwd itself where the node sees it, else its tree,
   * synced once per node (the first batch there waits for it). Undefined: no cwd at all.
   */
  async cwdOn(nodeId: string): Promise<string | undefined> {
    const ws = this.spec.workspace;
    if (!ws || !needsSync(ws, nodeId) || !this.syncs()) return this.spec.cwd;
    let tree = this.trees.get(nodeId);
    if (!tree) {
      tree = originOf(ws, this.spec.timeoutS, nodeId)
        .syncWorkspace({ taskId: this.parentId, nodeId, ws, leaseS: this.spec.timeoutS * Math.max(1, this.spec.commands.length) + 600 })
        .then((outcome) => asTree(nodeId, outcome));
      this.trees.set(nodeId, tree);
      // A failed sync is not kept: a later batch for the node tries again.
      tree.catch(() => this.trees.delete(nodeId));
    }
    const t = await tree;
    return 'skipped' in t ? undefined : t.nodePath;
  }

  /** After every batch: each synced tree's outputs back to the origin and its lease given back; the outputs, by node. */
  async returnAll(): Promise<Record<string, Array<{ path: string; size: number }>>> {
    const ws = this.spec.workspace;
    const out: Record<string, Array<{ path: string; size: number }>> = {};
    if (!ws) return out;
    await CancellationScope.nonCancellable(() =>
      Promise.all(
        [...this.trees.entries()].map(async ([nodeId, pending]) => {
          const t = await pending.catch(() => undefined);
          if (!t || 'skipped' in t) return;
          const r = await afterCommand(ws, t, this.parentId, this.spec.timeoutS, notRun(this.parentId, 0, nodeId, '', 'completed'));
          if (r.outputs_returned?.length) out[nodeId] = r.outputs_returned;
        }),
      ),
    );
    return out;
  }
}
