// End-to-end harness: a private state dir, a loopback sshd cluster, the real MCP server over
// stdio (which starts its own embedded Temporal on free ports) and the real SDK client.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LAUNCHER, launcherEnv, PACKAGE_ROOT, temporalCliPath } from '../../src/paths.js';
import { liveWorkers } from '../../src/runtime/workerRegistry.js';
import { stopEmbeddedServer } from '../../src/temporal/embedded.js';
import { clusterDown, clusterUp, type LocalCluster } from '../../src/testcluster/localCluster.js';

export const CLI = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface HarnessOptions {
  nodes?: number;
  extraNodeYaml?: Record<string, Record<string, unknown>>;
  env?: Record<string, string>;
  /** Start the MCP server (default true). */
  mcp?: boolean;
  /** Add the `local` node (default true; the fan-out bench leaves it out so every command uses SSH). */
  includeLocal?: boolean;
  /** Node ids and users: <prefix>1.. (default n: n1, cf-n1); benches use their own. */
  namePrefix?: string;
  /** Ids of the sshd nodes instead of <prefix>1.. (users stay cf-<prefix>1..). */
  nodeIds?: string[];
  /** Id of the node on this machine (default "local"), and whether it is found by hostname instead of `local: true`. */
  localId?: string;
  localDetected?: boolean;
  /** Extra arguments of `serve` (e.g. --no-hub). */
  serveArgs?: string[];
  /** Extra node arguments for the `serve` process (e.g. --cpu-prof; given as NODE_OPTIONS). */
  serveNodeArgs?: string[];
  /** Stop the cluster and Temporal on Ctrl-C / SIGTERM too (benches). */
  closeOnSignal?: boolean;
  /** Create the state dir (and its temporal/ dir) with this mode before serve starts, as a user's `mkdir -p` would. */
  preCreateStateDir?: number;
  /** Directories the nodes must not see (as root: an empty tmpfs over each, in each sshd's own mount namespace). */
  hide?: string[];
}

