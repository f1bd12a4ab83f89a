// bench/status: what a cluster_status call costs through the real MCP client (stdio server,
// embedded Temporal, 3 loopback sshd nodes + local). Warm calls are answered from the
// cluster monitor's last probe (one Query, cached 1 s by the server); refresh=true probes
// every node now (one round trip each, in parallel).
//   npm run build && node dist/bench/status.js [--warm 200] [--refresh 10] [--expired 10]
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { structured } from '../test/helpers/harness.js';
import { fmtMs, printTable, runBench, startBenchHarness, summarize, timeOnce, type Summary } from './common.js';

const { values: flags } = parseArgs({
  options: {
    warm: { type: 'string', default: '200' },
    refresh: { type: 'string', default: '10' },
    expired: { type: 'string', default: '10' },
  },
});
/** The server's ClusterStateReader cache age (src/client/clusterState.ts), plus a margin. */
const CACHE_EXPIRED_MS = 1100;

async function main(): Promise<void> {
  process.stderr.write('starting the loopback cluster, Temporal and the MCP server...\n');
  const h = await startBenchHarness({ nodes: 3 });
  try {
    const status = async (refresh: boolean) => {
      const st = structured<{ nodes: Record<string, { status: string }> }>(await h.mcp.callTool({ name: 'cluster_status', arguments: { refresh } }));
      if (Object.keys(st.nodes).length !== 4) throw new Error(`expected 4 nodes, got ${Object.keys(st.nodes).join(', ')}`);
    };
    const times = async (n: number, fn: () => Promise<unknown>, pauseMs = 0) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        if (pauseMs) await sleep(pauseMs);
        out.push(await timeOnce(fn));
      }
      return out;
    };

    await status(true); // the monitor has probed; the MCP client and server are warm
    for (let i = 0; i < 10; i++) await status(false);
    const warm = summarize(await times(Number(flags.warm), () => status(false)));
    const expired = summarize(await times(Number(flags.expired), () => status(false), CACHE_EXPIRED_MS));
    const refresh = summarize(await times(Number(flags.refresh), () => status(true)));

    const row = (name: string, s: Summary) => [name, s.n, fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.max)];
    printTable(
      'cluster_status through the MCP client (ms)',
      ['call', 'n', 'p50', 'p95', 'max'],
      [row('warm (server cache or one Query)', warm), row('warm, server cache expired (one Query)', expired), row('refresh=true (probe all 4 nodes)', refresh)],
    );
  } finally {
    await h.close();
  }
}

runBench('status', main);
