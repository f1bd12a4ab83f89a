// The MCP server: tools are thin fronts over the shared TaskClient. Built in a factory, apart
// from its transport (stdio.ts, http.ts).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { App } from '../app.js';
import { UserError, type SubmitRequest, type TaskStatus } from '../client/tasks.js';
import { z } from 'zod';
import { clusterStatus } from '../client/statusView.js';
import { clusterStatusShape, commandInput, commandResultShape, offloadInput } from './schemas.js';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const DEFAULT_WAIT_S = 30;
const VERSION = '0.1.0';

export function buildServer(app: App): McpServer {
  const server = new McpServer({ name: 'clusterflow', version: VERSION }, { capabilities: { logging: {} } });

  server.registerTool('cluster_bash', {
    title: 'Run a shell command on the best node',
    description:
      'Run a bash command on the cluster. Heavy commands (builds, tests, containers, archives: make, cargo, npm, pytest, docker, ...) ' +
      'are routed to the least-loaded node that matches requires_os / requires_arch / requires_capabilities; light commands ' +
      '(ls, cat, echo, ...) run on the local node. Returns stdout, stderr, return_code, where it ran and why (route_reason). ' +
      'A non-zero exit gives success=false with the real exit code. Long commands return {task_id, state:"running"} after wait_s; ' +
      'finish them with task_status / task_output. Dangerous commands (rm -rf /, mkfs, ...) are refused.',
    inputSchema: commandInput,
    outputSchema: commandResultShape,
    annotations: { destructiveHint: true, openWorldHint: true, readOnlyHint: false, idempotentHint: false },
  }, async (args, extra) => runTool(app, extra, args.wait_s, () => {
    const req: SubmitRequest = {
      command: args.command,
      requires: { os: args.requires_os, arch: args.requires_arch, capabilities: args.requires_capabilities },
      timeoutS: args.timeout_s, cwd: args.cwd, env: args.env,
    };
    if (args.auto_route === false) req.nodeId = localNodeId(app);
    return req;
  }));

  server.registerTool('offload_to', {
    title: 'Run a shell command on a named node',
    description:
      'Run a bash command on one specific node (node_id from cluster_status), with no routing. Use it when the command needs ' +
      'that machine (its files, devices, or software). Same result fields as cluster_bash; an unknown node_id is an error that lists the known nodes.',
    inputSchema: offloadInput,
    outputSchema: commandResultShape,
    annotations: { destructiveHint: true, openWorldHint: true, readOnlyHint: false, idempotentHint: false },
  }, async (args, extra) => runTool(app, extra, args.wait_s, () => ({
    command: args.command, nodeId: args.node_id, timeoutS: args.timeout_s, cwd: args.cwd, env: args.env,
  })));

  server.registerTool('cluster_status', {
    title: 'Cluster health and load',
    description:
      'Every node with its status (healthy / busy / unreachable, with the reason), OS, architecture, cpu %, memory %, load average, ' +
      'cores, work in flight and capabilities. Cheap: answered from the cluster monitor\'s last probe. Use refresh=true to probe now.',
    inputSchema: { refresh: z.boolean().default(false).describe('Probe every node now instead of reading the last probe') },
    outputSchema: clusterStatusShape,
    annotations: { readOnlyHint: true, openWorldHint: true, destructiveHint: false, idempotentHint: true },
  }, async (args) => {
    try {
      return toolResult(await clusterStatus(app, args.refresh ?? false) as unknown as Record<string, unknown>);
    } catch (err) {
      return toolError(err);
    }
  });

  return server;
}

function localNodeId(app: App): string {
  const local = app.config.nodes.find((n) => n.local);
  if (!local) throw new UserError('auto_route=false runs on the local node, but the cluster config has no local node');
  return local.id;
}

/** Submit, wait up to wait_s while sending progress, and shape the answer (or the refusal). */
async function runTool(app: App, extra: Extra, waitS: number | undefined, build: () => SubmitRequest): Promise<CallToolResult> {
  try {
    const { taskId } = await app.tasks.submit(build());
    const status = await withProgress(extra, () => app.tasks.wait(taskId, waitS ?? DEFAULT_WAIT_S));
    return toolResult(status);
  } catch (err) {
    return toolError(err);
  }
}

export function toolResult(data: TaskStatus | Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(data, null, 2) }],
    structuredContent: data as Record<string, unknown>,
  };
}

/** A refusal or failure the agent should read: isError with the message, and the server stays up. */
export function toolError(err: unknown): CallToolResult {
  const msg = err instanceof UserError ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`;
  return { isError: true, content: [{ type: 'text', text: msg }] };
}

/** Heartbeat-style progress (elapsed seconds) while waiting, only when the caller asked for it. */
export async function withProgress<T>(extra: Extra, work: () => Promise<T>, total?: () => { progress: number; total?: number; message?: string }): Promise<T> {
  const token = extra._meta?.progressToken;
  if (token === undefined) return work();
  const started = Date.now();
  const timer = setInterval(() => {
    const p = total?.() ?? { progress: Math.round((Date.now() - started) / 1000), message: 'seconds elapsed' };
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, ...p } }).catch(() => undefined);
  }, 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
