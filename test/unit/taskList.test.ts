// task_list right after an answer: a task whose workflow this process starts after answering
// (a journaled head start) is listed, though Temporal's visibility shows it only a moment later.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { PendingStarts } from '../../src/client/pendingStarts.js';
import { listTasks } from '../../src/client/taskList.js';

/** A Temporal client whose visibility lists `visible` (newest first), and the queries it was asked. */
function stubClient(visible: string[]) {
  const queries: string[] = [];
  const client = {
    workflow: {
      async *list({ query }: { query: string }) {
        queries.push(query);
        for (const id of [...visible]) {
          yield {
            workflowId: id,
            status: { name: 'COMPLETED' },
            typedSearchAttributes: { get: () => undefined },
            memo: { command: `echo ${id}` },
            startTime: new Date(0),
          };
        }
      },
    },
  } as unknown as Client;
  return { client, queries };
}

const url = (id: string) => `http://ui/${id}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('listTasks', () => {
  test('starts the pending starts now and waits until visibility shows them', async () => {
    const visible = ['cmd-old'];
    const { client, queries } = stubClient(visible);
    const pending = new PendingStarts();
    let startedAt = 0;
    // Deferred for 10 s unless hurried; visibility shows it 120 ms after the start.
    pending.track('cmd-new', async (hurry) => {
      await Promise.race([hurry, sleep(10_000)]);
      startedAt = Date.now();
      setTimeout(() => visible.unshift('cmd-new'), 120);
    });
    const t0 = Date.now();
    const listed = await listTasks(client, pending, url, undefined, 50);
    assert.deepEqual(
      listed.map((t) => t.task_id),
      ['cmd-new', 'cmd-old'],
    );
    assert.ok(startedAt - t0 < 1000, 'the start was hurried');
    assert.ok(queries.length >= 2, 'asked again until the task showed');
    assert.equal(listed[0]!.command, 'echo cmd-new');
    assert.equal(listed[0]!.workflow_url, 'http://ui/cmd-new');
  });

  test('a state filter, or a full list, does not wait for a task that may not match', async () => {
    const { client, queries } = stubClient(['cmd-a', 'cmd-b']);
    const pending = new PendingStarts();
    pending.track('cmd-never-listed', async () => undefined);
    const t0 = Date.now();
    assert.equal((await listTasks(client, pending, url, 'failed', 50)).length, 2);
    assert.equal((await listTasks(client, pending, url, undefined, 2)).length, 2);
    assert.ok(Date.now() - t0 < 500);
    assert.equal(queries.length, 2);
    assert.match(queries[0]!, /ClusterState = 'failed'/);
  });

  test('gives up waiting after a second: a task visibility never shows is left out', async () => {
    const { client, queries } = stubClient(['cmd-a']);
    const pending = new PendingStarts();
    pending.track('cmd-lost', async (hurry) => hurry);
    const t0 = Date.now();
    const listed = await listTasks(client, pending, url, undefined, 50);
    const took = Date.now() - t0;
    assert.deepEqual(
      listed.map((t) => t.task_id),
      ['cmd-a'],
    );
    assert.ok(took >= 950 && took < 3000, `took ${took} ms`);
    assert.ok(queries.length > 5, `asked ${queries.length} times`);
  });
});
