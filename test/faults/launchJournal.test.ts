// Fault: serve dies (SIGKILL) while a head-started command runs ahead of its workflow. Once a
// start has succeeded, serve runs a named node's command on its launch-journal record alone and
// starts the workflow after the command answered (here: after at most CLUSTERFLOW_START_DEFER_MS,
// made long so the crash falls in that window, before the answer). The next serve of the state dir recovers the
// journal: the run that had started is recorded by its workflow (re-attached, not run again),
// and an intent whose command never reached the node is claimed there first, so its workflow
// reports it cancelled before it started and it never runs late.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { WorkflowNotFoundError, type Client as TemporalClient } from '@temporalio/client';
import { openIntents } from '../../src/fastpath/launchJournal.js';
import type { CommandResult } from '../../src/shared.js';
import { resultOf, startFaultHarness, temporalClient, waitFor, type FaultHarness } from '../helpers/faults.js';
import { CLI, structured } from '../helpers/harness.js';

type Status = CommandResult & { state: string };

describe('fault: serve dies before the workflow of a command it launched exists', () => {
  let h: FaultHarness;
  let temporal: { client: TemporalClient; close(): Promise<void> };
  const sessions: StdioClientTransport[] = [];
  before(async () => {
    h = await startFaultHarness({ nodes: 1 });
    temporal = await temporalClient(h);
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => undefined);
    await temporal?.close();
    await h?.close();
  });

  /** Another `serve` on the harness's state dir (a session of its own), with extra env. */
  async function session(env: Record<string, string> = {}): Promise<{ mcp: Client; transport: StdioClientTransport }> {
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'serve'], env: { ...h.env, ...env }, stderr: 'ignore' });
    sessions.push(transport);
    const mcp = new Client({ name: 'cf-journal-test', version: '1' });
    await mcp.connect(transport);
    return { mcp, transport };
  }
  const offload = async (mcp: Client, command: string, waitS: number) =>
    structured<Status>(await mcp.callTool({ name: 'offload_to', arguments: { command, node_id: 'n1', wait_s: waitS } }));
  const exists = (taskId: string) =>
    temporal.client.workflow
      .getHandle(taskId)
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        },
      );

  it('the started run is recorded once by its workflow; the unsent one never runs', async () => {
    const journals = path.join(h.stateDir, 'launches');
    const count = `/tmp/cf-journal-${randomInt(1e8, 1e9)}`; // the node user's /tmp outlives the test
    const a = await session({ CLUSTERFLOW_START_DEFER_MS: '600000' });
    // The first command waits for its start (no start has succeeded in this process yet): it also warms it.
    assert.equal((await offload(a.mcp, 'true', 30)).state, 'completed');

    // Not answered before serve dies (an answer that says "running" has the workflow started first).
    void offload(a.mcp, `echo run >>${count}; sleep 3; echo done`, 30).catch(() => undefined);
    const pid = a.transport.pid!;
    const journalOf = () => (existsSync(journals) ? readdirSync(journals).find((f) => f.startsWith(`${pid}-`)) : undefined);
    await waitFor('its launch journal', () => journalOf() !== undefined, 10_000);
    const file = path.join(journals, journalOf()!);
    await waitFor('its intent in the journal', () => openIntents(file).length === 1, 10_000);
    const r = { task_id: openIntents(file)[0]!.taskId };
    // It has started on the node (its count line is there).
    await waitFor('the command to start', async () => (await offload(h.mcp, `cat ${count} 2>/dev/null`, 30)).stdout === 'run\n', 10_000);
    assert.equal(await exists(r.task_id), false, 'the workflow was started before its command answered');

    process.kill(pid, 'SIGKILL');
    await waitFor('the killed serve to be gone', () => !existsSync(`/proc/${pid}`), 10_000);

    // Another intent the dead process had recorded but never sent to the node.
    const unsent = { ...openIntents(file)[0]!, taskId: `cmd-${randomInt(1e8, 1e9)}-unsent` };
    unsent.spec = { ...unsent.spec, command: `echo late >>${count}.unsent`, workflowUrl: undefined };
    mkdirSync(journals, { recursive: true });
    writeFileSync(path.join(journals, '999999999-1.jsonl'), `${JSON.stringify({ open: unsent })}\n`, { mode: 0o600 });

    // A new serve recovers both at its start.
    await session();
    await waitFor('the recovery to start both workflows', async () => (await exists(r.task_id)) && exists(unsent.taskId), 20_000);
    const recorded = await resultOf(temporal.client, r.task_id);
    assert.deepEqual([recorded.state, recorded.return_code, recorded.stdout], ['completed', 0, 'done\n'], JSON.stringify(recorded));
    const never = await resultOf(temporal.client, unsent.taskId);
    assert.deepEqual([never.state, never.executed_on, never.error], ['cancelled', '', 'cancelled before it started'], JSON.stringify(never));
    await waitFor(
      'the recovered journals to be removed',
      () => readdirSync(journals).every((f) => !f.startsWith('999999999-') && !f.startsWith(`${pid}-`)),
      10_000,
    );

    const after = await offload(h.mcp, `cat ${count}; ls ${count}.unsent 2>&1; rm -f ${count}`, 30);
    assert.match(after.stdout, /^run\n.*No such file/s, `ran twice, or the unsent command ran late: ${after.stdout}`);
  });

  it("a fan-out: its head-started batches' runs are recorded once; an unsent fan-out's commands never run", async () => {
    const journals = path.join(h.stateDir, 'launches');
    const count = `/tmp/cf-journal-fan-${randomInt(1e8, 1e9)}`;
    const a = await session({ CLUSTERFLOW_START_DEFER_MS: '600000' });
    assert.equal((await offload(a.mcp, 'true', 30)).state, 'completed');
    // And a fan-out, so this serve has the cluster's state to place one before its start.
    const small = structured<{ task_id: string; state: string }>(await a.mcp.callTool({ name: 'parallel_execute', arguments: { commands: ['true', 'true'] } }));
    assert.equal(small.state, 'completed');
    // It ran entirely before its workflow started: recorded in one workflow task, with no runBatch.
    await resultOf(temporal.client, small.task_id);
    const events = (await temporal.client.workflow.getHandle(small.task_id).fetchHistory()).events ?? [];
    assert.deepEqual(
      [events.filter((e) => e.workflowTaskCompletedEventAttributes).length, events.filter((e) => e.activityTaskScheduledEventAttributes).length],
      [1, 0],
    );
    const commands = [0, 1, 2].map((i) => `echo run >>${count}.${i}; sleep 3; echo done ${i}`);
    // Not answered before serve dies (an answer that says "running" has the workflow started first).
    void a.mcp.callTool({ name: 'parallel_execute', arguments: { commands, wait_s: 30 } }).catch(() => undefined);
    const pid = a.transport.pid!;
    const file = path.join(
      journals,
      readdirSync(journals).find((f) => f.startsWith(`${pid}-`))!,
    );
    await waitFor('its intent in the journal', () => openIntents(file).some((i) => i.kind === 'parallel'), 10_000);
    const [intent] = openIntents(file);
    const fan = { task_id: intent!.taskId };
    await waitFor('every command to start', async () => (await offload(h.mcp, `cat ${count}.* 2>/dev/null | wc -l`, 30)).stdout.trim() === '3', 10_000);
    assert.equal(await exists(fan.task_id), false, 'the workflow was started before the fan-out answered');
    process.kill(pid, 'SIGKILL');
    await waitFor('the killed serve to be gone', () => !existsSync(`/proc/${pid}`), 10_000);
    const unsent = { ...intent!, taskId: `par-${randomInt(1e8, 1e9)}-unsent` };
    writeFileSync(path.join(journals, '999999998-1.jsonl'), `${JSON.stringify({ open: unsent })}\n`, { mode: 0o600 });

    await session();
    const done = (await resultOf(temporal.client, fan.task_id)) as unknown as { results: Status[] };
    assert.deepEqual(
      done.results.map((r) => [r.state, r.stdout]),
      [0, 1, 2].map((i) => ['completed', `done ${i}\n`]),
      JSON.stringify(done),
    );
    const never = (await resultOf(temporal.client, unsent.taskId)) as unknown as { results: Status[] };
    assert.deepEqual(
      never.results.map((r) => [r.state, r.executed_on]),
      [0, 1, 2].map(() => ['cancelled', '']),
      JSON.stringify(never),
    );
    const runs = await offload(h.mcp, `cat ${count}.* | wc -l; rm -f ${count}.*`, 30);
    assert.equal(runs.stdout.trim(), '3', 'a command of the fan-out ran twice, or one of the unsent fan-out ran');
  });
});
