// Issue C end to end: parallel_execute over 3 loopback sshd nodes + local, through the real MCP
// SDK client: results in input order with their own task ids, cancel mid-way (nothing left
// running on any node), progress notifications, and a fan-out no node can take.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CallToolResultSchema, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { startHarness, structured, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

interface Result {
  success: boolean;
  executed_on: string;
  stdout: string;
  stderr: string;
  return_code: number | null;
  task_id: string;
  state: string;
  error: string | null;
  route_reason: string;
}
interface Summary {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  by_node: Record<string, { succeeded: number; failed: number }>;
}
interface Fanout {
  task_id: string;
  state: string;
  results?: Result[];
  summary?: Summary;
  progress?: { total: number; done: number };
}

const NOT_STARTED = 'cancelled before it started';
// Every loopback node is this machine; fixed quiet figures keep a busy moment from skewing placement.
const QUIET = 'echo cpu_percent=10; echo memory_percent=20; echo load1=0.2';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Command lines on this machine (every loopback node runs here) that hold `fragment`, sshd aside. */
const processesWith = (fragment: string, user?: string): string[] =>
  execFileSync('ps', [...(user ? ['-u', user] : ['-e']), '-o', 'args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(fragment) && !l.includes('sshd'));
const until = (what: string, holds: () => boolean, limitMs = 20_000) => waitFor(what, holds, limitMs, 100);

describe('parallel_execute', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      nodes: 3,
      extraNodeYaml: Object.fromEntries(['local', 'n1', 'n2', 'n3'].map((id) => [id, { metrics_command: QUIET }])),
    });
  });
  after(async () => {
    await h?.close();
  });

  const call = async (name: string, args: Record<string, unknown>) => structured<Fanout & Result>(await h.mcp.callTool({ name, arguments: args }));
  /** task_status until the task is no longer running. */
  const settle = async (taskId: string, limitMs = 30_000): Promise<Fanout> => {
    for (const end = Date.now() + limitMs; Date.now() < end; await sleep(200)) {
      const s = await call('task_status', { task_id: taskId });
      if (s.state !== 'running') return s;
    }
    throw new Error(`${taskId} still running after ${limitMs} ms`);
  };

  it('50 commands with mixed exit codes: results in input order, each with its own task id and status', async () => {
    const commands = Array.from({ length: 50 }, (_, i) => `echo ${i}; exit ${i % 4}`);
    const r = await call('parallel_execute', { commands, max_parallel: 16, wait_s: 60 });
    assert.match(r.task_id, /^par-[0-9a-z]{26}$/);
    assert.equal(r.state, 'failed', 'some commands exit non-zero');
    assert.equal(r.results!.length, 50);
    const byNode: Record<string, { succeeded: number; failed: number }> = {};
    r.results!.forEach((c, i) => {
      assert.equal(c.task_id, `${r.task_id}/${i}`);
      assert.equal(c.stdout, `${i}\n`, `stdout of ${i}`);
      assert.equal(c.return_code, i % 4, `return_code of ${i}`);
      assert.equal(c.success, i % 4 === 0);
      assert.equal(c.state, i % 4 === 0 ? 'completed' : 'failed');
      assert.match(c.executed_on, /^(local|n[123])$/);
      const b = (byNode[c.executed_on] ??= { succeeded: 0, failed: 0 });
      if (c.success) b.succeeded++;
      else b.failed++;
    });
    assert.deepEqual(r.summary, { total: 50, succeeded: 13, failed: 37, cancelled: 0, by_node: byNode });
    assert.ok(Object.keys(byNode).length >= 2, `spread over several nodes: ${JSON.stringify(byNode)}`);
    for (const i of [0, 1, 2, 3, 17, 49]) {
      const s = await call('task_status', { task_id: `${r.task_id}/${i}` });
      assert.deepEqual(s, r.results![i], `task_status of command ${i}`);
      // A command of a fan-out has no workflow of its own: it links to the fan-out's page.
      assert.match((s as unknown as { workflow_url: string }).workflow_url, new RegExp(`/workflows/${r.task_id}$`));
    }
    const parent = await call('task_status', { task_id: r.task_id });
    assert.deepEqual(parent.summary, r.summary);
    // The MCP server may answer from its in-process worker; the workflow records the same result.
    const recorded = await h.temporal(['workflow', 'result', '-w', r.task_id, '-o', 'json']);
    assert.equal(recorded.code, 0, recorded.stderr);
    const wf = JSON.parse(recorded.stdout) as { result?: Fanout } & Fanout;
    const final = wf.result ?? wf;
    assert.deepEqual(final.summary, r.summary);
    assert.deepEqual(
      final.results!.map((c) => [c.task_id, c.return_code, c.stdout]),
      r.results!.map((c) => [c.task_id, c.return_code, c.stdout]),
    );
    // serve placed the fan-out before the start and launched every node's batch itself (it serves
    // them all): the input names them. The first workflow task records the batches that already
    // ended (fanoutHeadStartResults, a local activity; a process's first start is not journaled,
    // so its launches waited for it and some may still run) and sends the rest to runBatch, told
    // to take that launch: one batch per node either way, no placeBatch.
    const shown = await h.temporal(['workflow', 'show', '-w', r.task_id, '-o', 'json']);
    assert.equal(shown.code, 0, shown.stderr);
    type Event = {
      eventId: string;
      eventType: string;
      markerRecordedEventAttributes?: { markerName: string };
      activityTaskScheduledEventAttributes?: { workflowTaskCompletedEventId: string; input?: unknown };
      workflowExecutionStartedEventAttributes?: { input?: unknown };
    };
    const events = (JSON.parse(shown.stdout) as { events: Event[] }).events;
    const decoded = (input: unknown) =>
      JSON.parse(Buffer.from((input as { payloads: Array<{ data: string }> }).payloads[0]!.data, 'base64').toString()) as {
        headStart?: unknown;
        nodeId?: string;
      };
    assert.deepEqual((decoded(events[0]!.workflowExecutionStartedEventAttributes!.input).headStart as string[]).sort(), Object.keys(byNode).sort());
    const firstTask = events.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')!.eventId;
    const batches = events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes] : []));
    for (const b of batches) {
      assert.equal(b.workflowTaskCompletedEventId, firstTask, 'every batch is sent by the first workflow task');
      assert.equal(decoded(b.input).headStart, true);
    }
    const sentTo = batches.map((b) => decoded(b.input).nodeId!);
    assert.equal(new Set(sentTo).size, sentTo.length, `one batch per node: ${sentTo.join(', ')}`);
    const firstSchedule = events.findIndex((e) => e.activityTaskScheduledEventAttributes);
    assert.deepEqual(
      events
        .slice(0, firstSchedule < 0 ? undefined : firstSchedule)
        .flatMap((e) => (e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes.markerName] : []))
        .slice(0, 2),
      ['core_patch', 'core_local_activity'],
      "one patch marker (lean), and the head start's ended batches asked for once",
    );
  });

  it('cancelling a fan-out mid-way kills what runs, never starts the rest, and leaves nothing on any node', async () => {
    // A unique sleep length marks this test's processes (other tests share the node users).
    const mark = `30.${randomInt(100_000, 999_999)}`;
    const commands = Array.from({ length: 30 }, (_, i) => `sleep ${mark}; echo done-${i}`);
    const started = await call('parallel_execute', { commands, max_parallel: 3, wait_s: 0 });
    assert.equal(started.state, 'running');
    assert.match(started.task_id, /^par-/);
    // max_parallel bounds what runs at once across the cluster: three sleeps, then no more.
    await until('three commands running', () => processesWith(`sleep ${mark}`).filter((l) => l.startsWith('sleep')).length === 3);
    const ack = await call('task_cancel', { task_id: started.task_id });
    const r = ack.state === 'running' ? await settle(started.task_id) : ack;
    assert.equal(r.state, 'cancelled');
    const results = r.results!;
    assert.equal(results.length, 30);
    for (const c of results) {
      assert.equal(c.state, 'cancelled', `${c.task_id}: ${JSON.stringify(c)}`);
      assert.equal(c.success, false);
      assert.doesNotMatch(c.stdout, /done-/, `${c.task_id} finished after the cancel`);
    }
    const killed = results.filter((c) => c.error !== NOT_STARTED);
    assert.equal(killed.length, 3, `running at cancel: ${JSON.stringify(killed)}`);
    for (const c of killed) {
      assert.match(c.error ?? '', /cancelled; the command's process group was killed on /);
      assert.match(c.executed_on, /^(local|n[123])$/);
    }
    for (const c of results.filter((x) => x.error === NOT_STARTED)) assert.equal(c.executed_on, '', `${c.task_id} never ran anywhere`);
    // The summary: all cancelled, and by_node counts only the commands that ran.
    const s = r.summary!;
    assert.deepEqual([s.total, s.succeeded, s.failed, s.cancelled], [30, 0, 0, 30]);
    const ranByNode: Record<string, number> = {};
    for (const c of killed) ranByNode[c.executed_on] = (ranByNode[c.executed_on] ?? 0) + 1;
    assert.deepEqual(Object.fromEntries(Object.entries(s.by_node).map(([id, b]) => [id, b.succeeded + b.failed])), ranByNode);
    // Every node's user (and ours, for the local node): nothing of this fan-out survives.
    for (const user of [...h.cluster.nodes.map((n) => n.user), userInfo().username]) {
      assert.deepEqual(processesWith(`sleep ${mark}`, user), [], `still running as ${user}`);
    }
    const one = await call('task_status', { task_id: `${r.task_id}/29` });
    assert.equal(one.state, 'cancelled');
  });

  it('cancelling one command of a fan-out stops only it, whether running or not yet started', async () => {
    // Commands wait for a gate the test opens. Two nodes, one command at a time each, three
    // commands each in index order: 0 starts at once, 5 waits behind its node's others.
    const gate = path.join(h.dir, `gate-${randomInt(1e9)}`);
    // A command is running when its own sleep is (the runner's argv holds every command of its chunk).
    const mark = randomInt(1e6);
    const commands = Array.from({ length: 6 }, (_, i) => `while [ ! -e ${gate} ]; do sleep 0.1${i}${mark}; done; echo ok-${i}`);
    const launched = (i: number) => processesWith(`sleep 0.1${i}${mark}`).some((l) => l.startsWith('sleep'));
    const { task_id: id } = await call('parallel_execute', { commands, max_parallel: 2, wait_s: 0 });
    await until('two commands running, 0 among them', () => launched(0) && [1, 2, 3, 4, 5].filter(launched).length === 1);
    assert.equal(launched(5), false, "command 5 should wait behind its node's first");
    const running = await call('task_cancel', { task_id: `${id}/0` });
    assert.equal(running.state, 'cancelled', JSON.stringify(running));
    assert.match(running.error ?? '', /process group was killed/);
    // Answered while the gate is shut, so its batch never reached it: skipped when the stop arrived.
    const queued = await call('task_cancel', { task_id: `${id}/5` });
    assert.equal(queued.state, 'cancelled', JSON.stringify(queued));
    assert.equal(queued.error, NOT_STARTED);
    assert.equal(queued.executed_on, '');
    writeFileSync(gate, '');
    const r = await settle(id);
    assert.deepEqual(
      r.results!.map((c) => c.state),
      ['cancelled', 'completed', 'completed', 'completed', 'completed', 'cancelled'],
    );
    for (const i of [1, 2, 3, 4]) assert.equal(r.results![i]!.stdout, `ok-${i}\n`);
    assert.equal(r.results![0]!.stdout, '');
    assert.deepEqual([r.summary!.succeeded, r.summary!.failed, r.summary!.cancelled], [4, 0, 2]);
    assert.deepEqual(processesWith(gate), []);
  });

  it("task_output reads a running fan-out command's output live from its node", async () => {
    const f = await call('parallel_execute', { commands: ['echo early; sleep 3; echo late', 'true'], wait_s: 0 });
    assert.equal(f.state, 'running');
    let live: { data?: string; running?: boolean } = {};
    for (const end = Date.now() + 2500; Date.now() < end && live.data !== 'early\n'; await sleep(100)) {
      const res = await h.mcp.callTool({ name: 'task_output', arguments: { task_id: `${f.task_id}/0` } });
      if (!res.isError) live = structured(res);
    }
    assert.deepEqual([live.data, live.running], ['early\n', true], JSON.stringify(live));
    await settle(f.task_id);
    const stored = structured<{ data: string; running?: boolean }>(await h.mcp.callTool({ name: 'task_output', arguments: { task_id: `${f.task_id}/0` } }));
    assert.deepEqual([stored.data, stored.running], ['early\nlate\n', undefined]);
  });

  it("runs a node's batches chained: the next batch's activity waits for the lanes of the one before; all 4,400 succeed", async () => {
    // 4,400 commands over the 4 nodes: over BATCH_MAX (1,000) on each, so two child batches per node.
    const n = 4400;
    const r = await call('parallel_execute', { commands: Array.from({ length: n }, (_, i) => `test ${i} -ge 0`), wait_s: 180 });
    assert.equal(r.state, 'completed');
    assert.deepEqual([r.summary?.succeeded, r.summary?.failed], [n, 0]);
    type Event = {
      childWorkflowExecutionStartedEventAttributes?: { workflowExecution: { workflowId: string } };
      activityTaskScheduledEventAttributes?: { input?: { payloads?: Array<{ data?: string }> } };
    };
    const events = async (id: string) => {
      const out = await h.temporal(['workflow', 'show', '-w', id, '-o', 'json']);
      assert.equal(out.code, 0, out.stderr);
      return (JSON.parse(out.stdout) as { events: Event[] }).events;
    };
    // Which child started when is the workflow test's (fanout.test, with a first batch that waits);
    // here, on real nodes, each second batch ran as the chained one: its activity named the first.
    const children = (await events(r.task_id)).flatMap((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution.workflowId ?? []);
    const seconds = children.filter((id) => id.endsWith('-1'));
    assert.ok(seconds.length > 0, `some node got a second batch: ${children.join(', ')}`);
    for (const second of seconds) {
      const scheduled = (await events(second)).find((e) => e.activityTaskScheduledEventAttributes)!;
      const input = JSON.parse(Buffer.from(scheduled.activityTaskScheduledEventAttributes!.input!.payloads![0]!.data!, 'base64').toString()) as {
        after?: string;
      };
      assert.equal(input.after, second.replace(/-1$/, '-0'));
    }
    const one = await call('task_status', { task_id: `${r.task_id}/4000` });
    assert.deepEqual([one.state, one.return_code], ['completed', 0]);
  });

  it('output that JSON escapes past the payload limit is cut in the record (head, tail, a note), not lost; task_output has it all', async () => {
    // Each command: 4,000 control characters on each stream, 6 bytes each as JSON: 4.8 MB for 100 commands.
    const n = 100;
    const noisy = "head -c 4000 /dev/zero | tr '\\0' '\\1'; head -c 4000 /dev/zero | tr '\\0' '\\2' >&2";
    const r = await call('parallel_execute', { commands: Array.from({ length: n }, () => noisy), wait_s: 120 });
    assert.equal(r.state, 'completed');
    assert.equal(r.summary?.succeeded, n);
    // The workflow recorded its result (it would fail to complete with one over the limit).
    const recorded = await h.temporal(['workflow', 'result', '-w', r.task_id, '-o', 'json']);
    assert.equal(recorded.code, 0, recorded.stderr);
    const wf = JSON.parse(recorded.stdout) as { result?: Fanout } & Fanout;
    const final = wf.result ?? wf;
    assert.equal(final.summary?.succeeded, n);
    assert.equal(final.results?.length, n);
    const cutOne = final.results![0]! as Result & { truncated: boolean };
    assert.equal(cutOne.truncated, true);
    assert.match(cutOne.stdout, /^\x01+\n\[\.\.\. \d+ characters omitted to fit Temporal's payload limit; read them with task_output \.\.\.\]\n\x01+$/);
    const full = structured<{ data: string; total_bytes: number }>(
      await h.mcp.callTool({ name: 'task_output', arguments: { task_id: cutOne.task_id, stream: 'stderr' } }),
    );
    assert.equal(full.total_bytes, 4000);
    assert.equal(full.data, '\x02'.repeat(4000));
  });

  it('a fan-out too big for one Temporal payload is refused up front, saying why', async () => {
    const commands = Array.from({ length: 800 }, (_, i) => `echo ${i} ${'x'.repeat(2500)}`);
    const res = await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands } });
    assert.equal(res.isError, true);
    const text = (res.content as Array<{ text: string }>)[0]!.text;
    assert.match(text, /fan-out of 800 commands is 1\.9 MiB .*limit is 1\.5 MiB.*split it/);
  });

  it('sends progress notifications (done/total) while it waits', async () => {
    const seen: Progress[] = [];
    const res = await h.mcp.callTool(
      { name: 'parallel_execute', arguments: { commands: Array.from({ length: 20 }, () => 'sleep 0.5'), max_parallel: 2, wait_s: 60 } },
      CallToolResultSchema,
      { onprogress: (p) => seen.push(p), resetTimeoutOnProgress: true },
    );
    const r = structured<Fanout & { duration_ms: number }>(res);
    assert.equal(r.state, 'completed');
    assert.equal(r.summary!.succeeded, 20);
    // Two at a time over four nodes: ten rounds of half a second, not fewer.
    assert.ok(r.duration_ms >= 10 * 500, `20 × sleep 0.5 two at a time took ${r.duration_ms} ms`);
    assert.ok(seen.length >= 1, 'no progress notification');
    for (const p of seen) {
      assert.equal(p.total, 20);
      assert.ok(p.progress >= 0 && p.progress <= 20, `progress ${p.progress}`);
    }
    assert.ok(
      seen.some((p) => p.progress > 0),
      `progress never moved: ${JSON.stringify(seen)}`,
    );
    for (let k = 1; k < seen.length; k++) assert.ok(seen[k]!.progress >= seen[k - 1]!.progress, 'progress went backwards');
  });

  it('a fan-out no node can take is an error naming why each node was excluded (as cluster_bash)', async () => {
    const commands = ['echo a', 'echo b', 'echo c'];
    const res = await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands, requires_os: 'macos', wait_s: 30 } });
    assert.equal(res.isError, true);
    const text = (res.content as Array<{ text: string }>)[0]!.text;
    for (const id of ['n1', 'n2', 'n3']) assert.match(text, new RegExp(`${id}.*linux`), `reason for ${id} in: ${text}`);
    const r = res.structuredContent as unknown as Fanout;
    assert.equal(r.state, 'failed');
    assert.equal(r.results!.length, 3);
    for (const c of r.results!) {
      assert.equal(c.success, false);
      assert.equal(c.executed_on, '');
      assert.match(c.error ?? '', /macos/);
    }
    const single = await h.mcp.callTool({ name: 'cluster_bash', arguments: { command: 'make -v', requires_os: 'macos' } });
    assert.equal(single.isError, true, 'cluster_bash answers the same way');
  });
});
