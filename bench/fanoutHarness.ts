// The fan-out bench's own starter, mirroring test/helpers/harness.ts startHarness but with
// what that one does not offer: a cluster WITHOUT a `local` node (so every command goes over
// SSH, as with the peer tools), its own node-id prefix (users cf-fan1.., apart from the e2e
// tests' cf-n1..), and the pid of the `serve` process (the in-process worker's memory).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { stopEmbeddedServer } from '../src/temporal/embedded.js';
import { clusterDown, clusterUp, type LocalCluster } from '../src/testcluster/localCluster.js';
import { CLI } from '../test/helpers/harness.js';

export interface FanoutHarnessOptions {
  nodes: number;
  /** cluster.yaml fields per node id (e.g. max_parallel). */
  extraNodeYaml?: Record<string, Record<string, unknown>>;
  namePrefix?: string;
}

export interface FanoutHarness {
  dir: string;
  stateDir: string;
  cluster: LocalCluster;
  env: Record<string, string>;
  mcp: Client;
  /** The `serve` process: MCP server + Temporal client + the worker (workflows and SSH pool). */
  servePid: number;
  serverStderr: () => string;
  cli(args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  /** pid of the embedded Temporal server (its own process). */
  temporalPid(): number;
  close(): Promise<void>;
}

export async function startFanoutHarness(opts: FanoutHarnessOptions): Promise<FanoutHarness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-fanout-'));
  chmodSync(dir, 0o711); // node users (as root, one per node) must reach their files below
  const stateDir = path.join(dir, 'state');
  const cluster = await clusterUp({
    dir: path.join(dir, 'cluster'), nodes: opts.nodes, includeLocal: false, namePrefix: opts.namePrefix ?? 'fan', extraNodeYaml: opts.extraNodeYaml,
  });
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    CLUSTERFLOW_HOME: stateDir,
    CLUSTER_CONFIG: cluster.configPath,
    CLUSTERFLOW_TEMPORAL_PORT: '0',
    CLUSTERFLOW_TEMPORAL_UI_PORT: '0',
    CLUSTERFLOW_LOG_LEVEL: 'warn',
  };
  delete env.TEMPORAL_ADDRESS;
  let stderr = '';
  const mcp = new Client({ name: 'clusterflow-bench-fanout', version: '1.0.0' });
  const transport = new StdioClientTransport({ command: process.execPath, args: [...(process.env.CF_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean), CLI, 'serve'], env, stderr: 'pipe' });
  transport.stderr?.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-20_000); });
  try {
    await mcp.connect(transport);
  } catch (err) {
    await clusterDown({ dir: cluster.dir }).catch(() => undefined);
    throw new Error(`serve did not start: ${(err as Error).message}\n${stderr}`);
  }
  const servePid = transport.pid ?? 0;
  const h: FanoutHarness = {
    dir, stateDir, cluster, env, mcp, servePid,
    serverStderr: () => stderr,
    cli: (args, timeoutMs = 600_000) => new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout: out, stderr: err }); });
    }),
    temporalPid: () => (JSON.parse(readFileSync(path.join(stateDir, 'temporal', 'server.json'), 'utf8')) as { pid: number }).pid,
    async close() {
      await mcp.close().catch(() => undefined);
      await stopEmbeddedServer(stateDir).catch(() => undefined);
      await clusterDown({ dir: cluster.dir, removeUsers: false }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // The harness owns sshds and a Temporal server: close them on Ctrl-C too.
  const onSignal = () => { void h.close().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return h;
}

/** VmHWM (peak resident set) and VmRSS of a process, in MiB, from /proc/<pid>/status. */
export function memoryMiB(pid: number): { peak: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peak: kib('VmHWM') / 1024, rss: kib('VmRSS') / 1024 };
}
