// One fan-out batch on its node, whoever runs it: the runBatch activity, or the serving
// process's head start before that activity exists (fastpath/fanoutHeadStart.ts). One engine
// attempt whose lanes (the node's share of max_parallel) each run a chunk of commands per exec.
// The worker decides what it runs: a command the policy refuses on this node gets that as its
// result, unrun. Stops reach the batch as a Query answer of its workflow (activities cannot
// receive signals), asked every second. Each result is published as it ends (task_status and
// progress read it), a stopped one also sent to the fan-out at once; the whole batch is
// published for the fan-out's waiter in this process (serve answers once every batch is in).
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { workerRefusal } from '../cluster/policyGate.js';
import { fitResults } from '../cluster/resultFit.js';
import { commandsEndedSignal, stopQuery } from '../messages.js';
import type { Services } from '../runtime/services.js';
import { unranResult, type BatchInput, type CommandResult, type NodeConfig } from '../shared.js';
import { runAttempt, type AttemptControl } from './attempt.js';
import { Stops } from './stops.js';

const CHECK_MS = 1000;

export interface BatchRunOptions {
  /** The workflow asked for stops: the batch's own (the fan-out, or its child batch workflow). */
  stopsFrom?: { workflowId: string; runId?: string };
  /** Ask for stops before starting anything (a retry: a stop may have come before it). */
  checkStopsFirst?: boolean;
  /** Start nothing until this resolves true (the head start: the workflow is being started). */
  gate?: Promise<boolean>;
  /** This batch's own workflow id, when a next batch of the node may wait for its lanes (BatchInput.after). */
  handsOverAs?: string;
}

/** Item k of the batch → why this node's policy refuses it (a batch often repeats one command: each distinct one is checked once). */
export function batchRefusals(batch: BatchInput, node: NodeConfig): Map<number, string> {
  const refused = new Map<number, string>();
  const verdicts = new Map<string, string | undefined>();
  batch.items.forEach((it, k) => {
    if (!verdicts.has(it.command))
      verdicts.set(it.command, workerRefusal({ command: it.command, cwd: batch.cwd, env: batch.env, node, approved: batch.approved }));
    const why = verdicts.get(it.command);
    if (why) refused.set(k, why);
  });
  return refused;
}

/** Run the batch; results in item order. Throws what runAttempt throws (transport failures, the abandon reason). */
export async function runNodeBatch(
  rt: Services,
  client: Client,
  node: NodeConfig,
  batch: BatchInput,
  control: AttemptControl,
  opts: BatchRunOptions = {},
): Promise<CommandResult[]> {
  const items = batch.items.map((it) => ({
    taskId: `${batch.parentId}/${it.index}`,
    command: it.command,
    routeReason: batch.routeReason,
    autoRouted: true,
  }));
  const refused = batchRefusals(batch, node);
  const runnable = items.filter((_, k) => !refused.has(k));
  const stops = new Stops(runnable.length);
  const from = opts.stopsFrom;
  const checkStops = async () => {
    if (!from) return;
    try {
      const st = await client.workflow.getHandle(from.workflowId, from.runId).query(stopQuery);
      const ids = new Set(st.taskIds);
      runnable.forEach((it, k) => {
        if (st.all || ids.has(it.taskId)) stops.stop(k);
      });
    } catch {
      /* the next tick asks again */
    }
  };
  // A first attempt asks first after CHECK_MS: a Query is a round trip through the server and a
  // task of the workflow (which holds its next workflow task back), for every batch, and a stop
  // that raced the start is rare; it still kills what it started, within CHECK_MS.
  if (opts.checkStopsFirst) await checkStops();
  const poll = setInterval(() => void checkStops(), CHECK_MS);
  const mine = opts.handsOverAs ? rt.handoff.register(opts.handsOverAs) : undefined;
  const before = batch.after ? waitForBatchBefore(rt, client, batch.after) : undefined;
  try {
    const ran = (await runAttempt(
      rt,
      node,
      runnable,
      {
        lanes: batch.concurrency,
        timeoutS: batch.timeoutS,
        cwd: batch.cwd,
        env: batch.env,
        streamCap: batch.streamCap,
        gate: opts.gate,
        stops,
        waitForLane: before?.waitForLane,
        onLaneDone: mine?.laneDone,
        onResult: (_k, result) => {
          rt.book.releaseOne(result.task_id);
          rt.results.publish(result);
          // A stopped command's result goes to the fan-out now: task_status of it answers at
          // once, from any process, instead of when the whole batch ends.
          if (result.state === 'cancelled')
            void client.workflow
              .getHandle(batch.parentId)
              .signal(commandsEndedSignal, [result])
              .catch(() => undefined);
        },
      },
      control,
    )) as CommandResult[];
    let next = 0;
    // They are the activity's result (one Temporal payload): inline output cut to fit if need be.
    const results = fitResults(
      items.map((it, k) => {
        if (!refused.has(k)) return ran[next++]!;
        const r = unranResult(it.taskId, '', `refused on ${node.id}: ${refused.get(k)}`, 'failed', it.routeReason);
        rt.outputs.saveResult(it.taskId, r);
        rt.results.publish(r);
        return r;
      }),
    );
    // The fan-out's waiter in this process (serve) may answer once every batch is in.
    if (!batch.notFinal) rt.results.publishBatch(batch.parentId, results);
    mine?.finished();
    return results;
  } finally {
    clearInterval(poll);
    before?.stop();
  }
}

/**
 * Lanes of a chained batch wait for the lanes of the batch before (`after`, its workflow id) as
 * they run dry in this process (runtime/laneHandoff.ts), or, when that batch runs elsewhere or
 * is gone, until Temporal says its workflow closed (asked every CHECK_MS while a lane waits).
 */
function waitForBatchBefore(
  rt: Services,
  client: Client,
  after: string,
): { waitForLane: (lane: number, signal?: AbortSignal) => Promise<void>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let waiting = 0;
  const ask = async () => {
    try {
      const d = await client.workflow.getHandle(after).describe();
      if (d.status.name !== 'RUNNING') rt.handoff.closed(after);
    } catch (err) {
      // Never started (the workflow did not run it: cancelled, re-placed): nothing to wait for.
      if (err instanceof WorkflowNotFoundError) rt.handoff.closed(after);
    }
  };
  // Temporal is asked only while some lane waits.
  const stop = () => clearInterval(timer);
  return {
    waitForLane: async (lane, signal) => {
      if (waiting++ === 0) timer = setInterval(() => void ask(), CHECK_MS);
      try {
        await rt.handoff.waitLanes(after, lane + 1, signal);
      } finally {
        if (--waiting === 0) stop();
      }
    },
    stop,
  };
}
