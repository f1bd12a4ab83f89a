// The fast path ("head start"): a command sent to a named node (offload_to, submit --node), or
// placed on the local node (a light cluster_bash), is launched by the serving process itself,
// under the run id the workflow's runCommand will use. That activity then takes the finished
// result (same process) or re-attaches to the run (the node-side claim lets only one of them
// launch it), so the command runs once and the workflow records it as before; but the caller's
// answer no longer waits for Temporal to dispatch a workflow task and an activity.
//
// The exec is opened at once, its script held at a gate: a command never runs without a durable
// record of it. Once a start has succeeded in this process, the record is the launch journal
// (launchJournal.ts): the gate opens when the intent is synced, and the workflow is started
// after the command answered. Otherwise (the first command, or Temporal failing) the gate
// opens when the start has succeeded. Either way the script ends without starting anything if
// the gate stays shut or this process died before opening it.
//
// Only a run that ended by itself (an exit code) is answered from here. A timeout or cancel is
// the activity's to enforce and the workflow's to report. A run the activity never reached
// (the workflow was cancelled or terminated first) is killed once the workflow has closed.
import type { Client } from '@temporalio/client';
import { findNode } from '../cluster/nodes.js';
import { workerRefusal } from '../cluster/policyGate.js';
import { runAttempt } from '../engine/attempt.js';
import { log } from '../log.js';
import type { Services } from '../runtime/services.js';
import { placeMany, placeOne, type HubDeps } from '../runtime/placer.js';
import { placementRequest, type FanoutPlacement } from '../cluster/fanoutPlan.js';
import { explicitRouteReason, inPlaceWorkspace, needsSync, type CommandResult, type CommandSpec, type NodeConfig, type ParallelSpec } from '../shared.js';
import { killIfAbandoned } from './abandoned.js';
import { FanoutHeadStart } from './fanoutHeadStart.js';
import { LaunchGate, type LaunchJournal } from './launchJournal.js';

/** A run still going after this long gets a watch on its workflow (a long-poll, so not for every call). */
const WATCH_AFTER_MS = 1000;
/** How long, and how many, finished runs' results wait for runCommand here (it normally takes them within ms). */
const HANDOFF_KEEP_MS = 5 * 60_000;
const HANDOFF_KEEP_MAX = 1000;

export interface Prepared {
  /** The workflow input: an auto-routed command comes back placed (and reserved) here. */
  spec: CommandSpec;
  /** Call with true once the workflow has started (the command may run), false if it did not (never, when journaled). */
  started(ok: boolean): void;
  /** The launch runs on its journal record: start the workflow once `startAfter` settles (TaskStarter.deferred), until it succeeds. */
  journaled?: boolean;
  /** When journaled: settles once the command answered, or at once if its journal record failed (then the launch waits for the start). */
  startAfter?: Promise<unknown>;
  /** With a launch: settles true once it answered (Services.results), false once it ended without a final result. */
  answered?: Promise<boolean>;
}

export interface FastPathOptions {
  /** Nodes whose queues this process serves (elsewhere the activity may run on another host, whose local node is not ours). */
  servedNodeIds: readonly string[];
  /** Placement, when this process also runs the hub: the same choice placeCommand would make. */
  hub?: HubDeps;
  /** Where launches record their intent before their workflow exists (none: every launch waits for its start). */
  journal?: LaunchJournal;
}

export class FastPath {
  private readonly served: Set<string>;
  /** Finished runs' results, for this process's runCommand to take instead of re-attaching. */
  private readonly handoff = new Map<string, CommandResult>();
  /** Task ids whose command a launch of this process is running (it holds their node slot), with the launch's end. */
  private readonly running = new Map<string, Promise<boolean>>();
  /** Fan-out batches launched before their workflow's activity exists. */
  readonly fanouts: FanoutHeadStart;

  constructor(
    private readonly rt: Services,
    private readonly client: Client,
    private readonly opts: FastPathOptions,
  ) {
    this.served = new Set(opts.servedNodeIds);
    this.fanouts = new FanoutHeadStart(rt, client, this.served, opts.journal);
  }

  /** runCommand: the finished result of this process's launch of the task, taken once. */
  take(taskId: string): CommandResult | undefined {
    const result = this.handoff.get(taskId);
    this.handoff.delete(taskId);
    return result;
  }

  /** runCommand: a launch of this process runs the command now and holds its node slot. */
  holdsSlot(taskId: string): boolean {
    return this.running.has(taskId);
  }

