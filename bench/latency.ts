// bench/latency (issue J.5): warm latency of `true` through clusterflow (MCP offload_to →
// Temporal → SSH pool on a loopback node) against OpenSSH ControlMaster to the SAME node, in
// one run:
//   1 interleaved: one MCP call, one ControlMaster call, one MCP call, ... (both see the same
//     machine state: the fairest ratio on a shared host); then the same paced (--pause ms of
//     idle before each call, as between an agent's tool calls; 0 skips it);
//   2 back to back: every path (also plain ssh, the ssh2 pool alone, the local node) in blocks
//     of --block calls, the blocks taking turns (effects that only show under back-to-back
//     calls show here: on 2 vCPUs the tail work of one call overlaps the next);
//   3 the payload codec's cost, in-process on a measured call's real payloads (codecCost.ts);
//   4 where an interleaved offload_to call's time goes (workflow histories) and its CPU cost.
//   npm run build && node dist/bench/latency.js [--iterations 100] [--warmup 20] [--block 25] [--pause 100] [--codec-iterations 2000]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { chunkScript, newNonce } from '../src/ssh/detachedRun.js';
import { KnownHosts } from '../src/ssh/hostKeys.js';
import { localExec } from '../src/ssh/localExec.js';
import { SshPool, type SshTarget } from '../src/ssh/pool.js';
import { structured, type Harness } from '../test/helpers/harness.js';
import { measureCodec } from './codecCost.js';
import {
  cleanupOnInterrupt,
  fmtMs,
  fmtRatio,
  measureRounds,
  printTable,
  runBench,
  startBenchHarness,
  summarize,
  wallMs,
  type Case,
  type Summary,
} from './common.js';
import { printBreakdown, printCpuCost, type McpCall } from './latencyDetail.js';

const run = promisify(execFile);
const { values: flags } = parseArgs({
  options: {
    iterations: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '20' },
    block: { type: 'string', default: '25' },
    pause: { type: 'string', default: '100' },
    'codec-iterations': { type: 'string', default: '2000' },
  },
});
const ITERATIONS = Number(flags.iterations);
const WARMUP = Number(flags.warmup);
const BLOCK = Number(flags.block);
const PAUSE_MS = Number(flags.pause);
const CODEC_ITERATIONS = Number(flags['codec-iterations']);
for (const [k, v] of Object.entries({ iterations: ITERATIONS, warmup: WARMUP, block: BLOCK, pause: PAUSE_MS, 'codec-iterations': CODEC_ITERATIONS })) {
  if (!Number.isInteger(v) || v < (k === 'warmup' || k === 'pause' ? 0 : 1)) throw new Error(`--${k} needs a positive integer`);
}
const CM = 'ssh ControlMaster (persisted)';

/** The bench's own pool reaches the node the way the product does. */
function target(h: Harness): SshTarget {
  const node = h.cluster.nodes[0]!;
  return { nodeId: node.id, host: node.host, port: node.port, user: node.user, identityFile: node.identityFile, connectTimeoutMs: 5000 };
}

const statsOf = (samples: Map<string, number[]>) => new Map([...samples].map(([k, v]) => [k, summarize(v)]));
const row = (name: string, s: Summary, cm: number) => [
  name,
  fmtMs(s.p50),
  fmtMs(s.p95),
  fmtMs(s.p99),
  fmtMs(s.min),
  fmtRatio(s.p50 / cm),
  fmtRatio(s.p95 / cm),
];
const HEAD = ['path', 'p50', 'p95', 'p99', 'min', 'p50 / ControlMaster', 'p95 / ControlMaster'];
/** Issue J.5's targets: offload_to p50 at most `limit` × ControlMaster's, measured in the same run. */
const verdict = (mcp: number, cm: number, limit: number) =>
  `${mcp <= limit * cm ? 'MET' : 'NOT MET'} (${fmtMs(mcp)} ms = ${fmtRatio(mcp / cm)} ControlMaster; ${limit}× is ${fmtMs(limit * cm)} ms)`;

