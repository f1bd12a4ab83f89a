// The detail views of bench/latency: where an offload_to call's time goes (from the workflow
// histories of the measured calls, server event times) and the CPU each call costs the MCP
// server process and the Temporal server (/proc).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { cpuMs, fmtMs, pidsWith, printTable, summarize, timeOnce } from './common.js';

export interface McpCall {
  taskId: string;
  sentAt: number;
  answeredAt: number;
}

// History event types (temporal.api.enums.v1.EventType).
const EV = { started: 1, completed: 2, wtScheduled: 5, wtStarted: 6, wtCompleted: 7, actScheduled: 10, actStarted: 11, actCompleted: 12 } as const;

/** Split each measured offload_to call into phases, from its workflow history's event times. */
export async function printBreakdown(address: string, namespace: string, calls: McpCall[]): Promise<void> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const phases = new Map<string, number[]>();
  const add = (name: string, ms: number) => (phases.get(name) ?? phases.set(name, []).get(name)!).push(ms);
  let eager = 0;
  let early = 0;
  let late = 0;
  try {
    for (const call of calls) {
      const history = await client.workflow.getHandle(call.taskId).fetchHistory();
      const events = (history.events ?? []).map((e) => ({
        type: Number(e.eventType),
        at: Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6,
      }));
      const nth = (type: number, n = 0) => events.filter((e) => e.type === type)[n]?.at ?? NaN;
      const t = {
        started: nth(EV.started),
        wt1s: nth(EV.wtScheduled),
        wt1b: nth(EV.wtStarted),
        wt1c: nth(EV.wtCompleted),
        as: nth(EV.actScheduled),
        ab: nth(EV.actStarted),
        ac: nth(EV.actCompleted),
        wt2s: nth(EV.wtScheduled, 1),
        wt2b: nth(EV.wtStarted, 1),
        wt2c: nth(EV.wtCompleted, 1),
        done: nth(EV.completed),
      };
      if (t.wt1b - t.started < 0.5) eager++;
      // A journaled head start (launch journal) starts its workflow after the answer: then 1 > total.
      if (t.started > call.answeredAt) late++;
      add('1 MCP request → workflow started (stdio, plan, StartWorkflowExecution)', t.started - call.sentAt);
      add('2 first workflow task: scheduled → picked up (0 when eager)', t.wt1b - t.wt1s);
      add('3 first workflow task: run + complete (schedules runCommand)', t.wt1c - t.wt1b);
      add('4 runCommand: scheduled → started (node queue dispatch)', t.ab - t.as);
      add('5 runCommand: started → completed (SSH + wrapper + output)', t.ac - t.ab);
      add('6 second workflow task: scheduled → picked up', t.wt2b - t.wt2s);
      add('7 second workflow task: run + complete (workflow completes)', t.wt2c - t.wt2b);
      // With a head start the answer comes first and the workflow records the run after it.
      if (call.answeredAt < t.done) early++;
      add('8 MCP answer → workflow completed (negative: the answer waited for it)', t.done - call.answeredAt);
      add('= total (MCP client view)', call.answeredAt - call.sentAt);
    }
  } finally {
    await connection.close();
  }
  printTable(
    `Where an offload_to call's time goes (${calls.length} measured calls; ms; server event times; eager first workflow task in ${eager}/${calls.length}; answered before the workflow completed in ${early}/${calls.length}, before it started in ${late}/${calls.length})`,
    ['phase', 'p50', 'p95', 'mean'],
    [...phases].map(([name, v]) => {
      const s = summarize(v);
      return [name, fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.mean)];
    }),
  );
}

/**
 * CPU each offload_to call costs the MCP server process (client + workers) and the Temporal
 * server: on a small machine the critical path is mostly this work, so it bounds the latency.
 */
export async function printCpuCost(stateDir: string, call: () => Promise<unknown>, n: number): Promise<void> {
  // Against an external server (no server.json in the state dir) only serve's CPU is counted.
  const temporalPid = (() => {
    try {
      return (JSON.parse(readFileSync(path.join(stateDir, 'temporal', 'server.json'), 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  })();
  const servePids = pidsWith(`CLUSTERFLOW_HOME=${stateDir}`, 'serve');
  const cpu = () => ({ serve: servePids.reduce((s, p) => s + cpuMs(p), 0), temporal: temporalPid ? cpuMs(temporalPid) : NaN });
  const before = cpu();
  let wall = 0;
  for (let i = 0; i < n; i++) wall += await timeOnce(call);
  const after = cpu();
  const serve = (after.serve - before.serve) / n;
  const temporal = (after.temporal - before.temporal) / n;
  printTable(
    `CPU per offload_to call (${n} back-to-back calls; /proc, 10 ms ticks; ${os.cpus().length} CPUs)`,
    ['process', 'CPU ms per call'],
    [
      [`MCP server: cluster-router serve (client + workers, pid ${servePids.join(',') || '?'})`, fmtMs(serve)],
      [temporalPid ? `Temporal dev server (pid ${temporalPid})` : 'Temporal server (external: not measured)', fmtMs(temporal)],
      ["sum (the node's sshd + shells not counted)", fmtMs(serve + temporal)],
      ['wall time per call', fmtMs(wall / n)],
    ],
  );
}
