// TaskStarter (client/taskStart.ts): when a deferred start goes out, that it is retried
// until the workflow exists (a command's after 50 ms at most, a fan-out's after 1 s), and when
// launches may run on their journal record (healthy).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { DEFAULT_FANOUT_START_DEFER_MS, DEFAULT_START_DEFER_MS, TaskStarter } from '../../src/client/taskStart.js';
import type { CommandSpec } from '../../src/shared.js';

const spec: CommandSpec = { command: 'true', nodeId: 'n1', requires: {}, weight: 'light', classifyReason: 'test', timeoutS: 60, headStart: true };

/** A client whose start fails with the given errors in turn, then succeeds; it records each call's time and options. */
function stubClient(failures: Error[]) {
  const calls: Array<{ at: number; opts: Record<string, unknown> }> = [];
  const client = {
    workflow: {
      start: async (_type: string, opts: Record<string, unknown>) => {
        calls.push({ at: Date.now(), opts });
        const err = failures.shift();
        if (err) throw err;
        return { workflowId: opts.workflowId };
      },
      getHandle: (workflowId: string) => ({ workflowId }),
    },
  } as unknown as Client;
  return { client, calls };
}

describe('command starter', () => {
  test('a start that succeeds makes it healthy; one that fails does not', async () => {
    const { client } = stubClient([new Error('unavailable')]);
    const starter = new TaskStarter(client, () => ['true']);
    assert.equal(starter.healthy, false);
    await assert.rejects(starter.start('cmd-1', spec), /unavailable/);
    assert.equal(starter.healthy, false);
    await starter.start('cmd-2', spec);
    assert.equal(starter.healthy, true);
  });

  test('a deferred start goes out when the command answered, not before, and never runs a closed workflow again', async () => {
    const { client, calls } = stubClient([]);
    const starter = new TaskStarter(client, () => ['true'], 60_000);
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const started = starter.deferred({ taskId: 'cmd-1', spec }, answered);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls.length, 0, 'started before the answer');
    answer();
    await started;
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.opts.workflowIdReusePolicy, WorkflowIdReusePolicy.REJECT_DUPLICATE);
  });

  test('a deferred start goes out after deferMs for a command still running', async () => {
    const { client, calls } = stubClient([]);
    const t0 = Date.now();
    await new TaskStarter(client, () => ['true'], 30).deferred({ taskId: 'cmd-1', spec }, new Promise(() => undefined));
    assert.equal(calls.length, 1);
    assert.ok(calls[0]!.at - t0 >= 25, `started after ${calls[0]!.at - t0} ms`);
  });

  test('without CLUSTERFLOW_START_DEFER_MS, a command still running starts after 50 ms and a fan-out after 1 s', async () => {
    const { client, calls } = stubClient([]);
    const starter = new TaskStarter(client, () => ['true']);
    const never = new Promise(() => undefined);
    const t0 = Date.now();
    const fanout = starter.deferred({ taskId: 'par-1', kind: 'parallel', spec: { commands: ['true'], requires: {}, maxParallel: 8, timeoutS: 60 } }, never);
    await starter.deferred({ taskId: 'cmd-1', spec }, never);
    assert.deepEqual(
      calls.map((c) => c.opts.workflowId),
      ['cmd-1'],
    );
    assert.ok(
      calls[0]!.at - t0 >= DEFAULT_START_DEFER_MS - 5 && calls[0]!.at - t0 < DEFAULT_FANOUT_START_DEFER_MS / 2,
      `command after ${calls[0]!.at - t0} ms`,
    );
    await fanout;
    assert.ok(calls[1]!.at - t0 >= DEFAULT_FANOUT_START_DEFER_MS - 5, `fan-out after ${calls[1]!.at - t0} ms`);
  });

  test('a failing deferred start is retried, backing off, until it succeeds; "already started" counts as started', async () => {
    const { client, calls } = stubClient([
      new Error('unavailable'),
      new Error('unavailable'),
      new WorkflowExecutionAlreadyStartedError('exists', 'cmd-1', 'commandWorkflow'),
    ]);
    const starter = new TaskStarter(client, () => ['true'], 0);
    // Its retry timers do not hold a process open (serve's end must not wait for Temporal): this test's does.
    const keepAlive = setInterval(() => undefined, 1000);
    await starter.deferred({ taskId: 'cmd-1', spec }, Promise.resolve()).finally(() => clearInterval(keepAlive));
    assert.equal(calls.length, 3);
    const gaps = [calls[1]!.at - calls[0]!.at, calls[2]!.at - calls[1]!.at];
    assert.ok(gaps[0]! >= 200 && gaps[1]! >= 2 * gaps[0]! - 50, `retry gaps ${gaps.join(', ')} ms`);
    assert.equal(starter.healthy, true);
  });
});