async function main(): Promise<void> {
  process.stderr.write('latency: starting the loopback cluster, Temporal and the MCP server...\n');
  const h = await startBenchHarness({ nodes: 1 });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-bench-'));
  const pool = new SshPool({ knownHosts: new KnownHosts({ files: [h.cluster.knownHostsPath], writeFile: path.join(tmp, 'known_hosts'), policy: 'strict' }) });
  const node = h.cluster.nodes[0]!;
  const dest = `${node.user}@${node.host}`;
  const cleanup = async () => {
    // The wrapper runs left their files on the node (the product's own runs are the product's to clean).
    await pool.exec(target(h), `rm -f "$HOME"/.cache/clusterflow/runs/bench-${process.pid}-*`).catch(() => undefined);
    await pool.close();
    await run('ssh', ['-o', `ControlPath=${tmp}/cm-%C`, '-O', 'exit', '-p', String(node.port), dest]).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  };
  const cleanUp = cleanupOnInterrupt(cleanup);
  try {
    const sshArgs = [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${h.cluster.knownHostsPath}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-i',
      node.identityFile,
      '-p',
      String(node.port),
    ];
    const controlArgs = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${tmp}/cm-%C`, '-o', 'ControlPersist=300'];
    let runNo = 0;
    const runId = () => `bench-${process.pid}-${runNo++}`;
    const mustSucceed = (what: string) => (r: { code: number | null }) => {
      if (r.code !== 0) throw new Error(`${what} exited ${r.code}`);
    };
    // The offload_to calls of the interleaved run are logged: their histories feed the breakdown and the codec view.
    let log: McpCall[] | undefined;
    const mcpTrue = async (tool: 'offload_to' | 'cluster_bash') => {
      const sentAt = wallMs();
      const r = structured<{ success: boolean; task_id: string; error: string | null }>(
        await h.mcp.callTool({ name: tool, arguments: tool === 'offload_to' ? { command: 'true', node_id: node.id } : { command: 'true' } }),
      );
      if (!r.success) throw new Error(`${tool}: ${r.error}`);
      if (tool === 'offload_to') log?.push({ taskId: r.task_id, sentAt, answeredAt: wallMs() });
    };
    const offload: Case = { name: `clusterflow: MCP offload_to ${node.id} "true"`, run: () => mcpTrue('offload_to') };
    const cm: Case = { name: CM, run: () => run('ssh', [...sshArgs, ...controlArgs, dest, 'true']) };
    const cases: Case[] = [
      offload,
      { name: 'clusterflow: MCP cluster_bash "true" (local)', run: () => mcpTrue('cluster_bash') },
      cm,
      { name: 'ssh plain (new login each time)', run: () => run('ssh', [...sshArgs, dest, 'true']) },
      { name: 'SshPool.exec "true" (ssh2, pooled)', run: () => pool.exec(target(h), 'true').then(mustSucceed('pool exec')) },
      {
        name: 'SshPool.exec detached-run wrapper "true"',
        run: () => pool.exec(target(h), chunkScript([{ runId: runId(), command: 'true' }], { nonce: newNonce() })).then(mustSucceed('pool wrapper')),
      },
      { name: 'localExec "true" (sh -c)', run: () => localExec('true').then(mustSucceed('local exec')) },
      {
        name: 'localExec detached-run wrapper "true"',
        run: () => localExec(chunkScript([{ runId: runId(), command: 'true' }], { nonce: newNonce(), baseDir: tmp })).then(mustSucceed('local wrapper')),
      },
    ];
    const load0 = os.loadavg()[0]!;
    process.stderr.write(`latency: warm-up ${WARMUP} calls per path; interleaved MCP/ControlMaster, ${ITERATIONS} each...\n`);
    for (const c of cases) for (let i = 0; i < WARMUP; i++) await c.run();
    log = [];
    const inter = statsOf(await measureRounds([offload, cm], { iterations: ITERATIONS, warmup: 0, block: 1 }));
    const interCalls = log;
    log = undefined;
    let paced: Map<string, Summary> | undefined;
    if (PAUSE_MS > 0) {
      process.stderr.write(`latency: interleaved again, ${PAUSE_MS} ms of idle before each call...\n`);
      paced = statsOf(await measureRounds([offload, cm], { iterations: ITERATIONS, warmup: 0, block: 1, pauseMs: PAUSE_MS }));
    }
    process.stderr.write(`latency: every path back to back, blocks of ${BLOCK}...\n`);
    const b2b = statsOf(await measureRounds(cases, { iterations: ITERATIONS, warmup: 0, block: BLOCK }));
    const load1 = os.loadavg()[0]!;

    const where = `node ${node.id} = ${dest}:${node.port}; ${os.cpus().length} CPUs, load average ${load0.toFixed(1)} → ${load1.toFixed(1)}`;
    const icm = inter.get(CM)!.p50;
    printTable(
      `1 Interleaved, back to back: one MCP call, one ControlMaster call, ... (ms; ${ITERATIONS} calls each after ${WARMUP} warm-up; ${where})`,
      HEAD,
      [row(offload.name, inter.get(offload.name)!, icm), row(CM, inter.get(CM)!, icm)],
    );
    if (paced) {
      const pcm = paced.get(CM)!.p50;
      printTable(`1b Interleaved, paced: ${PAUSE_MS} ms of idle before each call (ms; ${ITERATIONS} calls each)`, HEAD, [
        row(offload.name, paced.get(offload.name)!, pcm),
        row(CM, paced.get(CM)!, pcm),
      ]);
    }
    const bcm = b2b.get(CM)!.p50;
    printTable(
      `2 Back to back, every path: blocks of ${BLOCK} calls taking turns (ms; ${ITERATIONS} calls per path)`,
      [...HEAD, 'p50 / plain ssh'],
      [...b2b].map(([name, s]) => [...row(name, s, bcm), fmtRatio(s.p50 / b2b.get('ssh plain (new login each time)')!.p50)]),
    );
    process.stdout.write(`\ntargets (issue J.5): warm MCP offload_to p50 ≤ 1.0× ControlMaster interleaved, ≤ 2.0× back to back\n`);
    process.stdout.write(`  interleaved:           ${verdict(inter.get(offload.name)!.p50, icm, 1)}\n`);
    if (paced)
      process.stdout.write(`  interleaved, paced:    ${verdict(paced.get(offload.name)!.p50, paced.get(CM)!.p50, 1)} (the same target, between tool calls)\n`);
    process.stdout.write(`  back to back (blocks): ${verdict(b2b.get(offload.name)!.p50, bcm, 2)}\n`);

    const address = await h.temporalAddress();
    const codec = await measureCodec({
      stateDir: h.stateDir,
      env: h.env,
      address,
      namespace: h.temporalNamespace,
      taskId: interCalls[Math.floor(interCalls.length / 2)]!.taskId,
      iterations: CODEC_ITERATIONS,
    });
    printTable(
      `3 Payload codec (AES-256-GCM, in-process; median of ${CODEC_ITERATIONS} calls each) on the real payloads of one offload_to call`,
      ['payload (history event.attribute)', 'plain bytes', 'encode µs p50', 'decode µs p50'],
      codec.rows.map((r) => [r.where, r.bytes, r.encodeUs.toFixed(1), r.decodeUs.toFixed(1)]),
    );
    const perCallMs = codec.perCallUs / 1000;
    process.stdout.write(
      `codec per call (one encode + one decode of each of the ${codec.payloads} encrypted payloads): ${codec.perCallUs.toFixed(0)} µs` +
        ` = ${((perCallMs / inter.get(offload.name)!.p50) * 100).toFixed(1)}% of the interleaved p50; target < 1 ms: ${perCallMs < 1 ? 'MET' : 'NOT MET'}\n`,
    );

    await printBreakdown(address, h.temporalNamespace, interCalls);
    await printCpuCost(h.stateDir, () => mcpTrue('offload_to'), Math.min(ITERATIONS, 50));
  } finally {
    await cleanUp();
    await h.close();
  }
}

runBench('latency', main);
