// Shared bench helpers: timing, percentiles, table printing, and the e2e harness (a loopback
// sshd cluster + the real MCP server over stdio with its embedded Temporal).
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import Table from 'cli-table3';
import { startHarness, type Harness, type HarnessOptions } from '../test/helpers/harness.js';

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0] ?? NaN,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
    max: s[s.length - 1] ?? NaN,
  };
}

/** Wall-clock time in ms with sub-ms resolution, comparable with Temporal event timestamps. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/** Milliseconds one call of `fn` takes. */
export async function timeOnce(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export interface Case {
  name: string;
  run: () => Promise<unknown>;
}

/**
 * Warm every case up, then run rounds until each case has `iterations` samples; a round runs
 * each case `block` times back to back (as an agent calling in a loop would), so background
 * load (other processes, the cluster monitor's probes) hits every case alike, and anything
 * that only shows under back-to-back calls (server-side rate limits) still shows. With pauseMs,
 * every call starts that long after the one before ended.
 */
export async function measureRounds(
  cases: readonly Case[],
  opts: { iterations: number; warmup: number; block: number; pauseMs?: number },
): Promise<Map<string, number[]>> {
  for (const c of cases) for (let i = 0; i < opts.warmup; i++) await c.run();
  const samples = new Map(cases.map((c) => [c.name, [] as number[]]));
  const block = Math.max(1, opts.block);
  for (let done = 0; done < opts.iterations; done += block) {
    for (const c of cases) {
      for (let i = 0; i < Math.min(block, opts.iterations - done); i++) {
        // A pause lets the system go idle between calls, as between an agent's tool calls.
        if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
        samples.get(c.name)!.push(await timeOnce(c.run));
      }
    }
  }
  return samples;
}

export const fmtMs = (ms: number): string => (Number.isFinite(ms) ? (ms < 10 ? ms.toFixed(2) : ms.toFixed(1)) : '-');
export const fmtRatio = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '-');

export function printTable(title: string, head: string[], rows: Array<Array<string | number>>): void {
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) table.push(r.map(String));
  process.stdout.write(`\n${title}\n${table.toString()}\n`);
}

/** Node ids and users of every bench's cluster: bn1, bn2, ... (users cf-bn1, ...), apart from the e2e tests' (n1, ...). */
export const BENCH_PREFIX = 'bn';

const interruptWork: Array<() => Promise<void>> = [];
let interrupted = false;

/**
 * Cleanup that must also happen on Ctrl-C / SIGTERM. Returns it made idempotent: call that in
 * `finally` too; whichever comes first does the work, the other waits for it. On a signal every
 * registered cleanup runs, newest first (the harness, registered first, closes last), then the
 * process exits 130.
 */
export function cleanupOnInterrupt(fn: () => unknown): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () =>
    (done ??= (async () => {
      await fn();
    })());
  interruptWork.push(once);
  if (interruptWork.length === 1) {
    const handler = async () => {
      if (interrupted) return;
      interrupted = true;
      process.stderr.write('\ninterrupted: cleaning up...\n');
      for (const work of [...interruptWork].reverse()) {
        try {
          await work();
        } catch {
          /* go on with the rest */
        }
      }
      process.exit(130);
    };
    process.on('SIGINT', () => void handler());
    process.on('SIGTERM', () => void handler());
  }
  return once;
}

/**
 * Runs a bench's main: an error exits 1 with the stack, except while a Ctrl-C cleanup runs
 * (the calls it cut short fail then; the cleanup exits 130 when done).
 */
export function runBench(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (interrupted) return;
    process.stderr.write(`bench/${name}: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

/** The e2e harness with the benches' node prefix, closed on Ctrl-C too (it owns sshds and a Temporal server); close() is idempotent. */
export async function startBenchHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const h = await startHarness({ namePrefix: BENCH_PREFIX, ...opts, closeOnSignal: false });
  h.close = cleanupOnInterrupt(h.close.bind(h));
  return h;
}

/** CPU time (user + system, ms) a process has used so far: Linux /proc (USER_HZ 100); NaN elsewhere. */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Pids (Linux) whose environment holds `entry` (e.g. "CLUSTERFLOW_HOME=/tmp/x") and whose command line holds `arg`. */
export function pidsWith(entry: string, arg: string): number[] {
  const out: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry)) continue;
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(arg)) out.push(Number(pid));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}
