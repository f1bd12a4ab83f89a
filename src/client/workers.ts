// Is a worker serving this cluster's queues? Decided from signals a dead process cannot give: the
// state dir's worker registry (live processes only), else the cluster monitor answering a query
// (only a live hub worker can answer one). When none serves, `submit` starts a background worker
// (or says what to start, with --no-start-worker) within seconds instead of waiting forever.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import type { App } from '../app.js';
import { LAUNCHER, launcherEnv } from '../paths.js';
import { liveWorkers } from '../runtime/workerRegistry.js';
import { UserError } from './tasks.js';

/** How long the monitor may take to answer before "no hub worker" is the verdict. */
const MONITOR_ANSWER_MS = 2000;
/** How long a background worker may take to register as serving. */
const START_WAIT_MS = 10_000;

export const workerLogOf = (stateDir: string): string => path.join(stateDir, 'worker.log');

/**
 * True when a worker serves the hub queue: one of this state dir's, or one the monitor proves
 * alive. With `origin`, only a worker of this state dir will do: it holds the files a workspace
 * is synced from (the origin's queue).
 */
export async function hubServed(app: App, origin = false): Promise<boolean> {
  const local = liveWorkers(app.stateDir);
  if (local.some((w) => w.hub)) return true;
  if (origin && local.length === 0) return false;
  try {
    await app.connection.withDeadline(Date.now() + MONITOR_ANSWER_MS, () => app.clusterState.snapshot());
    return true;
  } catch {
    return false;
  }
}

/**
 * Make sure tasks submitted now will run: a worker serves the hub queue, or a background one is
 * started here (log in <state dir>/worker.log) — unless `start` is false: then say what to start.
 */
export async function ensureWorker(app: App, opts: { start: boolean; origin?: boolean }): Promise<void> {
  if (await hubServed(app, opts.origin)) return;
  if (!opts.start) {
    throw new UserError(
      "no worker serves this cluster's queues (none runs for this state dir, and the cluster monitor did not answer within " +
        `${MONITOR_ANSWER_MS / 1000} s): start one with \`cluster-router worker\` or \`cluster-router serve\`, or leave out --no-start-worker`,
    );
  }
  const child = startBackgroundWorker(app.stateDir);
  const deadline = Date.now() + START_WAIT_MS;
  while (Date.now() < deadline) {
    if (liveWorkers(app.stateDir).some((w) => w.pid === child.pid && w.hub)) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new UserError(`the background worker did not start serving within ${START_WAIT_MS / 1000} s; see ${workerLogOf(app.stateDir)}`);
}

/** `cluster-router worker --background`, detached, logging to the state dir. */
export function startBackgroundWorker(stateDir: string, args: string[] = []): ReturnType<typeof spawn> {
  const logFile = workerLogOf(stateDir);
  const fd = openSync(logFile, 'a', 0o600);
  const child = spawn(LAUNCHER, ['worker', '--background', ...args], { detached: true, stdio: ['ignore', fd, fd], env: launcherEnv() });
  closeSync(fd);
  child.unref();
  return child;
}
