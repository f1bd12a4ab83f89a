// Two builds' fan-outs, alternately, on the same host: this checkout's and another's (a git
// worktree of an earlier commit, built), each with its own world (harness, cluster, serve).
// Rounds alternate A, B, A, B... so both see the same drift of a noisy machine; compare the
// rounds pair by pair. Not a pass/fail test.
//   git worktree add /tmp/base <commit> && (cd /tmp/base && ln -s $PWD/node_modules && npm run build)
//   node dist/bench/fanoutAB.js /tmp/base [--count 300] [--runs 15] [--rounds 3] [--command true]
// (--command 'sleep 0.05': commands that wait rather than burn this host's CPU, as on nodes that
// are machines of their own, where a node's idle lanes are lost throughput.)
// With --count ≥ 1,000 each round is one run of that size (after a warm-up), else the median of --runs.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { Harness } from '../test/helpers/harness.js';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '300' },
    runs: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    command: { type: 'string', default: 'true' },
  },
});
const other = positionals[0];
if (!other) throw new Error('usage: node dist/bench/fanoutAB.js <root of the other build> [--count N] [--runs N] [--rounds N]');
const count = Number(flags.count);
const runs = count >= 1000 ? 1 : Number(flags.runs);

/** One round on one build: its own harness (its dist's serve), a warm-up, then the measured runs (cmds/s). */
async function round(root: string): Promise<number[]> {
  const { startFanoutHarness } = (await import(path.join(root, 'dist', 'bench', 'fanoutHarness.js'))) as {
    startFanoutHarness: (o: { nodes: number }) => Promise<Harness>;
  };
  const h = await startFanoutHarness({ nodes: 3 });
  const fanout = (n: number) =>
    h.mcp.callTool({ name: 'parallel_execute', arguments: { commands: Array<string>(n).fill(n === count ? flags.command : 'true'), wait_s: 600 } }, undefined, {
      timeout: 660_000,
    });
  try {
    for (let i = 0; i < 5; i++) await fanout(60);
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      const t = performance.now();
      await fanout(count);
      rates.push(count / ((performance.now() - t) / 1000));
    }
    return rates.sort((a, b) => a - b);
  } finally {
    await h.close();
  }
}

const builds: Array<[string, string]> = [
  ['this build', PACKAGE_ROOT],
  [`other (${other})`, path.resolve(other)],
];
console.log(`${count} × ${flags.command} over 3 loopback nodes, ${runs === 1 ? 'one run' : `median of ${runs}`} per round, builds alternating`);
for (let r = 1; r <= Number(flags.rounds); r++) {
  const medians: number[] = [];
  for (const [name, root] of builds) {
    const rates = await round(root);
    const median = rates[Math.floor(rates.length / 2)]!;
    medians.push(median);
    console.log(
      `round ${r} ${name.padEnd(12)} ${median.toFixed(0)} cmds/s${rates.length > 1 ? ` (p25 ${rates[Math.floor(rates.length / 4)]!.toFixed(0)}, p75 ${rates[Math.floor((rates.length * 3) / 4)]!.toFixed(0)})` : ''}`,
    );
  }
  console.log(`round ${r} this ÷ other: ${(medians[0]! / medians[1]!).toFixed(2)}×`);
}
