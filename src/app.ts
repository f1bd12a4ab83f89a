// Wiring shared by every entry point: state dir → config → Temporal (embedded or given) →
// one NativeConnection → task client, and optionally the in-process worker.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './cluster/config.js';
import { TaskClient } from './client/tasks.js';
import { ClusterStateReader, ensureMonitor } from './client/clusterState.js';
import { PACKAGE_ROOT, stateDir as defaultStateDir } from './paths.js';
import { createHeadStart } from './activities/headStart.js';
import { readRunningOutput } from './client/liveOutput.js';
import { createRuntime, type Runtime } from './runtime.js';
import { connect, resolveTemporal, type TemporalTarget } from './temporal/connection.js';
import { startWorkers, type RunningWorkers } from './worker.js';
import { HUB_QUEUE, type ClusterConfig } from './shared.js';
import { installTemporalLogger, log } from './log.js';

export interface App {
  stateDir: string;
  config: ClusterConfig;
  target: TemporalTarget;
  connection: NativeConnection;
  tasks: TaskClient;
  clusterState: ClusterStateReader;
  runtime?: Runtime;
  workers?: RunningWorkers;
  close(): Promise<void>;
}

export async function openApp(opts: { worker: boolean; env?: NodeJS.ProcessEnv; nodeIds?: string[]; hub?: boolean }): Promise<App> {
  installTemporalLogger();
  const env = opts.env ?? process.env;
  const stateDir = defaultStateDir(env);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const config = loadConfig({ env, stateDir });
  const target = await resolveTemporal(stateDir, env);
  const connection = await connect(target);
  const tasks = new TaskClient(connection, target, config, stateDir);
  const clusterState = new ClusterStateReader(tasks.client);
  let runtime: Runtime | undefined;
  let workers: RunningWorkers | undefined;
  if (opts.worker) {
    runtime = createRuntime(config, stateDir);
    runtime.client = tasks.client;
    tasks.completions = runtime.completions;
    const nodeStates = () => clusterState.states();
    workers = await startWorkers({ connection, namespace: target.namespace, runtime, nodeIds: opts.nodeIds, hub: opts.hub, nodeStates });
    // CLUSTERFLOW_HEAD_START=0 leaves every launch to the workflow's activity (for comparison).
    if (env.CLUSTERFLOW_HEAD_START !== '0') {
      tasks.headStart = createHeadStart(runtime, tasks.client, {
        servedNodeIds: opts.nodeIds ?? config.nodes.map((n) => n.id),
        ...(opts.hub !== false ? { hub: { config, book: runtime.book, nodeStates } } : {}),
      });
    }
    workers.done.catch((err) => log.error({ err: String(err) }, 'worker stopped with an error'));
    if (opts.hub !== false) await ensureMonitor(tasks.client, config);
  }
  // A running command's output is read on its node: through the worker's SSH pool, or (CLI)
  // through a runtime made on first use.
  let own: Runtime | undefined;
  tasks.liveOutput = (nodeId, taskId, stream, offset, limit, encoding) =>
    readRunningOutput(runtime ?? (own ??= createRuntime(config, stateDir)), nodeId, taskId, stream, offset, limit, encoding);
  log.info({ temporal: target.address, ui: target.uiUrl, config: config.source, nodes: config.nodes.map((n) => n.id), stateDir }, 'clusterflow ready');
  return {
    stateDir, config, target, connection, tasks, clusterState, runtime, workers,
    async close() {
      await workers?.shutdown();
      await own?.pool.close();
      await connection.close();
    },
  };
}

/** True when some worker polled the hub queue recently (so a submitted task will run). */
export async function hubHasWorker(app: App): Promise<boolean> {
  const res = await app.tasks.client.workflowService.describeTaskQueue({
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