export interface Harness {
  dir: string;
  stateDir: string;
  cluster: LocalCluster;
  env: Record<string, string>;
  mcp: Client;
  /** The `serve` process: MCP server + Temporal client + the worker (workflows and SSH pool). */
  servePid: number;
  serverStderr: () => string;
  /** The real CLI in this harness's env (plus `env`, which may override any of it). */
  cli(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The `temporal` CLI as the owner: payloads decoded through serve's codec endpoint. */
  temporal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The `temporal` CLI without the codec: what any other local account sees. */
  temporalRaw(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  temporalAddress(): Promise<string>;
  /** The namespace tasks run in (the external server's, else `default`). */
  temporalNamespace: string;
  /** pid of the embedded Temporal server (its own process). */
  temporalPid(): number;
  close(): Promise<void>;
}

/**
 * CLUSTERFLOW_TEST_TEMPORAL_ADDRESS (+ _NAMESPACE, and CLUSTERFLOW_TEST_CODEC_KEY shared by every
 * test file, as hosts of one deployment share theirs): the tests run against that server, the
 * production one of scripts/temporal-prod.sh, instead of an embedded dev server per test file.
 */
const external = process.env.CLUSTERFLOW_TEST_TEMPORAL_ADDRESS
  ? {
      address: process.env.CLUSTERFLOW_TEST_TEMPORAL_ADDRESS,
      namespace: process.env.CLUSTERFLOW_TEST_TEMPORAL_NAMESPACE || 'default',
      codecKey: process.env.CLUSTERFLOW_TEST_CODEC_KEY,
    }
  : undefined;

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  // What an earlier file left running there (one that was killed, not closed) would otherwise
  // meet this file's workers: the same queue and monitor names, another cluster's ports.
  if (external) await terminateRunning();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-e2e-'));
  chmodSync(dir, 0o711); // node users (as root, one per node) must reach their files below
  const stateDir = path.join(dir, 'state');
  if (opts.preCreateStateDir !== undefined) {
    for (const d of [stateDir, path.join(stateDir, 'temporal')]) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, opts.preCreateStateDir);
    }
  }
  const cluster = await clusterUp({
    dir: path.join(dir, 'cluster'),
    nodes: opts.nodes ?? 3,
    extraNodeYaml: opts.extraNodeYaml,
    ...(opts.includeLocal === false ? { includeLocal: false } : {}),
    ...(opts.namePrefix ? { namePrefix: opts.namePrefix } : {}),
    ...(opts.hide ? { hide: opts.hide } : {}),
    ...(opts.nodeIds ? { nodeIds: opts.nodeIds } : {}),
    ...(opts.localId ? { localId: opts.localId } : {}),
    ...(opts.localDetected ? { localDetected: true } : {}),
  });
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    CLUSTERFLOW_HOME: stateDir,
    CLUSTER_CONFIG: cluster.configPath,
    CLUSTERFLOW_TEMPORAL_PORT: '0',
    CLUSTERFLOW_TEMPORAL_UI_PORT: '0',
    CLUSTERFLOW_CODEC_PORT: '0',
    CLUSTERFLOW_LOG_LEVEL: process.env.CLUSTERFLOW_TEST_LOG_LEVEL ?? 'warn',
    ...(external
      ? {
          TEMPORAL_ADDRESS: external.address,
          TEMPORAL_NAMESPACE: external.namespace,
          ...(external.codecKey ? { CLUSTERFLOW_CODEC_KEY: external.codecKey } : {}),
        }
      : {}),
    ...opts.env,
  };
  if (!external) delete env.TEMPORAL_ADDRESS;
  let stderr = '';
  let servePid = 0;
  const mcp = new Client({ name: 'clusterflow-e2e', version: '1.0.0' });
  if (opts.mcp !== false) {
    // As users start it: bin/cluster-router gives serve its process settings (with this test's node).
    const nodeOptions = [env.NODE_OPTIONS, ...(opts.serveNodeArgs ?? [])].filter(Boolean).join(' ');
    const transport = new StdioClientTransport({
      command: LAUNCHER,
      args: ['serve', ...(opts.serveArgs ?? [])],
      env: { ...launcherEnv(env), ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) } as Record<string, string>,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-200_000);
    });
    try {
      await mcp.connect(transport);
    } catch (err) {
      await clusterDown({ dir: cluster.dir, removeUsers: false }).catch(() => undefined);
      throw new Error(`serve did not start: ${(err as Error).message}\n${stderr}`, { cause: err });
    }
    servePid = transport.pid ?? 0;
  }
  const run = (cmd: string, args: string[], timeoutMs = 120_000, extraEnv?: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      // From /tmp: the CLI's default cwd is synced to the node otherwise (the test's own dir holds the state dir).
      const child = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/tmp' });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
      });
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(t);
        resolve({ code: code ?? -1, stdout: out, stderr: err });
      });
    });
  const h: Harness = {
    dir,
    stateDir,
    cluster,
    env,
    mcp,
    servePid,
    serverStderr: () => stderr,
    temporalNamespace: external?.namespace ?? 'default',
    cli: (args, o) => run(process.execPath, [CLI, ...args], o?.timeoutMs, o?.env),
    async temporalAddress() {
      if (external) return external.address;
      const { readFile } = await import('node:fs/promises');
      const st = JSON.parse(await readFile(path.join(stateDir, 'temporal', 'server.json'), 'utf8')) as { port: number };
      return `127.0.0.1:${st.port}`;
    },
    async temporal(args) {
      const codecPort = external
        ? Number(readFileSync(path.join(stateDir, 'codec-port'), 'utf8'))
        : (JSON.parse(readFileSync(path.join(stateDir, 'temporal', 'server.json'), 'utf8')) as { codecPort: number }).codecPort;
      const token = readFileSync(path.join(stateDir, 'ui-token'), 'utf8').trim();
      return run(temporalCliPath(), [
        ...args,
        ...serverArgs(await h.temporalAddress()),
        '--codec-endpoint',
        `http://127.0.0.1:${codecPort}/codec`,
        '--codec-auth',
        `Bearer ${token}`,
      ]);
    },
    async temporalRaw(args) {
      return run(temporalCliPath(), [...args, ...serverArgs(await h.temporalAddress())]);
    },
    temporalPid: () => {
      if (external) throw new Error('the tests run against an external Temporal server: no embedded server pid');
      return (JSON.parse(readFileSync(path.join(stateDir, 'temporal', 'server.json'), 'utf8')) as { pid: number }).pid;
    },
    async close() {
      // h.mcp, not the first client: a test may have replaced it (server restart).
      await h.mcp.close().catch(() => undefined);
      // Workers of this state dir (background ones started by CLI calls included).
      for (const w of liveWorkers(stateDir)) {
        try {
          process.kill(w.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      if (external) await terminateRunning();
      else await stopEmbeddedServer(stateDir).catch(() => undefined);
      await clusterDown({ dir: cluster.dir, removeUsers: false }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.closeOnSignal) {
    const onSignal = () => {
      void h.close().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return h;
}

const serverArgs = (address: string): string[] => ['--address', address, ...(external ? ['--namespace', external.namespace] : [])];

/**
 * A shared server outlives the test file: what it left running (a cancelled fan-out's sleep, the
 * monitor of its cluster) would be picked up by the next file's workers, for nodes of the same
 * names on another cluster. Terminated here, one by one (a batch terminate would still run).
 */
async function terminateRunning(): Promise<void> {
  const temporal = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile(temporalCliPath(), [...args, ...serverArgs(external!.address)], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
    });
  const list = await temporal(['workflow', 'list', '--query', 'ExecutionStatus="Running"', '--output', 'json', '--limit', '1000']);
  const ids = list.trim() ? (JSON.parse(list) as Array<{ execution: { workflowId: string } }>).map((w) => w.execution.workflowId) : [];
  // One at a time would take long; a batch terminate would leave them running a while.
  await Promise.all(ids.map((id) => temporal(['workflow', 'terminate', '--workflow-id', id, '--reason', 'test file ended']).catch(() => undefined)));
}

/** Parse a tool result's structured content (the SDK validated it against the outputSchema). */
export function structured<T = Record<string, unknown>>(res: unknown): T {
  const r = res as { structuredContent?: T; isError?: boolean; content?: Array<{ text?: string }> };
  if (r.isError) throw new Error(`tool error: ${r.content?.[0]?.text}`);
  if (!r.structuredContent) throw new Error('no structuredContent in tool result');
  return r.structuredContent;
}
