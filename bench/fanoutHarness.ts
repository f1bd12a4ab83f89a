// The fan-out benches' world: test/helpers/harness.ts startHarness with a cluster WITHOUT a
// `local` node (so every command goes over SSH, as with the peer tools), the benches' node-id
// prefix (users cf-bn1.., apart from the e2e tests' cf-n1..) and cleanup on Ctrl-C. CF_SERVE_NODE_ARGS adds
// node arguments to the `serve` process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
import { readFileSync } from 'node:fs';
import type { Harness } from '../test/helpers/harness.js';
import { startBenchHarness } from './common.js';

export type FanoutHarness = Harness;

export function startFanoutHarness(opts: { nodes: number; extraNodeYaml?: Record<string, Record<string, unknown>> }): Promise<Harness> {
  return startBenchHarness({
    nodes: opts.nodes,
    extraNodeYaml: opts.extraNodeYaml,
    includeLocal: false,
    serveNodeArgs: (process.env.CF_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean),
  });
}

/** VmHWM (peak resident set) and VmRSS of a process, in MiB, from /proc/<pid>/status. */
export function memoryMiB(pid: number): { peak: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peak: kib('VmHWM') / 1024, rss: kib('VmRSS') / 1024 };
}
