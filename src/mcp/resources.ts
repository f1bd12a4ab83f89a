// MCP resources: read-only views an agent can attach as context without calling a tool.
// `cluster://nodes` is the cluster_status answer; `cluster://tasks/{task_id}` is task_status.
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { statusSources, type App } from '../app.js';
import { UserError } from '../client/tasks.js';
import { clusterStatus } from '../client/statusView.js';
import { taskIdField } from './schemas.js';

export const NODES_URI = 'cluster://nodes';
export const TASK_URI_TEMPLATE = 'cluster://tasks/{task_id}';
/** A task's whole stdout or stderr (what results link to when they carry only head and tail). */
export const STREAM_URI_TEMPLATE = 'cluster://tasks/{task_id}/{stream}';
/** A stream read as one resource is cut here (task_output pages through any size). */
const STREAM_RESOURCE_MAX = 16 * 1024 * 1024;
/** How many recent tasks resources/list offers (the template reads any task id). */
const LISTED_TASKS = 20;

const json = (uri: string, data: unknown): ReadResourceResult => ({
  contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(data, null, 2) }],
});

export function registerResources(server: McpServer, app: App): void {
  server.registerResource(
    'cluster-nodes',
    NODES_URI,
    {
      title: 'Cluster nodes',
      description: "Every node with status, OS/arch, cpu %, memory %, load, cores, work in flight and capabilities (the cluster monitor's last probe).",
      mimeType: 'application/json',
    },
    async (uri) => json(uri.href, await clusterStatus(statusSources(app), false)),
  );

  server.registerResource(
    'cluster-task',
    new ResourceTemplate(TASK_URI_TEMPLATE, {
      list: async () => ({
        resources: (await app.tasks.list(undefined, LISTED_TASKS)).map((t) => ({
          uri: `cluster://tasks/${t.task_id}`,
          name: t.task_id,
          description: `${t.state} on ${t.node || 'auto'}: ${t.command.slice(0, 120)}`,
          mimeType: 'application/json',
        })),
      }),
    }),
    {
      title: 'Task status',
      description: 'State of one task (running, or its full result once finished), as task_status returns it.',
      mimeType: 'application/json',
    },
    async (uri, vars) => {
      // The template matcher accepts any segment: check it like the task_status tool does.
      const raw = Array.isArray(vars.task_id) ? vars.task_id[0] : vars.task_id;
      const id = taskIdField.safeParse(decodeURIComponent(raw ?? ''));
      if (!id.success) throw new UserError(`not a task id: ${JSON.stringify(raw ?? '')}`);
      return json(uri.href, await app.tasks.status(id.data));
    },
  );

  server.registerResource(
    'cluster-task-stream',
    new ResourceTemplate(STREAM_URI_TEMPLATE, { list: undefined }),
    {
      title: 'Task output',
      description: `The full stdout or stderr of a task (up to ${STREAM_RESOURCE_MAX / 1024 / 1024} MiB; task_output pages through more).`,
      mimeType: 'text/plain',
    },
    async (uri, vars) => {
      const raw = Array.isArray(vars.task_id) ? vars.task_id[0] : vars.task_id;
      const stream = Array.isArray(vars.stream) ? vars.stream[0] : vars.stream;
      const id = taskIdField.safeParse(decodeURIComponent(raw ?? ''));
      if (!id.success || (stream !== 'stdout' && stream !== 'stderr'))
        throw new UserError(`not a task stream: ${uri.href} (cluster://tasks/<task_id>/stdout or /stderr)`);
      const parts: string[] = [];
      let size = 0;
      for (let offset = 0; size < STREAM_RESOURCE_MAX;) {
        const page = await app.tasks.output(id.data, stream, offset, Math.min(1024 * 1024, STREAM_RESOURCE_MAX - size));
        parts.push(page.data);
        size += page.next_offset - offset;
        offset = page.next_offset;
        if (page.eof || page.next_offset === page.offset) break;
      }
      return { contents: [{ uri: uri.href, mimeType: 'text/plain', text: parts.join('') }] };
    },
  );
}
