// runBatch: many commands of one fan-out on one node, over the pooled connections, each with
// its own task id, result and output; `concurrency` lanes each run a chunk of commands per exec.
// Heartbeats progress; asks its workflow (a Query) whether some or all commands were stopped.
// A retried attempt re-attaches to commands the previous attempt launched, so nothing runs twice.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Runtime } from '../runtime.js';
import { FailureType, unranResult, type BatchInput, type CommandResult } from '../shared.js';
import { stopQuery } from '../workflows/parallel.js';
import { execFor, type Exec } from './exec.js';
import { runChunk } from './runChunk.js';
import { cancelRequested } from './node.js';
import { toFailure } from './failures.js';

const CHECK_MS = 1000;
/** Attempts of a batch whose node cannot be reached (nothing sent) before the fan-out re-places it. */
const UNREACHABLE_ATTEMPTS = 2;
/** Commands per exec at most (each exec saves a channel and a shell start per command)... */
const CHUNK_MAX = 32;
/** ...and script text per exec (the script is one argument on the node: 128 KiB at most). */
const CHUNK_BYTES = 48 * 1024;

export function createBatchActivities(rt: Runtime) {
  return {
    async runBatch(batch: BatchInput): Promise<CommandResult[]> {
      const ctx = Context.current();
      const node = rt.config.nodes.find((n) => n.id === batch.nodeId);
      if (!node) throw ApplicationFailure.nonRetryable(`unknown node "${batch.nodeId}"`, FailureType.UnknownNode);
      // `sent` (kept across attempts in the heartbeat details): some command may have reached the
      // node, so an unreachable node must not send the batch elsewhere (it could run twice).
      let sent = (ctx.info.heartbeatDetails as { sent?: boolean } | undefined)?.sent === true;
      // Unreachable with nothing sent: retried once, then the workflow re-places the batch.
      const unreachable = (err: unknown) => {
        const f = toFailure(err, node, rt, sent);
        if (f.type !== FailureType.NodeUnreachable || ctx.info.attempt < UNREACHABLE_ATTEMPTS) return f;
        return ApplicationFailure.nonRetryable(f.message, FailureType.NodeUnreachable);
      };
      let exec: Exec;
      try {
        exec = await execFor(rt, node);
      } catch (err) {
        throw unreachable(err);
      }
      const results: CommandResult[] = new Array(batch.items.length);
      const taskIds = batch.items.map((it) => `${batch.parentId}/${it.index}`);
      const aborts = new Map<string, AbortController>();
      let stopAll = false;
      let done = 0;
      const stopped = new Set<string>();
      // Items k < next were taken by a lane (running or finished); the rest have not started.
      let next = 0;
      const indexOf = new Map(taskIds.map((id, k) => [id, k]));
      const skip = (k: number) => {
        if (results[k]) return;
        // It never ran anywhere: executed_on is '' (the summary's by_node counts only commands that ran).
        results[k] = unranResult(taskIds[k]!, '', 'cancelled before it started', 'cancelled', batch.routeReason);
        rt.outputs.saveResult(taskIds[k]!, results[k]!);
      };
      const abort = (taskId: string) => {
        stopped.add(taskId);
        aborts.get(taskId)?.abort();
        // Not started yet: answer now (task_cancel waits for the command's own result), not when a lane gets there.
        const k = indexOf.get(taskId);
        if (k !== undefined && k >= next) skip(k);
      };
      // Stop requests arrive as a Query answer (activities cannot receive signals); Temporal
      // cancellation (heartbeat) stops everything too.
      const wf = ctx.info.workflowExecution;
      const checkStop = async () => {
        if (!rt.client || !wf) return;
        try {
          const st = await rt.client.workflow.getHandle(wf.workflowId, wf.runId).query(stopQuery);
          if (st.all) { stopAll = true; for (const id of aborts.keys()) abort(id); }
          for (const id of st.taskIds) abort(id);
        } catch { /* the next tick asks again */ }
      };
      // A stop may have come before a retry of this batch started: start nothing it stopped. A first
      // attempt does not wait for the answer (a Query can take 10-300 ms under load): a stop that
      // raced its start still kills what it started, a moment later.
      if (ctx.info.attempt > 1) await checkStop();
      else void checkStop();
      const poll = setInterval(() => {
        ctx.heartbeat({ done, sent });
        void checkStop();
      }, CHECK_MS);
      // Only a cancel the workflow asked for stops the batch. Temporal also cancels an attempt it has
      // given up on (heartbeat timeout, worker shutdown on a restart, not found): then this attempt
      // launches nothing more and lets go; the next attempt re-attaches to the running commands.
      let leaving = false;
      let leave: (err: unknown) => void = () => undefined;
      const left = new Promise<never>((_, reject) => { leave = reject; });
      left.catch(() => undefined);
      const onCancel = () => {
        if (!cancelRequested(ctx)) {
          leaving = true;
          leave(ctx.cancellationSignal.reason);
          return;
        }
        stopAll = true;
        for (const id of aborts.keys()) abort(id);
      };
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      if (ctx.cancellationSignal.aborted) onCancel();

      const lanes = Math.max(1, Math.min(batch.concurrency, batch.items.length));
      // cwd and env are repeated for every run of a chunk's script.
      const perRunBytes = 64 + (batch.cwd?.length ?? 0) + Object.entries(batch.env ?? {}).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
      const lane = async () => {
        while (!leaving && next < batch.items.length) {
          // A chunk per exec: its fair share of what is left, so lanes stay busy to the end.
          const ks: number[] = [];
          let bytes = 0;
          const want = Math.min(CHUNK_MAX, Math.max(1, Math.floor((batch.items.length - next) / lanes)));
          while (ks.length < want && next < batch.items.length && bytes < CHUNK_BYTES) {
            const k = next++;
            if (stopAll || stopped.has(taskIds[k]!)) {
              skip(k);
              continue;
            }
            ks.push(k);
            bytes += batch.items[k]!.command.length + perRunBytes;
          }
          if (ks.length === 0) continue;
          const chunk = ks.map((k) => {
            const ac = new AbortController();
            aborts.set(taskIds[k]!, ac);
            return { taskId: taskIds[k]!, command: batch.items[k]!.command, routeReason: batch.routeReason, autoRouted: true, signal: ac.signal };
          });
          try {
            await runChunk(rt, node, exec, chunk, {
              timeoutS: batch.timeoutS, cwd: batch.cwd, env: batch.env, streamCap: batch.streamCap,
              onSent: () => {
                if (sent) return;
                sent = true;
                ctx.heartbeat({ done, sent });
              },
              onResult: (j, result) => {
                results[ks[j]!] = result;
                rt.book.releaseOne(result.task_id);
                aborts.delete(chunk[j]!.taskId);
                done++;
              },
            });
          } catch (err) {
            // Transport failure: the whole attempt is retried (it re-attaches).
            throw unreachable(err);
          } finally {
            for (const it of chunk) aborts.delete(it.taskId);
          }
        }
      };
      try {
        await Promise.race([Promise.all(Array.from({ length: lanes }, lane)), left]);
        // The fan-out's waiter in this process (serve) may answer once every batch is in.
        rt.completions.emit(`batch:${batch.parentId}`, results);
      } finally {
        clearInterval(poll);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
      return results;
    },
  };
}
