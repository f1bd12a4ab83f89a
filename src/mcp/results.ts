// How tool answers look: structured content with the same data as text (lean when big), a link
// to the full output when a result carries only its head and tail, isError for what the agent
// must act on, and progress notifications while a call waits (only when the caller asked).
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { UserError, type TaskStatus } from '../client/tasks.js';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Results bigger than this as JSON get a one-line summary as their text; the data is in structuredContent. */
const TEXT_JSON_MAX = 16 * 1024;

export const streamUri = (taskId: string, stream: 'stdout' | 'stderr'): string => `cluster://tasks/${taskId}/${stream}`;

export function toolResult(data: TaskStatus | Record<string, unknown>): CallToolResult {
  const json = JSON.stringify(data);
  const content: CallToolResult['content'] = [{ type: 'text', text: json.length > TEXT_JSON_MAX ? summaryLine(data) : JSON.stringify(data, null, 2) }];
  // A command whose output was cut to head + tail: links to the whole streams.
  const r = data as { task_id?: string; truncated?: boolean; stdout?: string };
  if (r.truncated && typeof r.task_id === 'string' && typeof r.stdout === 'string') {
    for (const stream of ['stdout', 'stderr'] as const) {
      content.push({
        type: 'resource_link',
        uri: streamUri(r.task_id, stream),
        name: `${r.task_id} ${stream}`,
        mimeType: 'text/plain',
        description: `the full ${stream} of ${r.task_id}`,
      });
    }
  }
  return { content, structuredContent: data as Record<string, unknown> };
}

/** A big result's text: what it is and where the rest is, not the same JSON twice. */
function summaryLine(data: unknown): string {
  const d = data as {
    task_id?: string;
    state?: string;
    summary?: { total: number; succeeded: number; failed: number; cancelled: number };
    return_code?: number | null;
  };
  const what = d.summary
    ? `fan-out ${d.task_id}: ${d.state}, ${d.summary.succeeded} ok, ${d.summary.failed} failed, ${d.summary.cancelled} cancelled of ${d.summary.total}`
    : `task ${d.task_id}: ${d.state}${d.return_code !== undefined && d.return_code !== null ? `, exit ${d.return_code}` : ''}`;
  return `${what}. The full result is in structuredContent (too big to repeat here as text).`;
}

/** A refusal or failure the agent should read: isError with the message, and the server stays up. */
export function toolError(err: unknown): CallToolResult {
  const msg = err instanceof UserError ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`;
  return { isError: true, content: [{ type: 'text', text: msg }] };
}

/** Any failure of a handler becomes an isError result: the agent reads it, the server stays up. */
export function safely<A>(handler: (args: A, extra: Extra) => Promise<CallToolResult>): (args: A, extra: Extra) => Promise<CallToolResult> {
  return async (args, extra) => {
    try {
      return await handler(args, extra);
    } catch (err) {
      return toolError(err);
    }
  };
}

/** Progress while waiting (done/total, or elapsed seconds), only when the caller asked for it. */
export async function withProgress<T>(extra: Extra, work: () => Promise<T>, total?: () => { progress: number; total?: number; message?: string }): Promise<T> {
  const token = extra._meta?.progressToken;
  if (token === undefined) return work();
  const started = Date.now();
  let last = -1;
  const timer = setInterval(() => {
    const p = total?.() ?? { progress: Math.round((Date.now() - started) / 1000), message: 'seconds elapsed' };
    // The spec wants progress to increase with every notification: send only when it moved.
    if (p.progress <= last) return;
    last = p.progress;
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, ...p } }).catch(() => undefined);
  }, 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * The client cancelled the call (notifications/cancelled): the task it started is cancelled too,
 * as task_cancel would, and the wait ends.
 */
export async function untilCancelled<T>(extra: Extra, cancel: () => Promise<unknown>, work: Promise<T>): Promise<T> {
  if (extra.signal.aborted) void cancel().catch(() => undefined);
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      void cancel().catch(() => undefined);
      reject(new UserError('the client cancelled the call; its task was cancelled'));
    };
    extra.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    return await Promise.race([work, aborted]);
  } finally {
    extra.signal.removeEventListener('abort', onAbort);
  }
}
