// Beyond one machine (issue H): the MCP server runs without a worker, and two worker processes
// with state dirs of their own (as on two other hosts, sharing only Temporal, the cluster file
// and the codec key) run everything. Every answer reaches the client through Temporal: results,
// a 1.2 MB output page by page (byte-exact), `logs -f` of a running command, a cancel.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnWorker, startFaultHarness, waitFor, type FaultHarness } from '../helpers/faults.js';
import { CLI, structured } from '../helpers/harness.js';

interface Result {
  task_id: string;
  state: string;
  success: boolean;
  stdout: string;
  executed_on: string;
  return_code: number | null;
  truncated: boolean;
}
interface Page {
  data: string;
  next_offset: number;
  eof: boolean;
  total_bytes: number;
  running?: boolean;
  encoding: string;
}

describe('several hosts: a serve without a worker, two workers with state dirs of their own', () => {
  let h: FaultHarness;
  const codecKey = randomBytes(32).toString('base64');
  before(async () => {
    h = await startFaultHarness({ nodes: 2, worker: false, env: { CLUSTERFLOW_CODEC_KEY: codecKey } });
    const address = await h.temporalAddress();
    const site = (name: string) => ({ CLUSTERFLOW_HOME: path.join(h.dir, name), TEMPORAL_ADDRESS: address, CLUSTERFLOW_CODEC_KEY: codecKey });
    // "Host A" runs the hub and n1; "host B" runs n2 and the local node.
    spawnWorker(h, ['--nodes', 'n1'], site('host-a'));
    spawnWorker(h, ['--no-hub', '--nodes', 'n2,local'], site('host-b'));
    await waitFor(
      'the workers to serve',
      async () => {
        const res = await h.mcp.callTool({ name: 'cluster_status', arguments: { refresh: true } });
        return (
          !res.isError &&
          Object.values(structured<{ nodes: Record<string, { status: string }> }>(res).nodes).every((n) => n.status === 'healthy' || n.status === 'busy')
        );
      },
      60_000,
      500,
    );
  });
  after(async () => {
    await h?.close();
  });

  it('offload and fan-out run on the workers; the serve that never ran them answers', async () => {
    const one = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo from n2; exit 4', node_id: 'n2' } }));
    assert.deepEqual([one.state, one.return_code, one.stdout, one.executed_on], ['failed', 4, 'from n2\n', 'n2']);
    const status = structured<Result>(await h.mcp.callTool({ name: 'task_status', arguments: { task_id: one.task_id } }));
    assert.equal(status.return_code, 4);
    const fan = structured<{ state: string; results: Result[] }>(
      await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands: ['echo a', 'echo b', 'exit 1', 'echo d'], wait_s: 60 } }),
    );
    assert.deepEqual(
      fan.results.map((r) => [r.stdout, r.return_code]),
      [
        ['a\n', 0],
        ['b\n', 0],
        ['', 1],
        ['d\n', 0],
      ],
    );
    // Neither the serve's state dir nor the MCP server's process holds any of it.
    assert.equal(existsSync(path.join(h.stateDir, 'output', one.task_id)), false, 'the serve stored the output itself');
    const sub = structured<Result>(
      await h.mcp.callTool({ name: 'task_status', arguments: { task_id: `${(fan as unknown as { task_id: string }).task_id}/1` } }),
    );
    assert.equal(sub.stdout, 'b\n');
  });

  it('task_output pages a 1.2 MB output byte for byte', async () => {
    // Binary-safe: random bytes, base64-encoded pages, compared by hash.
    const r = structured<Result>(
      await h.mcp.callTool({
        name: 'offload_to',
        arguments: { command: 'f=$(mktemp); head -c 1200000 /dev/urandom >"$f"; cat "$f"; sha256sum "$f" | cut -c1-64 >&2; rm -f "$f"', node_id: 'n1' },
      }),
    );
    assert.equal(r.truncated, true);
    const parts: Buffer[] = [];
    for (let offset = 0; ;) {
      const page = structured<Page>(
        await h.mcp.callTool({ name: 'task_output', arguments: { task_id: r.task_id, offset, limit: 512 * 1024, encoding: 'base64' } }),
      );
      parts.push(Buffer.from(page.data, 'base64'));
      offset = page.next_offset;
      if (page.eof) break;
    }
    const whole = Buffer.concat(parts);
    assert.equal(whole.length, 1_200_000);
    const err = structured<Page>(await h.mcp.callTool({ name: 'task_output', arguments: { task_id: r.task_id, stream: 'stderr' } }));
    assert.equal(createHash('sha256').update(whole).digest('hex'), err.data.trim());
  });

  it('logs -f streams a running command through Temporal, and a cancel stops it', async () => {
    const r = structured<Result>(
      await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo first; sleep 3; echo second', node_id: 'n2', wait_s: 0 } }),
    );
    const child = spawn(process.execPath, [CLI, 'logs', '-f', r.task_id], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.equal(out, 'first\nsecond\n');

    const long = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo started; sleep 60', node_id: 'n1', wait_s: 0 } }));
    await waitFor(
      'it to start',
      async () => {
        const res = await h.mcp.callTool({ name: 'task_output', arguments: { task_id: long.task_id } });
        return !res.isError && structured<Page>(res).data === 'started\n';
      },
      20_000,
      200,
    );
    const cancelled = structured<Result>(await h.mcp.callTool({ name: 'task_cancel', arguments: { task_id: long.task_id } }));
    assert.equal(cancelled.state, 'cancelled');
  });
});
