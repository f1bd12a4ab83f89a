import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { App } from '../app.js';
import { buildServer } from './server.js';

/** Serve MCP on stdin/stdout until the client closes stdin (or `stop` resolves: a signal). */
export async function serveStdio(app: App, stop: Promise<unknown>): Promise<void> {
  const server = buildServer(app);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
    process.stdin.once('end', resolve);
  });
  await server.connect(transport);
  await Promise.race([closed, stop]);
  await server.close();
}
