// Two builds' single-command cost, alternately: per round, each build starts its own world
// (harness, one node, serve), warms up, then times `--calls` back-to-back offload_to "true"
// calls and counts serve's and Temporal's CPU (/proc). CPU per call is much less sensitive to a
// noisy host than wall time. Not a pass/fail test.
//   node dist/bench/cpuAB.js /tmp/base [--calls 200] [--rounds 3]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { Harness } from '../test/helpers/harness.js';
import { summarize, timeOnce } from './common.js';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { calls: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } },
});
const other = positionals[0];
if (!other) throw new Error('usage: node dist/bench/cpuAB.js <root of the other build> [--calls N] [--rounds N]');
const calls = Number(flags.calls);

interface Common {
  startBenchHarness: (o: { nodes: number }) => Promise<Harness>;
  cpuMs: (pid: number) => number;
}

async function round(root: string): Promise<{ serve: number; temporal: number; p50: number }> {
  const c = (await import(path.join(root, 'dist', 'bench', 'common.js'))) as Common;
  const h = await c.startBenchHarness({ nodes: 1 });
  try {
    const node = h.cluster.nodes[0]!.id;
    const call = () => h.mcp.callTool({ name: 'offload_to', arguments: { node_id: node, command: 'true' } });
    for (let i = 0; i < 30; i++) await call();
    const temporalPid = h.temporalPid();
    const cpu = () => ({ serve: c.cpuMs(h.servePid), temporal: c.cpuMs(temporalPid) });
    const before = cpu();
    const walls: number[] = [];
    for (let i = 0; i < calls; i++) walls.push(await timeOnce(call));
    await new Promise((r) => setTimeout(r, 500)); // the time is the point: the workflows' last tasks, counted too
    const after = cpu();
    return { serve: (after.serve - before.serve) / calls, temporal: (after.temporal - before.temporal) / calls, p50: summarize(walls).p50 };
  } finally {
    await h.close();
  }
}

const fmt = (r: { serve: number; temporal: number; p50: number }) =>
  `serve ${r.serve.toFixed(1)} ms CPU/call, Temporal ${r.temporal.toFixed(1)}, p50 ${r.p50.toFixed(1)} ms`;
for (let i = 1; i <= Number(flags.rounds); i++) {
  console.log(`round ${i} this build  ${fmt(await round(PACKAGE_ROOT))}`);
  console.log(`round ${i} other       ${fmt(await round(path.resolve(other)))}`);
}
process.exit(0);
