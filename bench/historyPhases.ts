// Where a call's time goes, for any workflow shape: the calls' histories (server event times,
// the same clock as the bench) cut at every workflow task, activity (by type) and the ends,
// each segment named by the two events around it; p50 over the calls of each segment.
import { Client, Connection } from '@temporalio/client';
import { fmtMs, printTable, summarize } from './common.js';

export interface TimedCall {
  taskId: string;
  sentAt: number;
  answeredAt: number;
}

// temporal.api.enums.v1.EventType
const NAMES: Record<number, string> = {
  1: 'workflow started',
  2: 'workflow completed',
  5: 'workflow task scheduled',
  6: 'workflow task started',
  7: 'workflow task completed',
  10: 'scheduled',
  11: 'started',
  12: 'completed',
};

/** Event label list of one history: [label, ms since epoch]. */
function marks(events: Array<Record<string, unknown>>): Array<[string, number]> {
  const activityOf = new Map<string, string>();
  const out: Array<[string, number]> = [];
  for (const e of events) {
    const type = Number(e.eventType);
    const t = e.eventTime as { seconds?: unknown; nanos?: number } | undefined;
    const at = Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
    if (type === 10) {
      const a = e.activityTaskScheduledEventAttributes as { activityType?: { name?: string } };
      activityOf.set(String(e.eventId), a.activityType?.name ?? '?');
    }
    const ref = (e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes) as { scheduledEventId?: unknown } | undefined;
    const name = NAMES[type];
    if (!name) continue;
    if (type >= 10) out.push([`${type === 10 ? activityOf.get(String(e.eventId)) : activityOf.get(String(ref?.scheduledEventId))} ${name}`, at]);
    else out.push([name, at]);
  }
  return out;
}

export async function printPhases(address: string, namespace: string, title: string, calls: readonly TimedCall[]): Promise<void> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const segs = new Map<string, number[]>();
  try {
    for (const call of calls) {
      const history = await client.workflow.getHandle(call.taskId).fetchHistory();
      const m: Array<[string, number]> = [['MCP request sent', call.sentAt], ...marks((history.events ?? []) as Array<Record<string, unknown>>)];
      m.push(['MCP answer', call.answeredAt]);
      m.sort((a, b) => a[1] - b[1]);
      const seen = new Map<string, number>();
      for (let i = 1; i < m.length; i++) {
        const base = `${m[i - 1]![0]} → ${m[i]![0]}`;
        const n = (seen.get(base) ?? 0) + 1;
        seen.set(base, n);
        const label = n > 1 ? `${base} (${n})` : base;
        (segs.get(label) ?? segs.set(label, []).get(label)!).push(m[i]![1] - m[i - 1]![1]);
      }
    }
  } finally {
    await connection.close();
  }
  printTable(
    title,
    ['segment (event → next event, in time order)', 'calls', 'p50 ms', 'max ms'],
    [...segs].map(([label, v]) => {
      const s = summarize(v);
      return [label, s.n, fmtMs(s.p50), fmtMs(s.max)];
    }),
  );
}
