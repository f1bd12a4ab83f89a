// serve / worker: the long-running entry points.
import { Command } from 'commander';
import { openApp } from '../app.js';
import { log } from '../log.js';
import { serveStdio } from '../mcp/stdio.js';

export function registerServeCommands(program: Command): void {
  program.command('serve')
    .description('Run the MCP server on stdio (with an in-process worker and, without TEMPORAL_ADDRESS, an embedded Temporal)')
    .option('--no-worker', 'do not run a worker in this process (another `cluster-router worker` serves the queues)')
    .action(async (o) => {
      const app = await openApp({ worker: o.worker !== false });
      log.info({ ui: app.target.uiUrl }, 'MCP server on stdio');
      try {
        await serveStdio(app);
      } finally {
        await app.close();
      }
    });

  program.command('worker')
    .description('Run a worker alone: polls the hub queue and every node queue (or only --nodes)')
    .option('--nodes <ids>', 'comma-separated node ids whose queues this worker owns', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
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
