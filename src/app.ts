// Wiring shared by every entry point: state dir → config → Temporal (embedded or given) →
// one connection and client → (optionally) the in-process worker with its services and fast
// path → the task client. Everything is passed in at construction; nothing is patched in later.
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './cluster/config.js';
import { ClusterStateReader, ensureMonitor } from './client/clusterState.js';
import { readRunningOutput } from './client/liveOutput.js';
import type { StatusSources } from './client/statusView.js';
import { TaskClient } from './client/tasks.js';
import { clusterflowEnv } from './env.js';
import { FastPath } from './fastpath/fastPath.js';
import { installTemporalLogger, log } from './log.js';
import { PACKAGE_ROOT, stateDir as defaultStateDir } from './paths.js';
import { OutputStore } from './runtime/outputStore.js';
import { createServices, type Services } from './runtime/services.js';
import { HUB_QUEUE, type ClusterConfig } from './shared.js';
import { EncryptionCodec } from './security/codec.js';
import { startCodecServer, uiToken, type CodecServer } from './security/codecServer.js';
import { loadCodecKeys } from './security/keys.js';
import { securePrivateDir } from './security/privateDir.js';
import { connect, resolveTemporal, type TemporalTarget } from './temporal/connection.js';
import { dataConverterFor } from './temporal/dataConverter.js';
import { startWorkers, type RunningWorkers } from './worker.js';

export interface App {
  stateDir: string;
  config: ClusterConfig;
  target: TemporalTarget;
  connection: NativeConnection;
  client: Client;
  tasks: TaskClient;
  clusterState: ClusterStateReader;
  /** The in-process worker's services (serve, worker); absent for one-shot CLI commands. */
  services?: Services;
  workers?: RunningWorkers;
  close(): Promise<void>;
}

export async function openApp(opts: { worker: boolean; env?: NodeJS.ProcessEnv; nodeIds?: string[]; hub?: boolean }): Promise<App> {
  installTemporalLogger();
  const env = opts.env ?? process.env;
  const cfEnv = clusterflowEnv(env);
  const stateDir = defaultStateDir(env);
  securePrivateDir(stateDir);
  const config = loadConfig({ env, stateDir });
  warnAboutConfig(config);
  const target = await resolveTemporal(stateDir, env);
  const connection = await connect(target);
  const codec = new EncryptionCodec(loadCodecKeys(stateDir, cfEnv));
  const dataConverter = dataConverterFor(codec);
  const client = new Client({ connection, namespace: target.namespace, dataConverter });
  const clusterState = new ClusterStateReader(client);
  const nodeStates = () => clusterState.states();
  const hub = opts.hub !== false;

  let services: Services | undefined;
  let fastPath: FastPath | undefined;
  let workers: RunningWorkers | undefined;
  let codecServer: CodecServer | undefined;
  if (opts.worker) {
    services = createServices(config, stateDir, cfEnv.maxOutputBytes);
    // CLUSTERFLOW_HEAD_START=0 leaves every launch to the workflow's activity (for comparison).
    if (cfEnv.headStart) {
      fastPath = new FastPath(services, client, {
        servedNodeIds: opts.nodeIds ?? config.nodes.map((n) => n.id),
        ...(hub ? { hub: { config, book: services.book, nodeStates } } : {}),
      });
    }
    workers = await startWorkers({ connection, namespace: target.namespace, dataConverter, services, client, fastPath, nodeIds: opts.nodeIds, hub, nodeStates });
    workers.done.catch((err) => log.error({ err: String(err) }, 'worker stopped with an error'));
    if (hub) await ensureMonitor(client, config, cfEnv.monitorIntervalS);
    // The owner's codec endpoint and UI proxy (the worker decodes anyway; so can its owner).
    codecServer = startCodecServer({ codec, token: uiToken(stateDir), port: target.codecPort, uiUpstream: target.embedded ? target.rawUiUrl : undefined });
  }
  // A running command's output is read on its node: through the worker's SSH pool, or (CLI)
  // through services made on first use.
  let own: Services | undefined;
  const tasks = new TaskClient({
    client, target, config, outputs: services?.outputs ?? new OutputStore(path.join(stateDir, 'output')),
    results: services?.results, fastPath, heartbeatTimeoutS: cfEnv.heartbeatTimeoutS,
    liveOutput: (nodeId, taskId, stream, offset, limit, encoding) =>
      readRunningOutput(services ?? (own ??= createServices(config, stateDir)), nodeId, taskId, stream, offset, limit, encoding),
  });
  log.info({ temporal: target.address, ui: target.uiUrl, config: config.source, nodes: config.nodes.map((n) => n.id), stateDir }, 'clusterflow ready');
  return {
    stateDir, config, target, connection, client, tasks, clusterState, services, workers,
    async close() {
      await codecServer?.close();
      await workers?.shutdown();
      await own?.pool.close();
      await connection.close();
    },
  };
}

/** A config that is valid but probably not meant: one line each on stderr (never stdout: MCP owns it on stdio). */
export function warnAboutConfig(config: ClusterConfig): void {
  for (const w of config.warnings ?? []) process.stderr.write(`cluster-router: warning: ${w}\n`);
}

/** What cluster_status reads: the config, the monitor, and this process's reservations. */
export function statusSources(app: App): StatusSources {
  return { config: app.config, clusterState: app.clusterState, book: app.services?.book };
}

/** True when some worker polled the hub queue recently (so a submitted task will run). */
export async function hubHasWorker(app: App): Promise<boolean> {
  const res = await app.client.workflowService.describeTaskQueue({
    namespace: app.target.namespace,
    taskQueue: { name: HUB_QUEUE },
    taskQueueType: 1, // WORKFLOW
  });
  const cutoff = Date.now() - 70_000;
  return (res.pollers ?? []).some((p) => p.lastAccessTime?.seconds && Number(p.lastAccessTime.seconds) * 1000 > cutoff);
}

/**
 * The CLI starts no worker of its own: when none polls, it launches `cluster-router worker`
 * in the background (log in the state dir), so tasks run and survive the CLI exiting.
 */
export async function ensureBackgroundWorker(app: App): Promise<void> {
  if (await hubHasWorker(app)) return;
  const logFile = path.join(app.stateDir, 'worker.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'), 'worker'], {
    detached: true, stdio: ['ignore', fd, fd], env: process.env,
  });
  closeSync(fd);
  child.unref();
  writeFileSync(path.join(app.stateDir, 'worker.pid'), String(child.pid));
  log.info({ pid: child.pid, log: logFile }, 'started a background worker');
  for (let i = 0; i < 100; i++) {
    if (await hubHasWorker(app)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the background worker did not start polling within 20 s; see ${logFile}`);
}
