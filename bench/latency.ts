// bench/latency: warm latency of `true` through clusterflow (MCP offload_to → Temporal →
// SSH pool on a loopback node) against plain `ssh host true` and OpenSSH ControlMaster to
// the SAME node, all in one run; then where clusterflow's time goes, from the workflow
// histories (server timestamps) of the measured calls.
// Measured twice: back to back (each call starts when the last ended: on 2 vCPUs the tail work
// of one call, Temporal recording it, then overlaps the next), and paced (--pause ms of idle
// between calls, as between an agent's tool calls; 0 skips this part).
//   npm run build && node dist/bench/latency.js [--iterations 100] [--warmup 20] [--block 25] [--pause 100]
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { chunkScript, newNonce } from '../src/ssh/detachedRun.js';
import { KnownHosts } from '../src/ssh/hostKeys.js';
import { localExec } from '../src/ssh/localExec.js';
import { SshPool, type SshTarget } from '../src/ssh/pool.js';
import { structured, type Harness } from '../test/helpers/harness.js';
import { cpuMs, fmtMs, fmtRatio, measureRounds, pidsWith, printTable, startBenchHarness, summarize, timeOnce, wallMs, type Case } from './common.js';

const run = promisify(execFile);
const { values: flags } = parseArgs({
  options: {
    iterations: { type: 'string', default: '100' }, warmup: { type: 'string', default: '20' }, block: { type: 'string', default: '25' },
    pause: { type: 'string', default: '100' },
  },
});
const ITERATIONS = Number(flags.iterations);
const WARMUP = Number(flags.warmup);
const BLOCK = Number(flags.block);
const PAUSE_MS = Number(flags.pause);
for (const [k, v] of Object.entries({ iterations: ITERATIONS, warmup: WARMUP, block: BLOCK, pause: PAUSE_MS })) {
  if (!Number.isInteger(v) || v < (k === 'warmup' || k === 'pause' ? 0 : 1)) throw new Error(`--${k} needs a positive integer`);
}

interface McpCall { taskId: string; sentAt: number; answeredAt: number }

/** The bench's own pool reaches node 1 the way the product does. */
function target(h: Harness): SshTarget {
  const node = h.cluster.nodes[0]!;
  return { nodeId: node.id, host: node.host, port: node.port, user: node.user, identityFile: node.identityFile, connectTimeoutMs: 5000 };
}

