// Head start: a command sent to a named node (offload_to, submit --node) is launched by the
// serving process itself, with the run id the workflow's runCommand will use. That activity
// then re-attaches to the run (the node-side claim lets only one of them launch it), so the
// command runs once and the workflow records its result as before; but the caller's answer
// no longer waits for Temporal to dispatch the workflow task and the activity (about 25 ms of
// a 45 ms call on a small host).
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
import { KILL_GRACE_S, runIdFor, toResult } from './runChunk.js';

/** A run still going after this long gets a watch on its workflow (a long-poll, so not for every call). */
const WATCH_AFTER_MS = 1000;

/** Call with true once the workflow has started (the command may run), false if it did not. */
/** How long a finished run's result waits for runCommand here. */
const HANDOFF_KEEP_MS = 5 * 60_000;

export type Launch = (started: boolean) => void;

/** Prepare a head start for a command about to be started as workflow `taskId`; undefined when there is none. */
export type HeadStart = (taskId: string, spec: CommandSpec) => Launch | undefined;

/**
 * Head starts for the nodes whose queues this process serves (elsewhere the activity may run on
 * another host, whose local node is not ours). Results go to rt.completions, as runCommand's do.
 */
export function createHeadStart(rt: Runtime, client: Client, servedNodeIds: readonly string[]): HeadStart {
  const served = new Set(servedNodeIds);
  return (taskId, spec) => {
    const node = spec.nodeId && served.has(spec.nodeId) ? rt.config.nodes.find((n) => n.id === spec.nodeId) : undefined;
    if (!node) return undefined;
    // A node at its max_parallel: the command waits for a slot in runCommand, as without a head start.
    const release = rt.slots.tryTake(node.id, node.maxParallel);
    if (!release) return undefined;
    rt.headStarted.add(taskId);
    let decide: Launch = () => undefined;
    const gate = new Promise<boolean>((resolve) => { decide = resolve; });
    launch(rt, client, node, taskId, spec, gate).catch((err: unknown) => {
      // The workflow's own attempt meets the same problem and reports it.
      log.debug({ taskId, err: String(err) }, 'head start gave up');
    }).finally(() => {
      rt.headStarted.delete(taskId);
      release();
    });
    return decide;
  };
}

async function launch(rt: Runtime, client: Client, node: NodeConfig, taskId: string, spec: CommandSpec, gate: Promise<boolean>): Promise<void> {
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
  if (run?.state !== 'done') return;
  const item = { taskId, command: spec.command, routeReason: explicitRouteReason(node.id), autoRouted: false };
  const result: CommandResult = toResult(rt, node, item, run, 'done', Date.now() - started, { timeoutS: spec.timeoutS });
  // Kept a while for this process's runCommand (its activity may also run elsewhere, or not at all).
  rt.headStartResults.set(taskId, result);
  setTimeout(() => rt.headStartResults.delete(taskId), HANDOFF_KEEP_MS).unref();
  rt.completions.emit(taskId, result);
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
