// Head start: a command sent to a named node (offload_to, submit --node), or placed on the
// local node (a light cluster_bash), is launched by the serving process itself, under the run
// id the workflow's runCommand will use. That activity then takes the finished result (same
// process) or re-attaches to the run (the node-side claim lets only one of them launch it), so
// the command runs once and the workflow records it as before; but the caller's answer no
// longer waits for Temporal to dispatch a workflow task and an activity (~25 ms of a 45 ms call
// on a small host).
//
// The exec is opened while the workflow is being started, its script held at a gate: it runs
// the command only once the start has succeeded (a command never runs without its workflow),
// and ends without starting anything if the start failed or this process died meanwhile.
//
// Only a run that ended by itself (an exit code) is answered from here. A timeout or cancel is
// the activity's to enforce and the workflow's to report. A run the activity never reached
// (the workflow was cancelled or terminated first) is killed once the workflow has closed.
import type { Client } from '@temporalio/client';
import { log } from '../log.js';
import type { Runtime } from '../runtime.js';
import { explicitRouteReason, type CommandResult, type CommandSpec, type NodeConfig } from '../shared.js';
import { ChunkReader, chunkScript, killScript, newNonce } from '../ssh/detachedRun.js';
import { execFor, type Exec } from './exec.js';
import { placeOne, type HubDeps } from './hub.js';
import { KILL_GRACE_S, runIdFor, toResult } from './runChunk.js';

/** A run still going after this long gets a watch on its workflow (a long-poll, so not for every call). */
const WATCH_AFTER_MS = 1000;

/** How long, and how many, finished runs' results wait for runCommand here (it normally takes them within ms). */
const HANDOFF_KEEP_MS = 5 * 60_000;
const HANDOFF_KEEP_MAX = 1000;

export interface Prepared {
  /** The workflow input: an auto-routed command comes back placed (and reserved) here. */
  spec: CommandSpec;
  /** Call with true once the workflow has started (the command may run), false if it did not. */
  started(ok: boolean): void;
  /** With a launch: settles true once it answered (rt.completions), false once it ended without a final result. */
  answered?: Promise<boolean>;
}

/** Prepare a command about to be started as workflow `taskId`: placement and, where it may, a gated launch. */
export type HeadStart = (taskId: string, spec: CommandSpec) => Promise<Prepared>;

export interface HeadStartOptions {
  /** Nodes whose queues this process serves (elsewhere the activity may run on another host, whose local node is not ours). */
  servedNodeIds: readonly string[];
  /** Placement, when this process also runs the hub: the same choice placeCommand would make. */
  hub?: HubDeps;
}

/**
 * Head starts for named nodes, and for auto-routed commands placed on the local node (a remote
 * node that failed before the command reached it would be re-routed, and the workflow cannot
 * tell whether a head start got there first). Results go to rt.completions, as runCommand's do.
 */
export function createHeadStart(rt: Runtime, client: Client, opts: HeadStartOptions): HeadStart {
  const served = new Set(opts.servedNodeIds);
  return async (taskId, spec) => {
    let placed = spec.placed;
    if (!spec.nodeId && !placed && opts.hub) {
      try {
        placed = await placeOne(opts.hub, { taskId, weight: spec.weight, classifyReason: spec.classifyReason, requires: spec.requires, exclude: [] });
      } catch (err) {
        // No eligible node (or no cluster state yet): the workflow places it and says why.
        log.debug({ taskId, err: String(err) }, 'no placement before the start');
      }
    }
    const unplace = () => { if (placed && !spec.placed) rt.book.release(taskId); };
    const nodeId = spec.nodeId ?? placed?.nodeId;
    const node = nodeId && served.has(nodeId) ? rt.config.nodes.find((n) => n.id === nodeId) : undefined;
    // A node at its max_parallel: the command waits for a slot in runCommand, as without a head start.
    const release = node && (spec.nodeId || node.local) ? rt.slots.tryTake(node.id, node.maxParallel) : undefined;
    const prepared = { ...spec, ...(placed ? { placed } : {}) };
    if (!node || !release) return { spec: prepared, started: (ok) => ok || unplace() };

    rt.headStarted.add(taskId);
    let decide: (go: boolean) => void = () => undefined;
    const gate = new Promise<boolean>((resolve) => { decide = resolve; });
    const routeReason = spec.nodeId ? explicitRouteReason(node.id) : placed!.reason;
    const answered = launch(rt, client, node, taskId, spec, routeReason, gate).catch((err: unknown) => {
      // The workflow's own attempt meets the same problem and reports it.
      log.debug({ taskId, err: String(err) }, 'head start gave up');
      return false;
    }).finally(() => {
      rt.headStarted.delete(taskId);
      release();
    });
    return {
      answered,
      spec: { ...prepared, headStart: true },
      started(ok) {
        decide(ok);
        if (!ok) unplace();
      },
    };
  };
}