  /**
   * headStartResult (the workflow's first task, here with eager start): the result of this
   * process's launch of the task once it ended by itself, waiting up to maxWaitMs for a launch
   * still running. Undefined when it runs on, ended otherwise (timeout, kill), or was never
   * launched here: then runCommand on the node's queue takes it or re-attaches, as without this.
   */
  async result(taskId: string, maxWaitMs: number): Promise<CommandResult | undefined> {
    const launch = this.running.get(taskId);
    if (launch) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, maxWaitMs);
      });
      await Promise.race([launch, waited]);
      clearTimeout(timer);
    }
    return this.take(taskId);
  }

  /**
   * Prepare a command about to be started as workflow `taskId`: placement (auto-routed, when this
   * process runs the hub) and, where it may, a gated launch. A remote auto-routed node gets no
   * launch: a node that failed before the command reached it would be re-routed, and the workflow
   * could not tell whether the launch got there first.
   */
  async prepare(taskId: string, spec: CommandSpec, opts: { journal?: boolean } = {}): Promise<Prepared> {
    const placed = spec.placed ?? (spec.nodeId ? undefined : await this.place(taskId, spec));
    const unplace = () => {
      if (placed && !spec.placed) this.rt.book.release(taskId);
    };
    const nodeId = spec.nodeId ?? placed?.nodeId;
    const served = nodeId && this.served.has(nodeId) ? findNode(this.rt.config, nodeId) : undefined;
    // Nothing the worker would refuse is launched here either (its activity says why).
    // Nor a command whose files must be copied to the node first (the workflow does that).
    const node =
      served &&
      !needsSync(spec.workspace, served.id) &&
      !workerRefusal({ command: spec.command, cwd: spec.cwd, env: spec.env, node: served, approved: spec.approved })
        ? served
        : undefined;
    // A node at its max_parallel: the command waits for a slot in runCommand, as without the fast path.
    const release = node && (spec.nodeId || node.local) ? this.rt.slots.tryTake(node.id, node.maxParallel) : undefined;
    const prepared = { ...spec, ...(placed ? { placed } : {}) };
    if (!node || !release) return { spec: prepared, started: (ok) => ok || unplace() };

    const headSpec: CommandSpec = { ...prepared, headStart: true };
    const gate = new LaunchGate(opts.journal ? this.opts.journal : undefined, { taskId, spec: headSpec });
    const routeReason = spec.nodeId ? explicitRouteReason(node.id) : placed!.reason;
    const answered = this.launch(node, taskId, spec, routeReason, gate)
      .catch((err: unknown) => {
        // The workflow's own attempt meets the same problem and reports it.
        log.debug({ taskId, err: String(err) }, 'fast path gave up');
        return false;
      })
      .finally(() => {
        this.running.delete(taskId);
        release();
      });
    this.running.set(taskId, answered);
    return {
      answered,
      spec: headSpec,
      ...(gate.journaled ? { journaled: true, startAfter: gate.startAfter(answered) } : {}),
      started(ok) {
        gate.decide(ok);
        if (!ok) unplace();
      },
    };
  }

  /**
   * A fan-out about to be started as workflow `parentId`, placed (and reserved) here when this
   * process runs the hub: the choice placeBatch would make, so the workflow's first task
   * schedules the batches at once instead of waiting for that local activity. Undefined (the
   * workflow places it, and says why nothing fits) otherwise. `unplace` if the start fails.
   */
  async placeFanout(parentId: string, spec: ParallelSpec): Promise<FanoutPlacement | undefined> {
    if (!this.opts.hub) return undefined;
    try {
      return placeMany(this.opts.hub, await this.opts.hub.nodeStates(), placementRequest(parentId, spec));
    } catch (err) {
      log.debug({ parentId, err: String(err) }, 'no fan-out placement before the start');
      return undefined;
    }
  }

  /** Gives back what placeFanout reserved (the fan-out's workflow did not start). */
  unplaceFanout(parentId: string): void {
    this.rt.book.release(parentId);
  }

  private async place(taskId: string, spec: CommandSpec): Promise<CommandSpec['placed']> {
    if (!this.opts.hub) return undefined;
    try {
      return await placeOne(this.opts.hub, {
        taskId,
        weight: spec.weight,
        classifyReason: spec.classifyReason,
        requires: spec.requires,
        exclude: [],
        excludeNodes: spec.excludeNodes,
        ...(spec.kinds ? { kinds: spec.kinds } : {}),
      });
    } catch (err) {
      // No eligible node (or no cluster state yet): the workflow places it and says why.
      log.debug({ taskId, err: String(err) }, 'no placement before the start');
      return undefined;
    }
  }

  /** Run it once the gate opens; true when it ended by itself and its result was published. */
  private async launch(node: NodeConfig, taskId: string, spec: CommandSpec, routeReason: string, gate: LaunchGate): Promise<boolean> {
    let settled = false;
    let watch: NodeJS.Timeout | undefined;
    const item = { taskId, command: spec.command, routeReason, autoRouted: !spec.nodeId };
    let published = false;
    try {
      await runAttempt(this.rt, node, [item], {
        lanes: 1,
        slotHeld: true,
        timeoutS: spec.timeoutS,
        cwd: spec.cwd,
        env: spec.env,
        gate: gate.open,
        // Timeouts and cancels are the activity's; only a run that ended by itself is answered here.
        enforceTimeout: false,
        keep: (run) => run.state === 'done',
        onGateOpen: () => {
          // Only a workflow that exists can be watched (a journaled launch's may start later).
          const watchIt = () => void killIfAbandoned(this.rt, this.client, node, taskId, () => settled);
          watch = setTimeout(() => void gate.started.then((ok) => ok && watchIt()), WATCH_AFTER_MS);
        },
        // Answered the moment its end frame arrives: the script's own exit (its cleanup, the
        // channel's close) comes ~1-2 ms later and changes nothing in the result.
        onResult: (_k, result) => {
          published = true;
          this.publish(taskId, spec, result);
        },
      });
    } finally {
      settled = true;
      clearTimeout(watch);
    }
    return published;
  }

  private publish(taskId: string, spec: CommandSpec, result: CommandResult): void {
    this.keepForHandoff(taskId, result);
    // The command is done: its placement no longer counts against the node (as in runCommand).
    this.rt.book.releaseOne(taskId);
    // As the workflow records it: a command whose node sees the cwd ran in place.
    this.rt.results.publish(spec.workspace ? { ...result, workspace: inPlaceWorkspace(spec.workspace) } : result);
  }

  /** Kept a while for runCommand (its activity may also run elsewhere, or not at all), and only so many: results carry up to 64 KiB per stream. */
  private keepForHandoff(taskId: string, result: CommandResult): void {
    this.handoff.set(taskId, result);
    setTimeout(() => this.handoff.delete(taskId), HANDOFF_KEEP_MS).unref();
    for (const old of this.handoff.keys()) {
      if (this.handoff.size <= HANDOFF_KEEP_MAX) break;
      this.handoff.delete(old);
    }
  }
}
