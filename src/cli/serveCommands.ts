// serve / worker: the long-running entry points.
import { Command } from 'commander';
import { openApp, type App } from '../app.js';
import { log } from '../log.js';
import { serveStdio } from '../mcp/stdio.js';
import { serveHttp, type HttpOptions } from '../mcp/http.js';

export function registerServeCommands(program: Command): void {
  program.command('serve')
    .description('Run the MCP server on stdio (with an in-process worker and, without TEMPORAL_ADDRESS, an embedded Temporal)')
    .option('--no-worker', 'do not run a worker in this process (another `cluster-router worker` serves the queues)')
    .option('--nodes <ids>', 'the in-process worker owns only these node queues (comma-separated)', nodeList)
    .option('--no-hub', 'the in-process worker does not poll the hub queue (a `cluster-router worker` does)')
    .option('--http <port>', 'serve MCP over Streamable HTTP on this port (0: any free port) instead of stdio', parsePort)
    .option('--host <address>', 'address the HTTP server binds to (default 127.0.0.1; anything else is reachable from the network)')
    .option('--token <token>', 'bearer token HTTP clients must send (default $CLUSTERFLOW_HTTP_TOKEN, else <state dir>/http-token, created if absent)')
    .action(async (o) => {
      const app = await openApp({ worker: o.worker !== false, nodeIds: o.nodes, hub: o.hub !== false });
      if (o.http !== undefined) return serveHttpUntilSignal(app, { port: o.http, host: o.host, token: o.token });
      log.info({ ui: app.target.uiUrl }, 'MCP server on stdio');
      try {
        await serveStdio(app);
      } finally {
        await app.close();
      }
    });

  program.command('worker')
    .description('Run a worker alone: polls the hub queue and every node queue (or only --nodes)')
    .option('--nodes <ids>', 'comma-separated node ids whose queues this worker owns', nodeList)
    .option('--no-hub', 'do not poll the hub queue (workflows and placement)')
    .action(async (o) => {
      const app = await openApp({ worker: true, nodeIds: o.nodes, hub: o.hub !== false });
      const stop = () => { log.info('shutting down worker'); void app.workers?.shutdown(); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await app.workers?.done;
      await app.close();
    });
}

function nodeList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new Error(`--http takes a port number (0-65535), not "${v}"`);
  return n;
}

/** Serve MCP over HTTP until SIGTERM/SIGINT, then close the sessions, the worker and the connection. */
async function serveHttpUntilSignal(app: App, opts: HttpOptions): Promise<void> {
  try {
    const http = await serveHttp(app, opts);
    log.info({ url: http.url, ui: app.target.uiUrl }, 'MCP server on Streamable HTTP');
    await new Promise<void>((resolve) => { process.once('SIGTERM', resolve); process.once('SIGINT', resolve); });
    await http.close();
  } finally {
    await app.close();
  }
}
