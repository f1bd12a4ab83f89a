// bench/fanout: fan-out throughput (commands/s) of clusterflow's parallel_execute against
// pdsh, GNU parallel (--sshlogin, with and without ControlMaster) and xargs -P + ssh with
// ControlMaster, all on the SAME 3 loopback sshd nodes (no local node: every command goes
// over SSH), in one run; then 10,000 × `true` through parallel_execute with the worker's
// peak memory.
//   bench/setup.sh && npm run build && node dist/bench/fanout.js [--quick] [--no-big]
//     [--reps 3] [--max-parallel N] [--node-max-parallel N] [--only-clusterflow]
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { structured } from '../test/helpers/harness.js';
import { fmtRatio, printTable } from './common.js';
import { memoryMiB, startFanoutHarness, type FanoutHarness } from './fanoutHarness.js';
import { closeMasters, gnuParallelCase, pdshCase, warmMasters, writeSshConfig, xargsSshCase, type PeerCase } from './fanoutPeers.js';
import { cleanNodeRuns, medianMs, runBig } from './fanoutSteps.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    big: { type: 'boolean' },
    'no-big': { type: 'boolean', default: false },
    reps: { type: 'string' },
    'max-parallel': { type: 'string' },
    'node-max-parallel': { type: 'string' },
    'only-clusterflow': { type: 'boolean', default: false },
    'peer-per-host': { type: 'string' },
    count: { type: 'string', default: '300' },
    'big-count': { type: 'string', default: '10000' },
  },
});
const REPS = Number(flags.reps ?? (flags.quick ? 1 : 3));
const BIG = flags.big ?? (!flags.quick && !flags['no-big']);
const COUNT = Number(flags.count);
const BIG_COUNT = Number(flags['big-count']);
const MAX_PARALLEL = flags['max-parallel'] ? Number(flags['max-parallel']) : undefined;
const NODE_MAX_PARALLEL = flags['node-max-parallel'] ? Number(flags['node-max-parallel']) : undefined;
const NODES = 3;
for (const [k, v] of Object.entries({ reps: REPS, count: COUNT, 'big-count': BIG_COUNT, 'max-parallel': MAX_PARALLEL ?? 1, 'node-max-parallel': NODE_MAX_PARALLEL ?? 1 })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} needs a positive integer`);
}
// pdsh runs one command on every host: the count must split into whole rounds.
if (COUNT % NODES !== 0) throw new Error(`--count must be a multiple of ${NODES} (pdsh runs a command once per node per round)`);
/**
 * Peers run as many commands at once per host as clusterflow's lanes on a node:
 * min(share of max_parallel (default 64), node max_parallel (default 8)), i.e. 8/host, 24 in all.
 */
const PER_HOST = Number(flags['peer-per-host'] ?? Math.min(Math.max(1, Math.round((MAX_PARALLEL ?? 64) / NODES)), NODE_MAX_PARALLEL ?? 8));
const IN_FLIGHT = PER_HOST * NODES;
/** Commands in each unmeasured warm-up run (a multiple of the node count, for pdsh). */
const WARM_COUNT = NODES * 20;
const WORKLOADS = [{ key: 'true', command: 'true' }, { key: 'sleep', command: 'sleep 0.2' }] as const;

/** 1/5/15-minute load: the host may be shared, and every tool here is CPU-bound on a small one. */
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

interface ParallelOut { task_id: string; state: string; summary?: { total: number; succeeded: number; failed: number }; duration_ms?: number }

async function mcpParallel(h: FanoutHarness, commands: string[], waitS = 600): Promise<ParallelOut> {
  const args: Record<string, unknown> = { commands, wait_s: waitS };
  if (MAX_PARALLEL) args.max_parallel = MAX_PARALLEL;
  return structured<ParallelOut>(await h.mcp.callTool({ name: 'parallel_execute', arguments: args }, undefined, { timeout: (waitS + 60) * 1000 }));
}

function mustAllSucceed(what: string, r: ParallelOut, n: number): void {
  if (r.state !== 'completed' || r.summary?.succeeded !== n) {
    throw new Error(`${what}: expected ${n} succeeded, got state=${r.state} summary=${JSON.stringify(r.summary)}`);
  }
}

function clusterflowCases(h: FanoutHarness): PeerCase[] {
  const mpFlag = MAX_PARALLEL ? ['--max-parallel', String(MAX_PARALLEL)] : [];
  return [
    {
      name: 'clusterflow MCP parallel_execute',
      run: async (commands) => {
        const t0 = performance.now();
        const r = await mcpParallel(h, commands);
        const ms = performance.now() - t0;
        mustAllSucceed('parallel_execute', r, commands.length);
        return ms;
      },
    },
    {
      name: 'clusterflow CLI parallel --file (incl. process start)',
      run: async (commands) => {
        const file = path.join(h.dir, 'commands.txt');
        writeFileSync(file, commands.join('\n') + '\n');
        const t0 = performance.now();
        const r = await h.cli(['parallel', '--file', file, '--json', ...mpFlag], { timeoutMs: 600_000 });
        const ms = performance.now() - t0;
        if (r.code !== 0) throw new Error(`cli parallel exited ${r.code}: ${r.stderr.slice(-2000)}`);
        let out: ParallelOut;
        try {
          out = JSON.parse(r.stdout) as ParallelOut;
        } catch {
          throw new Error(`cli parallel --json printed something that is not JSON:\n${r.stdout.slice(0, 2000)}`);
        }
        mustAllSucceed('cli parallel', out, commands.length);
        return ms;
      },
    },
  ];
}

async function main(): Promise<void> {
  const load0 = loadavg();
  process.stderr.write(`fanout: starting ${NODES} loopback sshd nodes (no local node), Temporal and the MCP server...\n`);
  const extra = NODE_MAX_PARALLEL ? Object.fromEntries(Array.from({ length: NODES }, (_, i) => [`fan${i + 1}`, { max_parallel: NODE_MAX_PARALLEL }])) : undefined;
  const h = await startFanoutHarness({ nodes: NODES, extraNodeYaml: extra });
  const peerEnv = { cluster: h.cluster, dir: h.dir };
  const plainCfg = writeSshConfig(peerEnv, false);
  const cmCfg = writeSshConfig(peerEnv, true);
  try {
    // Warm: connections in the pool, workflow code cached, masters up.
    mustAllSucceed('warm-up', await mcpParallel(h, Array.from({ length: 30 }, () => 'true')), 30);
    await warmMasters(peerEnv, cmCfg);
    const perHost = PER_HOST;
    const cases: PeerCase[] = [
      ...clusterflowCases(h),
      ...(flags['only-clusterflow'] ? [] : [
        pdshCase(peerEnv, plainCfg, 1, `pdsh -R ssh, ${COUNT / NODES} rounds one after another`),
        pdshCase(peerEnv, plainCfg, perHost, `pdsh -R ssh, ${perHost} rounds at once`),
        pdshCase(peerEnv, cmCfg, perHost, `pdsh -R ssh + ControlMaster, ${perHost} rounds at once`),
        gnuParallelCase(peerEnv, plainCfg, perHost, `GNU parallel -S ${perHost}/host`),
        gnuParallelCase(peerEnv, cmCfg, perHost, `GNU parallel -S ${perHost}/host + ControlMaster`),
        xargsSshCase(peerEnv, cmCfg, IN_FLIGHT, `xargs -P ${IN_FLIGHT} ssh + ControlMaster`),
      ]),
    ];
    const XARGS_CM = cases.find((c) => c.name.startsWith('xargs'))?.name;
    // Rounds interleave the cases, so background load (the monitor's probes) hits all alike.
    const samples = new Map<string, number[]>(cases.flatMap((c) => WORKLOADS.map((w) => [`${c.name}|${w.key}`, [] as number[]])));
    // Every measured run follows an unmeasured warm-up run of the same tool (WARM_COUNT commands),
    // and the order rotates each rep: this host's CPUs run a burst 25-40% slower after a few idle
    // seconds (measured), which would otherwise hit whichever tool follows a sleep workload.
    for (let rep = 0; rep < REPS; rep++) {
      for (const w of WORKLOADS) {
        const commands = Array.from({ length: COUNT }, () => w.command);
        for (const c of [...cases.slice(rep % cases.length), ...cases.slice(0, rep % cases.length)]) {
          await c.run(commands.slice(0, WARM_COUNT));
          process.stderr.write(`fanout: rep ${rep + 1}/${REPS} ${COUNT} × ${w.command}: ${c.name}...`);
          const ms = await c.run(commands);
          process.stderr.write(` ${(COUNT / (ms / 1000)).toFixed(1)} cmds/s\n`);
          samples.get(`${c.name}|${w.key}`)!.push(ms);
        }
      }
    }
    const rate = (name: string, key: string) => COUNT / (medianMs(samples.get(`${name}|${key}`)!) / 1000);
    const cf = cases[0]!.name;
    printTable(
      `fan-out throughput, ${NODES} loopback nodes, median of ${REPS} (cmds/s; ratio = clusterflow MCP ÷ tool)`,
      ['tool', `${COUNT}× true cmds/s`, `${COUNT}× sleep 0.2 cmds/s`, 'clusterflow ratio (true)', 'clusterflow ratio (sleep)'],
      cases.map((c) => [
        c.name, rate(c.name, 'true').toFixed(1), rate(c.name, 'sleep').toFixed(1),
        c.name === cf ? '-' : fmtRatio(rate(cf, 'true') / rate(c.name, 'true')),
        c.name === cf ? '-' : fmtRatio(rate(cf, 'sleep') / rate(c.name, 'sleep')),
      ]),
    );
    const settings = `max_parallel=${MAX_PARALLEL ?? 'default (64)'}, node max_parallel=${NODE_MAX_PARALLEL ?? 'default (8)'}`;
    process.stdout.write(`settings: ${settings}; peers: ${IN_FLIGHT} in flight (${perHost}/host); ${cpus().length} CPUs, load average ${load0} at start, ${loadavg()} now\n`);
    if (XARGS_CM) {
      const ratio = rate(cf, 'true') / rate(XARGS_CM, 'true');
      process.stdout.write(`target (clusterflow ${COUNT}× true ≥ 2× xargs+ControlMaster): ${fmtRatio(ratio)} → ${ratio >= 2 ? 'MET' : 'NOT MET'}\n`);
    }
    await closeMasters(peerEnv, cmCfg);

    if (BIG) {
      const big = await runBig(h, BIG_COUNT, MAX_PARALLEL);
      printTable(`${BIG_COUNT} × true through parallel_execute`, ['measure', 'value'], [
        ['succeeded (summary)', `${big.succeeded} of ${big.total}`],
        ['wall time (submit → result)', `${(big.ms / 1000).toFixed(1)} s`],
        ['throughput', `${(BIG_COUNT / (big.ms / 1000)).toFixed(1)} cmds/s`],
        ['workflow duration_ms', String(big.durationMs)],
        ['serve (worker) peak RSS VmHWM before → after', `${big.before.peak.toFixed(0)} → ${big.after.peak.toFixed(0)} MiB`],
        ['serve (worker) RSS after', `${big.after.rss.toFixed(0)} MiB`],
        ['Temporal server peak RSS after', `${big.temporalAfter.peak.toFixed(0)} MiB`],
      ]);
      if (big.succeeded !== BIG_COUNT) throw new Error(`10k run: summary says ${big.succeeded} succeeded, expected ${BIG_COUNT}`);
      process.stdout.write(`serve peak RSS now ${memoryMiB(h.servePid).peak.toFixed(0)} MiB\n`);
    }
  } finally {
    await cleanNodeRuns(h).catch(() => undefined);
    await h.close();
  }
}

main().catch((err) => {
  process.stderr.write(`fanout: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
