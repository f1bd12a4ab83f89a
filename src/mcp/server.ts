// The MCP server: tools are thin fronts over the shared TaskClient. Built in a factory, apart
// from its transport (stdio.ts, http.ts).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListPromptsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { localNode } from '../cluster/nodes.js';
import { VERSION } from '../version.js';
import { safely, toolError, toolResult, untilCancelled, withProgress, type Extra } from './results.js';
import { statusSources, type App } from '../app.js';
import { NeedsApproval, UserError, type SubmitRequest } from '../client/tasks.js';
import { askApproval } from './approval.js';
import { registerResources } from './resources.js';
import { clusterStatus } from '../client/statusView.js';
import {
  clusterStatusInput,
  clusterStatusShape,
  commandInput,
  taskIdInput,
  commandResultShape,
  offloadInput,
  parallelInput,
  parallelResultShape,
  taskListInput,
  taskListShape,
  taskOutputInput,
  taskOutputShape,
  taskStatusShape,
} from './schemas.js';
import { toolOutput } from './schemaParse.js';

export type { Extra } from './results.js';
export { toolError, toolResult, withProgress } from './results.js';

const DEFAULT_WAIT_S = 30;

export function buildServer(app: App): McpServer {
  const server = new McpServer({ name: 'clusterflow', version: VERSION }, { capabilities: { logging: {} } });

  server.registerTool(
    'cluster_bash',
    {
      title: 'Run a shell command on the best node',
      description:
        'Run a bash command on the cluster. Heavy commands (builds, tests, containers, archives: make, cargo, npm, pytest, docker, ...) ' +
        'are routed to the least-loaded node that matches requires_os / requires_arch / requires_capabilities; light commands ' +
        '(ls, cat, echo, ...) run on the local node. Returns stdout, stderr, return_code, where it ran and why (route_reason). ' +
        'A non-zero exit gives success=false with the real exit code. Long commands return {task_id, state:"running"} after wait_s; ' +
        'finish them with task_status / task_output. Dangerous commands (rm -rf /, mkfs, ...) are refused.',
      inputSchema: commandInput,
      outputSchema: toolOutput(commandResultShape),
      annotations: { destructiveHint: true, openWorldHint: true, readOnlyHint: false, idempotentHint: false },
    },
    async (args, extra) =>
      runTool(server, app, extra, args.wait_s, () => {
        const req: SubmitRequest = {
          command: args.command,
          requires: { os: args.requires_os, arch: args.requires_arch, capabilities: args.requires_capabilities },
          timeoutS: args.timeout_s,
          cwd: args.cwd,
          workspace: args.workspace,
          outputs: args.outputs,
          env: args.env,
        };
        if (args.auto_route === false) req.nodeId = localNodeId(app);
        return req;
      }),
  );

  server.registerTool(
    'offload_to',
    {
      title: 'Run a shell command on a named node',
      description:
        'Run a bash command on one specific node (node_id from cluster_status), with no routing. Use it when the command needs ' +
        'that machine (its files, devices, or software). Same result fields as cluster_bash; an unknown node_id is an error that lists the known nodes.',
      inputSchema: offloadInput,
      outputSchema: toolOutput(commandResultShape),
      annotations: { destructiveHint: true, openWorldHint: true, readOnlyHint: false, idempotentHint: false },
    },
    async (args, extra) =>
      runTool(server, app, extra, args.wait_s, () => ({
        command: args.command,
        nodeId: args.node_id,
        timeoutS: args.timeout_s,
        cwd: args.cwd,
        workspace: args.workspace,
        outputs: args.outputs,
        env: args.env,
      })),
  );

  server.registerTool(
    'cluster_status',
    {
      title: 'Cluster health and load',
      description:
        'Every node with its status (healthy / busy / unreachable, with the reason), OS, architecture, cpu %, memory %, load average, ' +
        "cores, work in flight and capabilities. Cheap: answered from the cluster monitor's last probe. Use refresh=true to probe now.",
      inputSchema: clusterStatusInput,
      outputSchema: toolOutput(clusterStatusShape),
      annotations: { readOnlyHint: true, openWorldHint: true, destructiveHint: false, idempotentHint: true },
    },
    safely(async (args) => toolResult((await clusterStatus(statusSources(app), args.refresh ?? false)) as unknown as Record<string, unknown>)),
  );

  server.registerTool(
    'parallel_execute',
    {
      title: 'Run many commands in parallel across the cluster',
      description:
        'Fan out a list of commands over every eligible node (spread by load and capacity, each node capped at its max_parallel). ' +
        'Returns results in input order plus a summary (succeeded, failed, per node). Each command has its own task id ' +
        '(<task_id>/<index>) for task_status / task_output / task_cancel. Large fan-outs return {task_id, state:"running"} after ' +
        'wait_s; poll task_status. Use it for test shards, builds per target, or any batch of independent commands.',
      inputSchema: parallelInput,
      outputSchema: toolOutput(parallelResultShape),
      annotations: { destructiveHint: true, openWorldHint: true, readOnlyHint: false, idempotentHint: false },
    },
    async (args, extra) => {
      try {
        const req = {
          commands: args.commands,
          requires: { os: args.requires_os, arch: args.requires_arch },
          maxParallel: args.max_parallel,
          timeoutS: args.timeout_s,
          cwd: args.cwd,
          workspace: args.workspace,
          outputs: args.outputs,
        };
        const taskId = await app.tasks.submitParallel(req).catch(async (err: unknown) => {
          if (!(err instanceof NeedsApproval)) throw err;
          return app.tasks.submitParallel({ ...req, approved: await askApproval(server, err, { commands: args.commands }) });
        });
        let last = { progress: 0, total: args.commands.length };
        const status = await untilCancelled(
          extra,
          () => app.tasks.cancel(taskId),
          withProgress(
            extra,
            () => app.tasks.wait(taskId, args.wait_s ?? DEFAULT_WAIT_S, { fanoutSize: args.commands.length }),
            () => {
              void app.tasks.progress(taskId).then((p) => {
                if (p) last = { progress: p.done, total: p.total };
              });
              return { ...last, message: `${last.progress}/${last.total} commands done` };
            },
          ),
        );
        if (status.state === 'running') return toolResult({ ...status, progress: (await app.tasks.progress(taskId)) ?? undefined });
        // Nothing ran anywhere (no node passed the filter): an error to act on, as in cluster_bash.
        if (status.state === 'failed' && 'summary' in status && status.results.every((r) => r.executed_on === ''))
          return { ...toolResult(status), isError: true };
        return toolResult(status);
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    'task_status',
    {
      title: 'Status or result of a task',
      description:
        'The state of a task (running, completed, failed, cancelled, timed_out) and, once finished, its full result. Works for tasks started before a server or worker restart, and for one command of a fan-out (<task_id>/<index>).',
      inputSchema: taskIdInput,
      outputSchema: toolOutput(taskStatusShape),
      annotations: { readOnlyHint: true, openWorldHint: false, destructiveHint: false, idempotentHint: true },
    },
    async (args) => {
      try {
        const s = await app.tasks.status(args.task_id);
        if (s.state === 'running' && args.task_id.startsWith('par-') && !args.task_id.includes('/')) {
          return toolResult({ ...s, progress: (await app.tasks.progress(args.task_id)) ?? undefined });
        }
        return toolResult(s);
      } catch (err) {
        return toolError(err);
      }
    },
  );

  server.registerTool(
    'task_output',
    {
      title: "Page through a task's full output",
      description:
        'Results carry at most 64 KiB of each stream (head and tail, truncated=true). This returns any part of the full stdout or stderr, page by page: call again with offset=next_offset until eof. ' +
        'While the task runs it reads the output so far from the node (running=true: more may come after eof).',
      inputSchema: taskOutputInput,
      outputSchema: toolOutput(taskOutputShape),
      annotations: { readOnlyHint: true, openWorldHint: false, destructiveHint: false, idempotentHint: true },
    },
    safely(async (args) =>
      toolResult((await app.tasks.output(args.task_id, args.stream, args.offset, args.limit, args.encoding)) as unknown as Record<string, unknown>),
    ),
  );

  server.registerTool(
    'task_cancel',
    {
      title: 'Cancel a task',
      description:
        'Cancel a running task: its process group is killed on the node (TERM, then KILL). For a fan-out, running commands are killed and the rest never start; the result says which ran.',
      inputSchema: taskIdInput,
      outputSchema: toolOutput(taskStatusShape),
      annotations: { destructiveHint: true, openWorldHint: true, readOnlyHint: false, idempotentHint: true },
    },
    safely(async (args) => toolResult(await app.tasks.cancel(args.task_id))),
  );

  server.registerTool(
    'task_list',
    {
      title: 'List recent tasks',
      description: 'Recent tasks, newest first, optionally only those in one state (e.g. running).',
      inputSchema: taskListInput,
      outputSchema: toolOutput(taskListShape),
      annotations: { readOnlyHint: true, openWorldHint: false, destructiveHint: false, idempotentHint: true },
    },
    safely(async (args) => toolResult({ tasks: await app.tasks.list(args.state, args.limit) })),
  );

  registerResources(server, app);
  // No prompts (yet): answer prompts/list with an empty list rather than "method not found".
  server.server.registerCapabilities({ prompts: { listChanged: false } });
  server.server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: [] }));
  return server;
}

function localNodeId(app: App): string {
  const local = localNode(app.config);
  if (!local) throw new UserError('auto_route=false runs on the local node, but the cluster config has no local node');
  return local.id;
}

/** Submit, wait up to wait_s while sending progress, and shape the answer (or the refusal). */
async function runTool(server: McpServer, app: App, extra: Extra, waitS: number | undefined, build: () => SubmitRequest): Promise<CallToolResult> {
  try {
    const req = build();
    const { taskId, headStart } = await app.tasks.submit(req).catch(async (err: unknown) => {
      if (!(err instanceof NeedsApproval)) throw err;
      const approved = await askApproval(server, err, { commands: [req.command], node: req.nodeId });
      return app.tasks.submit({ ...req, approved });
    });
    const status = await untilCancelled(
      extra,
      () => app.tasks.cancel(taskId),
      withProgress(extra, () => app.tasks.wait(taskId, waitS ?? DEFAULT_WAIT_S, { headStart })),
    );
    // Failed with no node: it never ran (nothing passed the filter): an error to act on, not a result.
    if (status.state === 'failed' && 'executed_on' in status && status.executed_on === '') return { ...toolResult(status), isError: true };
    return toolResult(status);
  } catch (err) {
    return toolError(err);
  }
}