async function main(): Promise<void> {
  process.stderr.write('starting the loopback cluster, Temporal and the MCP server...\n');
  const h = await startBenchHarness({ nodes: 1 });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-bench-'));
  const pool = new SshPool({ knownHosts: new KnownHosts({ files: [h.cluster.knownHostsPath], writeFile: path.join(tmp, 'known_hosts'), policy: 'strict' }) });
  try {
    const node = h.cluster.nodes[0]!;
    const sshArgs = [
      '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${h.cluster.knownHostsPath}`,
      '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes',
      '-i', node.identityFile, '-p', String(node.port),
    ];
    const dest = `${node.user}@${node.host}`;
    const controlArgs = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${tmp}/cm-%C`, '-o', 'ControlPersist=300'];
    let runNo = 0;
    const runId = () => `bench-${process.pid}-${runNo++}`;
    const mustSucceed = (what: string) => (r: { code: number | null }) => {
      if (r.code !== 0) throw new Error(`${what} exited ${r.code}`);
    };
    const offloads: McpCall[] = [];
    const mcpTrue = async (tool: 'offload_to' | 'cluster_bash', log?: McpCall[]) => {
      const sentAt = wallMs();
      const r = structured<{ success: boolean; task_id: string; executed_on: string; error: string | null }>(
        await h.mcp.callTool({ name: tool, arguments: tool === 'offload_to' ? { command: 'true', node_id: node.id } : { command: 'true' } }));
      if (!r.success) throw new Error(`${tool}: ${r.error}`);
      log?.push({ taskId: r.task_id, sentAt, answeredAt: wallMs() });
    };

    const cases: Case[] = [
      { name: `clusterflow: MCP offload_to ${node.id} "true"`, run: () => mcpTrue('offload_to', offloads) },
      { name: 'clusterflow: MCP cluster_bash "true" (local)', run: () => mcpTrue('cluster_bash') },
      { name: 'ssh ControlMaster (persisted)', run: () => run('ssh', [...sshArgs, ...controlArgs, dest, 'true']) },
      { name: 'ssh plain (new login each time)', run: () => run('ssh', [...sshArgs, dest, 'true']) },
      { name: 'SshPool.exec "true" (ssh2, pooled)', run: () => pool.exec(target(h), 'true').then(mustSucceed('pool exec')) },
      { name: 'SshPool.exec detached-run wrapper "true"', run: () => pool.exec(target(h), chunkScript([{ runId: runId(), command: 'true' }], { nonce: newNonce() })).then(mustSucceed('pool wrapper')) },
      { name: 'localExec "true" (sh -c)', run: () => localExec('true').then(mustSucceed('local exec')) },
      { name: 'localExec detached-run wrapper "true"', run: () => localExec(chunkScript([{ runId: runId(), command: 'true' }], { nonce: newNonce(), baseDir: tmp })).then(mustSucceed('local wrapper')) },
    ];
    process.stderr.write(`warm-up ${WARMUP} calls per case, then ${ITERATIONS} per case in back-to-back blocks of ${BLOCK}...\n`);
    const load0 = os.loadavg()[0]!;
    const samples = await measureRounds(cases, { iterations: ITERATIONS, warmup: WARMUP, block: BLOCK });
    offloads.splice(0, WARMUP); // keep the measured calls only

    const stats = new Map([...samples].map(([k, v]) => [k, summarize(v)]));
    const cm = stats.get('ssh ControlMaster (persisted)')!.p50;
    const plain = stats.get('ssh plain (new login each time)')!.p50;
    printTable(`Latency of \`true\` (ms): ${ITERATIONS} calls per path after ${WARMUP} warm-up calls, blocks of ${BLOCK}; ` +
      `node ${node.id} = ${dest}:${node.port}; ${os.cpus().length} CPUs, load average ${load0.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}`,
      ['path', 'p50', 'p95', 'p99', 'min', 'p50 / ControlMaster', 'p50 / plain ssh'],
      [...stats].map(([name, s]) => [name, fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.p99), fmtMs(s.min), fmtRatio(s.p50 / cm), fmtRatio(s.p50 / plain)]));
    const verdict = (mcp: number, cmP50: number) => `${mcp <= 3 * cmP50 ? 'MET' : 'NOT MET'} (${fmtMs(mcp)} ms, ${fmtRatio(mcp / cmP50)}; 3× is ${fmtMs(3 * cmP50)} ms)`;
    process.stdout.write(`\ntarget, back to back: MCP offload_to p50 ≤ 3× ControlMaster p50: ${verdict(stats.get(cases[0]!.name)!.p50, cm)}\n`);

    if (PAUSE_MS > 0) {
      const paced = cases.filter((c) => c.name.startsWith('clusterflow') || c.name.startsWith('ssh ControlMaster'));
      const measured = offloads.length;
      const pacedSamples = await measureRounds(paced, { iterations: ITERATIONS, warmup: 0, block: BLOCK, pauseMs: PAUSE_MS });
      offloads.splice(measured); // the breakdown below is of the back-to-back calls
      const pacedStats = new Map([...pacedSamples].map(([k, v]) => [k, summarize(v)]));
      const pcm = pacedStats.get('ssh ControlMaster (persisted)')!.p50;
      printTable(`Paced: the same calls with ${PAUSE_MS} ms of idle before each (ms; ${ITERATIONS} calls per path)`,
        ['path', 'p50', 'p95', 'p99', 'min', 'p50 / ControlMaster'],
        [...pacedStats].map(([name, st]) => [name, fmtMs(st.p50), fmtMs(st.p95), fmtMs(st.p99), fmtMs(st.min), fmtRatio(st.p50 / pcm)]));
      process.stdout.write(`\ntarget, paced: MCP offload_to p50 ≤ 3× ControlMaster p50: ${verdict(pacedStats.get(cases[0]!.name)!.p50, pcm)}\n`);
    }

    await printBreakdown(await h.temporalAddress(), offloads);
    await printCpuCost(h.stateDir, () => mcpTrue('offload_to'), Math.min(ITERATIONS, 50));
  } finally {
    // The wrapper runs left their files on the node (the product's own runs are the product's to clean).
    await pool.exec(target(h), `rm -f "$HOME"/.cache/clusterflow/runs/bench-${process.pid}-*`).catch(() => undefined);
    await pool.close();
    await run('ssh', ['-o', `ControlPath=${tmp}/cm-%C`, '-O', 'exit', '-p', String(h.cluster.nodes[0]!.port), `${h.cluster.nodes[0]!.user}@${h.cluster.nodes[0]!.host}`]).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
    await h.close();
  }
}

