// worker [run|status|stop] and server [status|stop]: the processes a user does not see otherwise
// (background workers the CLI started, the embedded Temporal server), shown and stopped here.
import { statSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { openApp } from '../app.js';
import { tuneHeapForService } from '../runtime/heapTuning.js';
import { loadConfig } from '../cluster/config.js';
import { UserError } from '../client/tasks.js';
import { startBackgroundWorker, workerLogOf } from '../client/workers.js';
import { log } from '../log.js';
import { PACKAGE_ROOT, stateDir as defaultStateDir } from '../paths.js';
import { liveWorkers, type WorkerEntry } from '../runtime/workerRegistry.js';
import { embeddedServerInfo, stopEmbeddedServer } from '../temporal/embedded.js';
import { nodeList, signalled } from './serveCommands.js';

/** A background worker checks this often whether its config or its program changed (then it restarts). */
const CHANGE_POLL_MS = 2000;
const STOP_WAIT_MS = 45_000;

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description(
      'Run a worker alone (polls the hub queue and every node queue, or only --nodes); `worker status` and `worker stop` show and stop the workers of this state dir',
    )
    .argument('[action]', 'run (default) | status | stop', 'run')
    .option('--nodes <ids>', 'comma-separated node ids whose queues this worker owns', nodeList)
    .option('--no-hub', 'do not poll the hub queue (workflows and placement)')
    .option('--background', "run as the CLI's background worker: restart when cluster.yaml or the program changes")
    .option('--json', 'status: print as JSON')
    .action(async (action: string, o) => {
      if (action === 'run') return runWorker(o);
      if (action === 'status') return workerStatus(!!o.json);
      if (action === 'stop') return stopWorkers();
      throw new UserError(`worker: unknown action "${action}" (run, status or stop)`);
    });

  program
    .command('server')
    .description('The embedded Temporal dev server of this state dir: `server status` (address, Web UI, db size, pid) or `server stop`')
    .argument('<action>', 'status | stop')
    .option('--json', 'status: print as JSON')
    .action(async (action: string, o) => {
      const dir = defaultStateDir();
      if (action === 'status') {
        const info = embeddedServerInfo(dir);
        if (o.json) return void process.stdout.write(`${JSON.stringify(info ?? { running: false }, null, 2)}\n`);
        if (!info) return void process.stdout.write(`no embedded Temporal server for ${dir}\n`);
        process.stdout.write(
          `${info.running ? 'running' : 'not running'}: pid ${info.pid}, address ${info.address}, Web UI ${info.uiUrl} (decoded: http://127.0.0.1:${info.codecPort}), db ${mb(info.dbBytes)}\n`,
        );
        return;
      }
      if (action === 'stop') {
        const workers = liveWorkers(dir);
        if (workers.length > 0)
          process.stderr.write(`note: ${workers.length} worker(s) of this state dir still run; they reconnect when the server starts again\n`);
        process.stdout.write((await stopEmbeddedServer(dir)) ? 'embedded Temporal server stopped\n' : 'no embedded Temporal server was running\n');
        return;
      }
      throw new UserError(`server: unknown action "${action}" (status or stop)`);
    });
}

async function runWorker(o: { nodes?: string[]; hub?: boolean; background?: boolean }): Promise<void> {
  const stop = signalled();
  const launchNote = tuneHeapForService();
  if (launchNote) log.info(launchNote);
  const app = await openApp({ worker: true, nodeIds: o.nodes, hub: o.hub !== false, kind: 'worker', background: !!o.background });
  let restart = false;
  try {
    const changed = o.background ? watchForChange(app.config.source) : new Promise<never>(() => undefined);
    const why = await Promise.race([
      stop,
      app.workers?.done,
      changed.then((what) => {
        restart = true;
        return what;
      }),
    ]);
    log.info({ why }, restart ? 'restarting the background worker' : 'shutting down worker');
  } finally {
    await app.close();
  }
  // The replacement starts once this one let go of its work (its activities retry there).
  if (restart) startBackgroundWorker(app.stateDir, [...(o.nodes ? ['--nodes', o.nodes.join(',')] : []), ...(o.hub === false ? ['--no-hub'] : [])]);
}

/** Resolves (with what changed) when the config file or the program on disk changes. */
function watchForChange(configSource: string): Promise<string> {
  const files = [
    path.join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'),
    path.join(PACKAGE_ROOT, 'dist', 'workflow-bundle.js'),
    ...(configSource.startsWith('/') ? [configSource] : []),
  ];
  const stamp = (f: string) => {
    try {
      const st = statSync(f);
      return `${st.mtimeMs}:${st.size}`;
    } catch {
      return 'absent';
    }
  };
  const before = new Map(files.map((f) => [f, stamp(f)]));
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const f = files.find((x) => stamp(x) !== before.get(x));
      if (!f) return;
      clearInterval(timer);
      resolve(`${f} changed`);
    }, CHANGE_POLL_MS);
    timer.unref();
  });
}

function describeWorker(w: WorkerEntry): string {
  return `${w.kind}${w.background ? ' (background)' : ''} pid ${w.pid} since ${w.started}: ${w.hub ? 'hub + ' : ''}nodes ${w.nodes.join(',') || '-'}; config ${w.config}`;
}

async function workerStatus(json: boolean): Promise<void> {
  const dir = defaultStateDir();
  const workers = liveWorkers(dir);
  if (json) return void process.stdout.write(`${JSON.stringify({ stateDir: dir, workers, log: workerLogOf(dir) }, null, 2)}\n`);
  if (workers.length === 0) return void process.stdout.write(`no worker runs for ${dir}\n`);
  for (const w of workers) process.stdout.write(`${describeWorker(w)}\n`);
  // Only a warning: the config may not parse, and that is not what the user asked about.
  try {
    const nodes = loadConfig({ stateDir: dir }).nodes.map((n) => n.id);
    const served = new Set(workers.flatMap((w) => w.nodes));
    const missing = nodes.filter((id) => !served.has(id));
    if (missing.length > 0) process.stdout.write(`not served by a worker of this state dir: ${missing.join(', ')} (a worker elsewhere may serve them)\n`);
  } catch {
    /* nothing to compare with */
  }
}

/** SIGTERM to this state dir's `worker` processes (serve sessions are their clients' to end); each drains, then exits. */
async function stopWorkers(): Promise<void> {
  const dir = defaultStateDir();
  const targets = liveWorkers(dir).filter((w) => w.kind === 'worker');
  if (targets.length === 0) return void process.stdout.write('no worker to stop\n');
  for (const w of targets) process.kill(w.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_WAIT_MS;
  while (Date.now() < deadline && liveWorkers(dir).some((w) => targets.some((t) => t.pid === w.pid))) await new Promise((r) => setTimeout(r, 200));
  const left = liveWorkers(dir).filter((w) => targets.some((t) => t.pid === w.pid));
  for (const w of left) process.kill(w.pid, 'SIGKILL');
  process.stdout.write(
    `stopped ${targets.length} worker(s)${left.length ? ` (${left.length} did not drain within ${STOP_WAIT_MS / 1000} s and were killed)` : ''}\n`,
  );
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
