// Recovery of journaled launches (launchJournal.ts) whose workflow was never started: the
// process that launched them died first. For each, the run is claimed on its node if nobody
// launched it yet (preemptScript: it never starts late, and its workflow reports it cancelled
// before it started), then the workflow is started as it would have been (once: a workflow of
// that id that exists already is left alone). Its runCommand then re-attaches to the run, so
// the workflow records what the command did, and the command ran at most once.
import { renameSync, writeFileSync } from 'node:fs';
import { findNode } from '../cluster/nodes.js';
import { execFor } from '../engine/exec.js';
import { runIdFor } from '../engine/runChunk.js';
import { log } from '../log.js';
import type { Services } from '../runtime/services.js';
import { preemptScript } from '../ssh/detachedRun.js';
import { journalsToRecover, openIntents, type LaunchIntent, type LaunchJournal } from './launchJournal.js';
import { rmQuietly } from '../runtime/processTag.js';

/** How often a serve looks for journals to recover (a process that died meanwhile, a node that was down). */
const RECOVER_EVERY_MS = 60_000;
/** Run ids per preempt script (a fan-out's can be thousands). */
const PREEMPT_PER_SCRIPT = 500;

export interface RecoveryDeps {
  journal: LaunchJournal;
  rt: Services;
  /** Start the intent's workflow unless one of that id exists (TaskStarter.start with once). */
  start(intent: LaunchIntent): Promise<unknown>;
}

/** Recover now and then every minute until stopped. */
export function startRecovery(deps: RecoveryDeps): { stop(): void } {
  // One pass at a time; a pass that fails as a whole (the directory unreadable) waits for the next.
  const pass = () =>
    recoverLaunches(deps).catch((err: unknown) => {
      log.warn({ err: String(err) }, 'launch journal recovery failed; retrying later');
      return 0;
    });
  let running = pass();
  const timer = setInterval(() => {
    running = running.then(pass);
  }, RECOVER_EVERY_MS).unref();
  return { stop: () => clearInterval(timer) };
}

let taken = 0;

/** One pass over the journals to recover; resolves with how many workflows it started. */
export async function recoverLaunches(deps: RecoveryDeps): Promise<number> {
  let started = 0;
  for (const file of journalsToRecover(deps.journal)) {
    // Taken over under this process's name first: two recoveries never read the same file, and
    // if this process dies too, the next one recovers it.
    const mine = deps.journal.file.replace(/\.jsonl$/, `.r${++taken}.jsonl`);
    try {
      renameSync(file, mine);
    } catch {
      continue;
    }
    const left: LaunchIntent[] = [];
    for (const intent of openIntents(mine)) {
      try {
        await preempt(deps.rt, intent);
        await deps.start(intent);
        started++;
      } catch (err) {
        left.push(intent);
        log.warn({ taskId: intent.taskId, err: String(err) }, 'could not recover a journaled launch yet; retrying later');
      }
    }
    if (left.length === 0) rmQuietly(mine);
    else writeFileSync(mine, left.map((open) => `${JSON.stringify({ open })}\n`).join(''), { mode: 0o600 });
  }
  if (started) log.info({ started }, 'started the workflows of launches a process that died had journaled');
  return started;
}

/** The runs of the intent, by node: a command's one, or each command of a fan-out's head-started batches. */
function runsByNode(intent: LaunchIntent): Map<string, string[]> {
  const runs = new Map<string, string[]>();
  if (intent.kind !== 'parallel') {
    const nodeId = intent.spec.nodeId ?? intent.spec.placed?.nodeId;
    if (nodeId) runs.set(nodeId, [runIdFor(intent.taskId)]);
    return runs;
  }
  const launched = new Set(intent.spec.headStart ?? []);
  intent.spec.placement?.nodes.forEach((nodeId, i) => {
    if (!launched.has(nodeId)) return;
    const ids = runs.get(nodeId) ?? [];
    ids.push(runIdFor(`${intent.taskId}/${i}`));
    runs.set(nodeId, ids);
  });
  return runs;
}

async function preempt(rt: Services, intent: LaunchIntent): Promise<void> {
  for (const [nodeId, runIds] of runsByNode(intent)) {
    const node = findNode(rt.config, nodeId);
    // A node no longer in the config: the workflow says so.
    if (!node) continue;
    const exec = await execFor(rt, node);
    for (let i = 0; i < runIds.length; i += PREEMPT_PER_SCRIPT) {
      const out = await exec(preemptScript(runIds.slice(i, i + PREEMPT_PER_SCRIPT), { baseDir: node.local ? rt.localRunsDir : undefined }));
      if (out.code !== 0) throw new Error(`the preempt script on ${node.id} exited ${out.code}`);
    }
  }
}