/** Run it once the gate opens; true when it ended by itself and its result went to rt.completions. */
async function launch(rt: Runtime, client: Client, node: NodeConfig, taskId: string, spec: CommandSpec, routeReason: string, gate: Promise<boolean>): Promise<boolean> {
  const exec = await execFor(rt, node);
  const runId = runIdFor(taskId);
  const baseDir = node.local ? rt.localRunsDir : undefined;
  const nonce = newNonce();
  const reader = new ChunkReader(nonce, 1);
  let started = 0;
  let settled = false;
  let watch: NodeJS.Timeout | undefined;
  const stdin = gate.then((go) => {
    if (!go) return '';
    started = Date.now();
    watch = setTimeout(() => void killIfAbandoned(client, exec, taskId, runId, baseDir, () => settled), WATCH_AFTER_MS);
    return 'go\n';
  });
  try {
    await exec(chunkScript([{ runId, command: spec.command, cwd: spec.cwd, env: spec.env }], { nonce, baseDir, gate: true }), {
      onStdout: (b: Buffer) => reader.push('stdout', b),
      onStderr: (b: Buffer) => reader.push('stderr', b),
      stdin,
    });
  } finally {
    settled = true;
    clearTimeout(watch);
  }
  const run = reader.runs[0];
  if (run?.state !== 'done') return false;
  const item = { taskId, command: spec.command, routeReason, autoRouted: !spec.nodeId };
  const result: CommandResult = toResult(rt, node, item, run, 'done', Date.now() - started, { timeoutS: spec.timeoutS });
  // Kept a while for this process's runCommand (its activity may also run elsewhere, or not at
  // all), and only so many: results carry up to 64 KiB per stream.
  rt.headStartResults.set(taskId, result);
  setTimeout(() => rt.headStartResults.delete(taskId), HANDOFF_KEEP_MS).unref();
  for (const old of rt.headStartResults.keys()) {
    if (rt.headStartResults.size <= HANDOFF_KEEP_MAX) break;
    rt.headStartResults.delete(old);
  }
  // The command is done: its placement no longer counts against the node (as in runCommand).
  rt.book.releaseOne(taskId);
  rt.completions.emit(taskId, result);
  return true;
}

/**
 * Once the workflow has closed, a run still going was never reached by its activity (which
 * would have waited for it): cancelled or terminated before it started. Nobody else will stop it.
 */
async function killIfAbandoned(client: Client, exec: Exec, taskId: string, runId: string, baseDir: string | undefined, settled: () => boolean): Promise<void> {
  let ended: CommandResult | undefined;
  try {
    ended = await client.workflow.getHandle(taskId).result() as CommandResult;
  } catch {
    // Cancelled, terminated or timed out: ended stays undefined.
  }
  // A result with an exit code means the activity saw the run end.
  if (settled() || (ended && ended.return_code !== null)) return;
  let said = '';
  await exec(killScript(runId, { graceS: KILL_GRACE_S, baseDir }), { onStdout: (b: Buffer) => { said += b.toString(); } })
    .catch((err: unknown) => { said = String(err); });
  log.info({ taskId, said: said.trim() }, 'stopped a head-started run that its workflow never reached');
}
