// Sessions and processes a user can see (issue H): a session that ends leaves nothing Running;
// `submit` after it either runs (a background worker starts) or says within seconds what to start;
// the background worker restarts on a config change and stops on request; SIGTERM ends a waiting
// `submit` with 143 and the task goes on; two serve sessions on one state dir hold a node's
// max_parallel between them (checked on the node).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { liveWorkers } from '../../src/runtime/workerRegistry.js';
import { temporalClient, waitFor } from '../helpers/faults.js';
import { CLI, startHarness, structured, type Harness } from '../helpers/harness.js';

interface Result {
  task_id: string;
  state: string;
  stdout: string;
  return_code: number | null;
  executed_on: string;
}

describe('sessions: an ending session leaves nothing running; the CLI starts, restarts and stops workers it can see', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ nodes: 2, extraNodeYaml: { n1: { max_parallel: 2 } } });
  });
  after(async () => {
    await h?.close();
  });

  it('the client closes stdin right after its answers: 10 s later every one of those workflows is Completed', async () => {
    const offload = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo a', node_id: 'n2' } }));
    const light = structured<Result>(await h.mcp.callTool({ name: 'cluster_bash', arguments: { command: 'echo b' } }));
    const fan = structured<{ task_id: string; state: string }>(
      await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands: ['echo c', 'echo d', 'echo e'] } }),
    );
    assert.deepEqual([offload.state, light.state, fan.state], ['completed', 'completed', 'completed']);
    const closedAt = Date.now();
    await h.mcp.close();
    const { client, close } = await temporalClient(h);
    try {
      await waitFor(
        'every workflow the session answered to be closed',
        async () => {
          const statuses = await Promise.all(
            [offload.task_id, light.task_id, fan.task_id].map(async (id) => (await client.workflow.getHandle(id).describe()).status.name),
          );
          return statuses.every((s) => s === 'COMPLETED');
        },
        10_000,
        200,
      );
    } finally {
      await close();
    }
    // The serve process itself is gone (drained, exited), so nothing serves the queues now.
    await waitFor('serve to exit', async () => liveWorkers(h.stateDir).length === 0, 40_000, 200);
    assert.ok(Date.now() - closedAt < 40_000);
  });

  it('submit with --no-start-worker and no worker fails within 10 s, naming the fix', async () => {
    const t = Date.now();
    const r = await h.cli(['submit', '--no-start-worker', '--node', 'n1', 'echo x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no worker serves this cluster's queues.*cluster-router worker/);
    assert.ok(Date.now() - t < 10_000, `took ${Date.now() - t} ms`);
  });

  it('submit right after the session ended starts a background worker and runs within 10 s', async () => {
    const t = Date.now();
    const r = await h.cli(['submit', '--node', 'n1', 'echo ran']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
    assert.ok(Date.now() - t < 10_000, `took ${Date.now() - t} ms`);
    const status = await h.cli(['worker', 'status']);
    assert.match(status.stdout, /worker \(background\) pid \d+/);
  });

  it('the background worker restarts itself when cluster.yaml changes', async () => {
    const before = liveWorkers(h.stateDir)
      .filter((w) => w.background)
      .map((w) => w.pid);
    assert.equal(before.length, 1);
    appendFileSync(h.cluster.configPath, '\n# changed by the test\n');
    await waitFor(
      'a new background worker',
      async () => {
        const now = liveWorkers(h.stateDir).filter((w) => w.background);
        return now.length === 1 && now[0]!.pid !== before[0];
      },
      30_000,
      200,
    );
    const r = await h.cli(['submit', '--no-start-worker', '--node', 'n2', 'echo after-restart']);
    assert.equal(r.stdout, 'after-restart\n', r.stderr);
  });

  it('SIGTERM ends a waiting submit with 143; the task goes on', async () => {
    const child = spawn(process.execPath, [CLI, 'submit', '--json', '--node', 'n2', 'sleep 3; echo done'], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    // Signalled once it waits for its task (the task runs), not while it is still starting up.
    await waitFor(
      'submit to wait on its running task',
      async () => {
        const list = await h.cli(['list', '--state', 'running', '--json']);
        return list.code === 0 && (JSON.parse(list.stdout) as unknown[]).length > 0;
      },
      20_000,
      100,
    );
    const t = Date.now();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 143, err);
    assert.ok(Date.now() - t < 2000, 'submit did not end at once on SIGTERM');
    const list = await h.cli(['list', '--json']);
    const last = (JSON.parse(list.stdout) as Array<{ task_id: string; state: string }>)[0]!;
    await waitFor(
      'the task to complete without its submitter',
      async () => {
        const s = await h.cli(['status', '--json', last.task_id]);
        return (JSON.parse(s.stdout) as Result).state === 'completed';
      },
      20_000,
      300,
    );
  });

  it('server status names the embedded server; worker stop stops the background worker', async () => {
    const server = await h.cli(['server', 'status']);
    assert.match(server.stdout, /^running: pid \d+, address 127\.0\.0\.1:\d+/);
    const stop = await h.cli(['worker', 'stop'], { timeoutMs: 60_000 });
    assert.match(stop.stdout, /stopped 1 worker/);
    assert.equal(liveWorkers(h.stateDir).length, 0);
  });

  it('two serve sessions on one state dir keep n1 within its max_parallel of 2 (checked on the node)', async () => {
    const sessions = await Promise.all(
      [0, 1].map(async () => {
        const c = new Client({ name: 'cf-session', version: '1' });
        await c.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'serve'], env: h.env, stderr: 'ignore' }));
        return c;
      }),
    );
    try {
      const dir = `/tmp/cf-conc-${Date.now()}`;
      // Each command counts the commands running beside it on the node, under a lock of the node's own.
      const command = `mkdir -p ${dir}; touch ${dir}/$$; ls ${dir} | wc -l >> ${dir}.seen; sleep 0.2; rm -f ${dir}/$$`;
      const results = await Promise.all(
        sessions.flatMap((c) =>
          Array.from({ length: 50 }, () =>
            c.callTool({ name: 'offload_to', arguments: { command, node_id: 'n1', wait_s: 300 } }, undefined, { timeout: 300_000 }),
          ),
        ),
      );
      assert.ok(results.every((r) => structured<Result>(r).state === 'completed'));
      const seen = structured<Result>(
        await sessions[0]!.callTool({
          name: 'offload_to',
          arguments: { command: `sort -n ${dir}.seen | tail -1; wc -l < ${dir}.seen; rm -rf ${dir} ${dir}.seen`, node_id: 'n1' },
        }),
      );
      const [max, count] = seen.stdout.trim().split('\n').map(Number);
      assert.equal(count, 100);
      assert.ok(max! <= 2, `${max} commands ran at once on n1 (max_parallel 2)`);
    } finally {
      await Promise.all(sessions.map((c) => c.close()));
    }
  });
});
