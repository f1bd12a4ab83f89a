// Where a fan-out's CPU goes, per command: serve (MCP + worker + SSH pool), the Temporal server,
// the node side (sshd and the shells it forks) and the rest; Linux /proc.
//   node dist/bench/cpuSplit.js [count=3000]   env: REPS (2), IDLE_MS (pause before each run)
import { readdirSync, readFileSync } from 'node:fs';
import { cpuMs } from './common.js';
import { startFanoutHarness } from './fanoutHarness.js';
import { structured } from '../test/helpers/harness.js';

const sysCpuMs = () => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]!) * 10;
};
const n = Number(process.argv[2] ?? 3000);
/** sshd processes of the node users: own CPU and their reaped children's (the shells). */
const sshdSplit = () => {
  let own = 0,
    kids = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!st.includes('(sshd')) continue;
      const f = st.split(') ')[1]!.split(' ');
      own += (Number(f[11]) + Number(f[12])) * 10;
      kids += (Number(f[13]) + Number(f[14])) * 10;
    } catch {
      /* gone */
    }
  }
  return { own, kids };
};
const h = await startFanoutHarness({ nodes: 3 });
try {
  const cmds = Array.from({ length: n }, () => 'true');
  await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands: cmds.slice(0, 300), wait_s: 600 } });
  for (let rep = 0; rep < Number(process.env.REPS ?? 2); rep++) {
    if (process.env.IDLE_MS) await new Promise((r) => setTimeout(r, Number(process.env.IDLE_MS)));
    const s0 = cpuMs(h.servePid),
      t0 = cpuMs(h.temporalPid()),
      a0 = sysCpuMs(),
      w0 = performance.now(),
      d0 = sshdSplit();
    const r = structured<{ state: string; summary: { succeeded: number }; duration_ms: number }>(
      await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands: cmds, wait_s: 600 } }, undefined, { timeout: 900_000 }),
    );
    const wall = performance.now() - w0;
    const d1 = sshdSplit();
    console.log(`sshd own ${((d1.own - d0.own) / n).toFixed(2)} ms/cmd, children of sshd (reaped) ${((d1.kids - d0.kids) / n).toFixed(2)} ms/cmd`);
    const serve = cpuMs(h.servePid) - s0,
      temporal = cpuMs(h.temporalPid()) - t0,
      all = sysCpuMs() - a0;
    console.log(
      `${n} × true: ${r.summary.succeeded} ok, ${((n / wall) * 1000).toFixed(0)}/s wall ${wall.toFixed(0)} ms (workflow ${r.duration_ms} ms); CPU ms/command: serve ${(serve / n).toFixed(2)}, temporal ${(temporal / n).toFixed(2)}, rest ${((all - serve - temporal) / n).toFixed(2)}, total ${(all / n).toFixed(2)}`,
    );
  }
} finally {
  await h.close();
}
