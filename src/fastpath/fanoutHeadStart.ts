// The fan-out's head start: serve, which places a fan-out before it starts its workflow
// (FastPath.placeFanout), also launches the batches of the nodes it serves, each held at a gate
// until there is a durable record of them: the fan-out's launch-journal record when serve runs
// every batch itself (the workflow is then started after the fan-out answered, as for a command:
// fastPath.ts), else its workflow (a failed start runs nothing). The workflow's runBatch
// activity of such a batch then takes the launch in this process (the same results, no second
// exec), and the MCP answer waits for neither the workflow's first task nor the activities'
// dispatch.
//
// Durability: the workflow input names the head-started nodes, and their batches go to runBatch
// marked `headStart`. An attempt that cannot take the launch (this process died, or another
// worker of the node's queue got the activity) counts its commands as possibly sent: it
// re-attaches to them on the node (the node-side claim lets only one launch run each command)
// and never re-places them on another node, where they could run a second time.
//
// Only a node's single batch is launched (the workflow runs it in its own activity; a node with
// more batches runs them as child workflows), and only where the files need no sync and the
// worker's policy refuses none of its commands.
import type { Client } from '@temporalio/client';
import { planBatches, planInputOf, type FanoutPlacement } from '../cluster/fanoutPlan.js';
import { findNode } from '../cluster/nodes.js';
import type { AttemptProgress } from '../engine/attempt.js';
import { batchRefusals, runNodeBatch } from '../engine/batch.js';
import type { Services } from '../runtime/services.js';
import { LaunchGate, type LaunchJournal } from './launchJournal.js';
import type { BatchInput, CommandResult, ParallelSpec } from '../shared.js';

/** How long a launch nobody took is kept after it ended (its activity ran in another process, or never). */
const KEEP_MS = 5 * 60_000;

export interface BatchLaunch {
  /** The batch as launched. */
  readonly batch: BatchInput;
  /** The batch's results in item order, or its attempt's failure. */
  readonly outcome: Promise<CommandResult[]>;
  /** The results once the outcome is in (undefined meanwhile, and after a failure). */
  ended?: CommandResult[];
  /** The attempt's progress; `sent`: a command may be running on the node. */
  readonly progress: () => AttemptProgress;
  /** Each progress report from now on (the taking activity heartbeats with it). */
  onProgress?: (p: AttemptProgress) => void;
  /** Kill what runs and start nothing more (a cancel the workflow asked for). */
  cancel(): void;
}

export interface FanoutLaunches {
  /** Nodes whose batch was launched (the workflow input says so). */
  nodeIds: string[];
  /** Every node of the plan had its batch launched: the whole answer comes from this process. */
  everyNode: boolean;
  /**
   * Settles true once every launch published its results here (the fan-out's waiter answers from
   * them), false once one failed or stopped a command (its workflow says why).
   */
  answered: Promise<boolean>;
  /** Call with true once the workflow has started (the commands may run), false if it did not (never, when journaled). */
  started(ok: boolean): void;
  /** The workflow input: the planned fan-out with its placement and the head-started nodes. */
  spec: ParallelSpec;
  /**
   * Every batch runs here on its journal record (launchJournal.ts): start the workflow once
   * `startAfter` settles (the fan-out answered, or its record failed), until it succeeds.
   */
  journaled?: boolean;
  startAfter?: Promise<unknown>;
}

export class FanoutHeadStart {
  private readonly launches = new Map<string, BatchLaunch>();

  constructor(
    private readonly rt: Services,
    private readonly client: Client,
    private readonly served: ReadonlySet<string>,
    private readonly journal?: LaunchJournal,
  ) {}

