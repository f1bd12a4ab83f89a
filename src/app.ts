// Wiring shared by every entry point: state dir → config → Temporal (embedded or given) →
// one connection and client → (optionally) the in-process worker with its services and fast
// path → the task client. Everything is passed in at construction; nothing is patched in later.
import path from 'node:path';
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './cluster/config.js';
import { ClusterStateReader, ensureMonitor } from './client/clusterState.js';
import { readOutputThroughTemporal } from './client/outputRead.js';
import type { StatusSources } from './client/statusView.js';
import { TaskClient } from './client/tasks.js';
import { clusterflowEnv } from './env.js';
import { readOutputOn } from './activities/output.js';
import { originHostName } from './activities/workspace.js';
import { FastPath } from './fastpath/fastPath.js';
import { LaunchJournal } from './fastpath/launchJournal.js';
import { startRecovery } from './fastpath/recovery.js';
import { installTemporalLogger, log } from './log.js';
import { stateDir as defaultStateDir } from './paths.js';
import { OutputStore } from './runtime/outputStore.js';
import { createServices, originIdOf, type Services } from './runtime/services.js';
import { registerWorker, type WorkerEntry } from './runtime/workerRegistry.js';
import { originQueue, type ClusterConfig } from './shared.js';
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

export interface OpenOptions {
  /** Run a worker in this process (serve, worker); one-shot CLI commands do not. */
  worker: boolean;
  env?: NodeJS.ProcessEnv;
  nodeIds?: string[];
  hub?: boolean;
  /** How this process shows in the state dir's worker registry (default serve). */
  kind?: WorkerEntry['kind'];
  /** A background worker the CLI started (see client/workers.ts). */
  background?: boolean;
}

export async function openApp(opts: OpenOptions): Promise<App> {
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
  const originId = originIdOf(stateDir);

  let services: Services | undefined;
  let fastPath: FastPath | undefined;
  let journal: LaunchJournal | undefined;
  let workers: RunningWorkers | undefined;
  let codecServer: CodecServer | undefined;
  let unregister: (() => void) | undefined;
  if (opts.worker) {
    services = createServices(config, stateDir, cfEnv.maxOutputBytes);
    // CLUSTERFLOW_HEAD_START=0 leaves every launch to the workflow's activity (for comparison).
    if (cfEnv.headStart) {
      journal = new LaunchJournal(path.join(stateDir, 'launches'));
      fastPath = new FastPath(services, client, {
        journal,
        servedNodeIds: opts.nodeIds ?? config.nodes.map((n) => n.id),
        ...(hub ? { hub: { config, book: services.book, nodeStates } } : {}),
      });
    }
    workers = await startWorkers({
      connection,
      namespace: target.namespace,
      dataConverter,
      services,
      client,
      fastPath,
      nodeIds: opts.nodeIds,
      hub,
      nodeStates,
      originId,
    });
    workers.done.catch((err) => log.error({ err: String(err) }, 'worker stopped with an error'));
    if (hub) await ensureMonitor(client, config, cfEnv.monitorIntervalS);
    unregister = registerWorker(stateDir, {
      kind: opts.kind ?? 'serve',
      background: opts.background ?? false,
      hub,
      nodes: opts.nodeIds ?? config.nodes.map((n) => n.id),
      config: config.source,
    });
    // The owner's codec endpoint and UI proxy (the worker decodes anyway; so can its owner).
    codecServer = startCodecServer({ codec, token: uiToken(stateDir), port: target.codecPort, uiUpstream: target.embedded ? target.rawUiUrl : undefined });
  }
  // Output this state dir does not hold is read by a worker of the task's node: this process's
  // own, when it serves that node's queue, else through Temporal (never SSH from a client).
  const served = new Set(services ? (opts.nodeIds ?? config.nodes.map((n) => n.id)) : []);
  const tasks = new TaskClient({
    client,
    target,
    config,
    outputs: services?.outputs ?? new OutputStore(path.join(stateDir, 'output'), cfEnv.maxOutputBytes),
    results: services?.results,
    fastPath,
    heartbeatTimeoutS: cfEnv.heartbeatTimeoutS,
    startDeferMs: cfEnv.startDeferMs,
    origin: { queue: originQueue(originId), host: originHostName() },
    readOutput: (input) => (services && served.has(input.nodeId) ? readOutputOn(services, input) : readOutputThroughTemporal(client, input)),
  });
  // Launches a process that died had journaled get their workflows (fastpath/recovery.ts).
  const recovery = journal && services ? startRecovery({ journal, rt: services, start: (i) => tasks.starter.startIntent(i) }) : undefined;
  log.info({ temporal: target.address, ui: target.uiUrl, config: config.source, nodes: config.nodes.map((n) => n.id), stateDir }, 'clusterflow ready');
  return {
    stateDir,
    config,
    target,
    connection,
    client,
    tasks,
    clusterState,
    services,
    workers,
    async close() {
      recovery?.stop();
      await codecServer?.close();
      await workers?.shutdown();
      journal?.close();
      services?.outputs.flush();
      unregister?.();
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
