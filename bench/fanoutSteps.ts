// Pieces of bench/fanout that are not the comparison table: the big run (10,000 commands
// through parallel_execute, polled with task_status, with the worker's peak memory), and
// cleanup of the run files the commands leave in the node users' homes.
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { structured } from '../test/helpers/harness.js';
import { BENCH_PREFIX } from './common.js';
import { memoryMiB, type FanoutHarness } from './fanoutHarness.js';

const run = promisify(execFile);

export function medianMs(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface BigRun {
  total: number;
  succeeded: number;
  ms: number;
  durationMs: number;
  before: { peak: number; rss: number };
  after: { peak: number; rss: number };
  temporalAfter: { peak: number; rss: number };
}

interface Status {
  task_id: string;
  state: string;
  summary?: { total: number; succeeded: number; failed: number; cancelled: number };
  duration_ms?: number;
  progress?: { done: number; total: number };
}

/** `count` × true through parallel_execute: returns after a short wait_s, then polls task_status as an agent would. */
export async function runBig(h: FanoutHarness, count: number, maxParallel?: number): Promise<BigRun> {
  const before = memoryMiB(h.servePid);
  process.stderr.write(`fanout: ${count} × true through parallel_execute (serve pid ${h.servePid}, VmHWM ${before.peak.toFixed(0)} MiB)...\n`);
  const args: Record<string, unknown> = { commands: Array.from({ length: count }, () => 'true'), wait_s: 5 };
  if (maxParallel) args.max_parallel = maxParallel;
  const t0 = performance.now();
  let s = structured<Status>(await h.mcp.callTool({ name: 'parallel_execute', arguments: args }, undefined, { timeout: 120_000 }));
  let lastLog = 0;
  while (s.state === 'running') {
    await new Promise((r) => setTimeout(r, 500));
    s = structured<Status>(await h.mcp.callTool({ name: 'task_status', arguments: { task_id: s.task_id } }, undefined, { timeout: 120_000 }));
    if (s.progress && performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      process.stderr.write(`fanout:   ${s.progress.done}/${s.progress.total} done, serve RSS ${memoryMiB(h.servePid).rss.toFixed(0)} MiB\n`);
    }
  }
  const ms = performance.now() - t0;
  return {
    total: s.summary?.total ?? 0,
    succeeded: s.summary?.succeeded ?? 0,
    ms,
    durationMs: s.duration_ms ?? NaN,
    before,
    after: memoryMiB(h.servePid),
    temporalAfter: embeddedTemporalMemory(h),
  };
}

/** Each command leaves a few files under the node user's ~/.cache/clusterflow/runs: drop them (users cf-bn*, the benches' alone). */
export async function cleanNodeRuns(h: FanoutHarness): Promise<void> {
  for (const node of h.cluster.nodes) {
    if (!node.user.startsWith(`cf-${BENCH_PREFIX}`)) continue;
    const { stdout } = await run('getent', ['passwd', node.user]);
    const home = stdout.trim().split(':')[5];
    if (home) await rm(path.join(home, '.cache', 'clusterflow', 'runs'), { recursive: true, force: true });
  }
}

/** The embedded server's memory; an external server (CLUSTERFLOW_TEST_TEMPORAL_ADDRESS) is not this bench's to measure. */
function embeddedTemporalMemory(h: FanoutHarness): { peak: number; rss: number } {
  try {
    return memoryMiB(h.temporalPid());
  } catch {
    return { peak: NaN, rss: NaN };
  }
}