  /**
   * Launch, held at a gate, each single batch of the placed fan-out that this process may run now.
   * `journaled` (a start has succeeded): when every batch is launched here, the gate opens once the
   * fan-out's intent is on disk, and the workflow is started after the fan-out answered (as for a
   * command: fastPath.ts).
   */
  prepare(parentId: string, planned: ParallelSpec, placement: FanoutPlacement, journaled = false): FanoutLaunches {
    // evenBatches: the workflow of a new fan-out takes that patch, so it cuts the same batches.
    const plan = planBatches(planInputOf(parentId, planned, true), placement);
    const launchable = planned.workspace
      ? []
      : [...plan].filter(([nodeId, batches]) => {
          const node = this.served.has(nodeId) ? findNode(this.rt.config, nodeId) : undefined;
          return node !== undefined && batches.length === 1 && batchRefusals(batches[0]!, node).size === 0;
        });
    const nodeIds = launchable.map(([nodeId]) => nodeId);
    const spec = { ...planned, placement, ...(nodeIds.length ? { headStart: nodeIds } : {}) };
    const everyNode = nodeIds.length === plan.size;
    // Only a fan-out that runs here entirely may go before its workflow: any other batch waits for it.
    const gate = new LaunchGate(journaled && everyNode ? this.journal : undefined, { taskId: parentId, kind: 'parallel', spec });
    const outcomes = launchable.map(([, batches]) => this.launch(batches[0]!, gate.open));
    const answered = Promise.all(outcomes).then(
      (batches) => batches.every((results) => results.every((r) => r.state !== 'cancelled')),
      () => false,
    );
    return {
      nodeIds,
      everyNode,
      answered,
      spec,
      ...(gate.journaled ? { journaled: true, startAfter: gate.startAfter(answered) } : {}),
      started: (ok) => {
        gate.decide(ok);
        if (!ok) for (const id of nodeIds) this.launches.delete(keyOf(parentId, id));
      },
    };
  }

  /**
   * The fan-out's first workflow task (the fanoutHeadStartResults local activity): the results of
   * its batches launched here that have ended, taken (no runBatch will find them), while their
   * size stays within `budgetBytes` (they ride in one history event). Batches still running, or
   * whose launch failed, are left for their runBatch.
   */
  takeEnded(parentId: string, nodeIds: readonly string[], budgetBytes: number): Record<string, CommandResult[]> {
    const out: Record<string, CommandResult[]> = {};
    let bytes = 0;
    for (const nodeId of nodeIds) {
      const key = keyOf(parentId, nodeId);
      const results = this.launches.get(key)?.ended;
      if (!results) continue;
      // As the payload will hold them: JSON escapes can make output several times its length.
      bytes += Buffer.byteLength(JSON.stringify(results));
      if (bytes > budgetBytes) break;
      this.launches.delete(key);
      out[nodeId] = results;
    }
    return out;
  }

  /** runBatch: this process's launch of the batch, taken once. */
  take(parentId: string, nodeId: string): BatchLaunch | undefined {
    const key = keyOf(parentId, nodeId);
    const launch = this.launches.get(key);
    this.launches.delete(key);
    return launch;
  }

  private launch(batch: BatchInput, gate: Promise<boolean>): Promise<CommandResult[]> {
    const node = findNode(this.rt.config, batch.nodeId)!;
    const cancel = new AbortController();
    const abandon = new AbortController();
    // A start that failed: the gated execs end with nothing started, and no lane takes another chunk.
    void gate.then((ok) => ok || abandon.abort(new Error('the fan-out did not start')));
    let progress: AttemptProgress = { sent: false, done: 0, bytes: 0 };
    const launch: BatchLaunch = {
      batch,
      progress: () => progress,
      cancel: () => cancel.abort(),
      outcome: runNodeBatch(
        this.rt,
        this.client,
        node,
        batch,
        {
          heartbeat: (p) => {
            progress = p;
            launch.onProgress?.(p);
          },
          cancel: cancel.signal,
          abandon: abandon.signal,
        },
        { stopsFrom: { workflowId: batch.parentId }, gate },
      ),
    };
    launch.outcome.then(
      (results) => (launch.ended = results),
      () => undefined,
    );
    const key = keyOf(batch.parentId, batch.nodeId);
    this.launches.set(key, launch);
    const forget = () => setTimeout(() => this.launches.get(key) === launch && this.launches.delete(key), KEEP_MS).unref();
    launch.outcome.then(forget, forget);
    return launch.outcome;
  }
}

const keyOf = (parentId: string, nodeId: string) => `${parentId}\n${nodeId}`;