// History event types (temporal.api.enums.v1.EventType).
const EV = { started: 1, completed: 2, wtScheduled: 5, wtStarted: 6, wtCompleted: 7, actScheduled: 10, actStarted: 11, actCompleted: 12 } as const;

/** Split each measured offload_to call into phases, from its workflow history's event times. */
async function printBreakdown(address: string, calls: McpCall[]): Promise<void> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const phases = new Map<string, number[]>();
  const add = (name: string, ms: number) => (phases.get(name) ?? phases.set(name, []).get(name)!).push(ms);
  let eager = 0;
  let early = 0;
  try {
    for (const call of calls) {
      const history = await client.workflow.getHandle(call.taskId).fetchHistory();
      const events = (history.events ?? []).map((e) => ({
        type: Number(e.eventType),
        at: Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6,
      }));
      const nth = (type: number, n = 0) => events.filter((e) => e.type === type)[n]?.at ?? NaN;
      const t = {
        started: nth(EV.started), wt1s: nth(EV.wtScheduled), wt1b: nth(EV.wtStarted), wt1c: nth(EV.wtCompleted),
        as: nth(EV.actScheduled), ab: nth(EV.actStarted), ac: nth(EV.actCompleted),
        wt2s: nth(EV.wtScheduled, 1), wt2b: nth(EV.wtStarted, 1), wt2c: nth(EV.wtCompleted, 1), done: nth(EV.completed),
      };
      if (t.wt1b - t.started < 0.5) eager++;
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
  printTable(`Where an offload_to call's time goes (${calls.length} measured calls; ms; server event times; eager first workflow task in ${eager}/${calls.length}; answered before the workflow completed in ${early}/${calls.length})`,
    ['phase', 'p50', 'p95', 'mean'],
    [...phases].map(([name, v]) => { const s = summarize(v); return [name, fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.mean)]; }));
}

/**
 * CPU each offload_to call costs the MCP server process (client + workers) and the Temporal
 * server: on a small machine the critical path is mostly this work, so it bounds the latency.
 */
async function printCpuCost(stateDir: string, call: () => Promise<unknown>, n: number): Promise<void> {
  const temporalPid = (JSON.parse(readFileSync(path.join(stateDir, 'temporal', 'server.json'), 'utf8')) as { pid: number }).pid;
  const servePids = pidsWith(`CLUSTERFLOW_HOME=${stateDir}`, 'serve');
  const cpu = () => ({ serve: servePids.reduce((s, p) => s + cpuMs(p), 0), temporal: cpuMs(temporalPid) });
  const before = cpu();
  let wall = 0;
  for (let i = 0; i < n; i++) wall += await timeOnce(call);
  const after = cpu();
  const serve = (after.serve - before.serve) / n;
  const temporal = (after.temporal - before.temporal) / n;
  printTable(`CPU per offload_to call (${n} back-to-back calls; /proc, 10 ms ticks; ${os.cpus().length} CPUs)`,
    ['process', 'CPU ms per call'],
    [
      [`MCP server: cluster-router serve (client + workers, pid ${servePids.join(',') || '?'})`, fmtMs(serve)],
      [`Temporal dev server (pid ${temporalPid})`, fmtMs(temporal)],
      ['sum (the node\'s sshd + shells not counted)', fmtMs(serve + temporal)],
      ['wall time per call', fmtMs(wall / n)],
    ]);
}

main().catch((err) => {
  process.stderr.write(`bench/latency: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
