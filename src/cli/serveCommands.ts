// serve: the MCP server (and, by default, a worker in the same process). It ends cleanly: on
// stdin EOF (stdio) or SIGTERM/SIGINT it stops taking requests, lets the tasks it started finish
// (bounded), then stops its worker.
import { Command } from 'commander';
import { openApp, type App } from '../app.js';
import { tuneHeapForService } from '../runtime/heapTuning.js';
import { log } from '../log.js';
import { serveHttp, type HttpOptions } from '../mcp/http.js';
import { serveStdio } from '../mcp/stdio.js';
import { onTerminate } from './signals.js';

/** How long a session that ends waits for the tasks it started to be recorded as closed. */
const DRAIN_TIMEOUT_MS = 30_000;

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('Run the MCP server on stdio (with an in-process worker and, without TEMPORAL_ADDRESS, an embedded Temporal)')
    .option('--no-worker', 'do not run a worker in this process (another `cluster-router worker` serves the queues)')
    .option('--nodes <ids>', 'the in-process worker owns only these node queues (comma-separated)', nodeList)
    .option('--no-hub', 'the in-process worker does not poll the hub queue (a `cluster-router worker` does)')
    .option('--http <port>', 'serve MCP over Streamable HTTP on this port (0: any free port) instead of stdio', parsePort)
    .option('--host <address>', 'address the HTTP server binds to (default 127.0.0.1; anything else is reachable from the network)')
    .option('--token <token>', 'bearer token HTTP clients must send (default $CLUSTERFLOW_HTTP_TOKEN, else <state dir>/http-token, created if absent)')
    .action(async (o) => {
      const stop = signalled();
      const launchNote = tuneHeapForService();
      if (launchNote) log.info(launchNote);
      const app = await openApp({ worker: o.worker !== false, nodeIds: o.nodes, hub: o.hub !== false });
      try {
        if (o.http !== undefined) {
          const http = await serveHttp(app, { port: o.http, host: o.host, token: o.token } satisfies HttpOptions);
          log.info({ url: http.url, ui: app.target.uiUrl }, 'MCP server on Streamable HTTP');
          await stop;
          await http.close();
        } else {
          log.info({ ui: app.target.uiUrl }, 'MCP server on stdio');
          await serveStdio(app, stop);
        }
        await drain(app);
      } finally {
        await app.close();
      }
    });
}

/** Resolves on the first SIGTERM/SIGINT (a second one exits at once). */
export function signalled(): Promise<string> {
  return new Promise((resolve) => onTerminate((signal) => resolve(signal)));
}

/**
 * The session is over: its worker keeps running until every task this process started is
 * closed in Temporal (at most DRAIN_TIMEOUT_MS), so no answered task stays Running. What is
 * left is retryable for another worker; the log says which.
 */
async function drain(app: App): Promise<void> {
  if (!app.workers) return;
  const left = await app.tasks.drain(DRAIN_TIMEOUT_MS);
  if (left.length > 0) {
    log.warn(
      { taskIds: left.slice(0, 50), count: left.length },
      `session ended with tasks still running after ${DRAIN_TIMEOUT_MS / 1000} s: left to another worker (their activities are retried there)`,
    );
  } else {
    log.info('session ended: every task it started is closed in Temporal');
  }
}

export function nodeList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new Error(`--http takes a port number (0-65535), not "${v}"`);
  return n;
}
