// Issue C end to end: the life of a long task. Output far beyond what a result carries is paged
// back byte for byte; wait_s: 0 hands back a task id that status / list / the CLI follow to the
// end; a task outlives the MCP server that started it; search attributes find tasks by node/kind.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { markedProcesses, waitFor } from '../helpers/faults.js';
import { CLI, startHarness, structured, type Harness } from '../helpers/harness.js';

interface Result {
  task_id: string;
  state: string;
  success?: boolean;
  executed_on?: string;
  stdout?: string;
  stderr?: string;
  return_code?: number | null;
  truncated?: boolean;
  error?: string | null;
}
interface Page {
  offset: number;
  next_offset: number;
  total_bytes: number;
  eof: boolean;
  data: string;
  encoding: string;
}
interface Listed {
  task_id: string;
  state: string;
  node: string;
  command: string;
}

const MiB = 1024 * 1024;
// Deterministic and never repeating, so a page lost, doubled or shifted changes the checksum.
const STDOUT_BYTES = 20 * MiB;
const STDERR_BYTES = 3 * MiB;
const GEN_OUT = `seq 1 3000000 | head -c ${STDOUT_BYTES}`;
const GEN_ERR = `seq 5000000 6000000 | head -c ${STDERR_BYTES}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('task lifecycle', () => {
  let h: Harness;
  let restarted: Client | undefined;
  before(async () => {
    h = await startHarness({ nodes: 2 });
  });
  after(async () => {
    await restarted?.close();
    await h?.close();
  });

  const call = async <T = Result>(name: string, args: Record<string, unknown>) => structured<T>(await h.mcp.callTool({ name, arguments: args }));
  const settle = async (taskId: string, limitMs = 30_000): Promise<Result> => {
    for (const end = Date.now() + limitMs; Date.now() < end; await sleep(200)) {
      const s = await call('task_status', { task_id: taskId });
      if (s.state !== 'running') return s;
    }
    throw new Error(`${taskId} still running after ${limitMs} ms`);
  };
  /** Visibility (list queries) trails the workflow by a moment: ask until `found` holds. */
  const eventually = async <T>(what: string, ask: () => Promise<T>, found: (v: T) => boolean, limitMs = 10_000): Promise<T> => {
    let last: T;
    for (const end = Date.now() + limitMs; ; await sleep(250)) {
      last = await ask();
      if (found(last)) return last;
      if (Date.now() > end) assert.fail(`${what}: not found in ${JSON.stringify(last).slice(0, 2000)}`);
    }
  };
  const pageAll = async (taskId: string, stream: 'stdout' | 'stderr', total: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for (let offset = 0, pages = 0; ; pages++) {
      const p = await call<Page>('task_output', { task_id: taskId, stream, offset, limit: MiB });
      assert.equal(p.offset, offset);
      assert.equal(p.total_bytes, total);
      const bytes = Buffer.from(p.data, 'utf8');
      assert.ok(bytes.length <= MiB, `page of ${bytes.length} bytes`);
      assert.equal(p.next_offset, offset + bytes.length);
      parts.push(bytes);
      offset = p.next_offset;
      if (p.eof) break;
      assert.ok(bytes.length > 0 && pages < 100, 'paging makes no progress');
    }
    return Buffer.concat(parts);
  };

  it('task_output pages 20 MiB of stdout (and 3 MiB of stderr) back exactly; the result stays small', async () => {
    const res = await h.mcp.callTool({ name: 'offload_to', arguments: { command: `${GEN_OUT}; ${GEN_ERR} >&2`, node_id: 'n1', wait_s: 120 } });
    const r = structured<Result>(res);
    assert.equal(r.state, 'completed', JSON.stringify(r).slice(0, 500));
    assert.equal(r.truncated, true);
    const marker = /\n\[\.\.\. (\d+) bytes omitted; read them with task_output \.\.\.\]\n/;
    for (const [text, total] of [
      [r.stdout!, STDOUT_BYTES],
      [r.stderr!, STDERR_BYTES],
    ] as const) {
      const m = marker.exec(text);
      assert.ok(m, `no omission marker in ${text.slice(0, 100)}`);
      assert.ok(Buffer.byteLength(text) <= 64 * 1024 + m[0].length, `result carries ${Buffer.byteLength(text)} bytes`);
      assert.equal(Buffer.byteLength(text) - m[0].length + Number(m[1]), total, 'head + omitted + tail = all');
    }
    assert.ok(r.stdout!.startsWith('1\n2\n3\n'));
    // The whole tool answer (text + structured copy) stays far from Temporal's 2 MiB payload limit.
    assert.ok(JSON.stringify(res.structuredContent).length < 200 * 1024, `result JSON is ${JSON.stringify(res.structuredContent).length} bytes`);

    const out = await pageAll(r.task_id, 'stdout', STDOUT_BYTES);
    const err = await pageAll(r.task_id, 'stderr', STDERR_BYTES);
    assert.equal(out.length, STDOUT_BYTES);
    assert.equal(err.length, STDERR_BYTES);
    const nodeSide = await call('offload_to', { command: `${GEN_OUT} | sha256sum; ${GEN_ERR} | sha256sum`, node_id: 'n1' });
    const [outSum, errSum] = nodeSide.stdout!.split('\n').map((l) => l.split(' ')[0]);
    assert.equal(sha256(out), outSum, 'stdout checksum');
    assert.equal(sha256(err), errSum, 'stderr checksum');
    // The CLI reads the same store.
    const logs = await h.cli(['logs', '--stderr', r.task_id]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(sha256(logs.stdout), errSum);
  });

  it('wait_s: 0 returns a task id that task_status, task_list and the CLI follow to the end', async () => {
    // Runs until the test opens the gate, so "still running" holds however slow the machine is.
    const gate = path.join(h.dir, 'gate');
    const command = `while [ ! -e ${gate} ]; do sleep 0.1; done; echo x`;
    const started = await call('cluster_bash', { command, wait_s: 0 });
    assert.equal(started.state, 'running');
    assert.match(started.task_id, /^cmd-[0-9a-z]{26}$/);
    const id = started.task_id;
    assert.equal((await call('task_status', { task_id: id })).state, 'running');
    await eventually(
      'running task in task_list(state: running)',
      () => call<{ tasks: Listed[] }>('task_list', { state: 'running' }),
      (l) => l.tasks.some((t) => t.task_id === id && t.state === 'running'),
    );
    const cliRunning = await h.cli(['list', '--json']);
    assert.equal(cliRunning.code, 0, cliRunning.stderr);
    assert.equal((JSON.parse(cliRunning.stdout) as Listed[]).find((t) => t.task_id === id)?.state, 'running');
    assert.equal((await call('task_status', { task_id: id })).state, 'running');
    writeFileSync(gate, '');

    const done = await settle(id);
    assert.equal(done.state, 'completed');
    assert.equal(done.stdout, 'x\n');
    await eventually(
      'finished task in task_list()',
      () => call<{ tasks: Listed[] }>('task_list', {}),
      (l) => l.tasks.some((t) => t.task_id === id && t.state === 'completed' && t.command === command),
    );
    const notRunning = await call<{ tasks: Listed[] }>('task_list', { state: 'running' });
    assert.ok(!notRunning.tasks.some((t) => t.task_id === id), 'still listed as running');

    const status = await h.cli(['status', id]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stdout, 'x\n');
    assert.match(status.stderr, new RegExp(`completed.*exit 0.*${id}`));
    const logs = await h.cli(['logs', id]);
    assert.equal(logs.stdout, 'x\n');
  });

  for (const nodeId of ['n1', 'local']) {
    it(`${nodeId}: while a command runs, task_output reads its output so far and \`logs -f\` streams it to the end`, async () => {
      const r = await call('offload_to', { command: 'echo first; echo warn >&2; sleep 8; echo second', node_id: nodeId, wait_s: 0 });
      assert.equal(r.state, 'running');
      let live: (Page & { running?: boolean }) | undefined;
      for (const end = Date.now() + 3000; Date.now() < end && live?.data !== 'first\n'; await sleep(100)) {
        const res = await h.mcp.callTool({ name: 'task_output', arguments: { task_id: r.task_id } });
        if (!res.isError) live = structured<Page & { running?: boolean }>(res);
      }
      assert.deepEqual([live?.data, live?.running, live?.eof, live?.total_bytes], ['first\n', true, true, 6], JSON.stringify(live));
      const err = await call<Page & { running?: boolean }>('task_output', { task_id: r.task_id, stream: 'stderr' });
      assert.deepEqual([err.data, err.running], ['warn\n', true]);

      // logs -f prints "first" at once, "second" when it comes, and exits when the task ends.
      const child = spawn(process.execPath, [CLI, 'logs', '-f', r.task_id], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
      const started = Date.now();
      let out = '';
      let firstAt = 0;
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (!firstAt && out.includes('first')) firstAt = Date.now() - started;
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 0);
      assert.equal(out, 'first\nsecond\n');
      const done = await settle(r.task_id);
      assert.equal(done.state, 'completed');
      assert.ok(firstAt > 0 && firstAt < Date.now() - started - 2000, `"first" came ${firstAt} ms in, with the rest: not streamed`);
      // Once it ended, the stored output answers (no running flag).
      const stored = await call<Page & { running?: boolean }>('task_output', { task_id: r.task_id });
      assert.deepEqual([stored.data, stored.running, stored.eof], ['first\nsecond\n', undefined, true]);
    });
  }

  it('the CLI: submit --detach prints a task id; parallel --json exits 1 when a command fails', async () => {
    const detached = await h.cli(['submit', '--detach', '--node', 'n2', 'echo detached']);
    assert.equal(detached.code, 0, detached.stderr);
    const id = detached.stdout.trim();
    assert.match(detached.stdout, /^cmd-[0-9a-z]{26}\n$/);
    const r = await settle(id);
    assert.equal(r.stdout, 'detached\n');
    assert.equal(r.executed_on, 'n2');

    const par = await h.cli(['parallel', 'echo a', 'exit 2', '--json']);
    assert.equal(par.code, 1, par.stderr);
    const p = JSON.parse(par.stdout) as { task_id: string; state: string; results: Result[]; summary: { succeeded: number; failed: number } };
    assert.equal(p.state, 'failed');
    assert.equal(p.results.length, 2);
    assert.deepEqual(
      p.results.map((c) => [c.task_id, c.stdout, c.return_code]),
      [
        [`${p.task_id}/0`, 'a\n', 0],
        [`${p.task_id}/1`, '', 2],
      ],
    );
    assert.deepEqual([p.summary.succeeded, p.summary.failed], [1, 1]);
  });

  it('parallel --json prints nothing but JSON, also when Temporal warns (its core logs go to stderr)', async () => {
    // 600 commands of 1 KiB: the workflow input passes the SDK's 512 KiB payload warning limit.
    const file = path.join(h.dir, 'big-commands.txt');
    writeFileSync(file, Array.from({ length: 600 }, (_, i) => `true ${i} ${'x'.repeat(1024)}`).join('\n') + '\n');
    const par = await h.cli(['parallel', '--file', file, '--json']);
    assert.equal(par.code, 0, par.stderr.slice(-2000));
    const p = JSON.parse(par.stdout) as { summary: { succeeded: number } };
    assert.equal(p.summary.succeeded, 600);
    assert.match(par.stderr, /TMPRL1103|exceeded the warning limit/, 'the warning should still be shown, on stderr');
  });

  it('search attributes find tasks by node and by kind with the temporal CLI', async () => {
    const one = await call('offload_to', { command: 'true', node_id: 'n1' });
    const fan = await call<{ task_id: string; state: string }>('parallel_execute', { commands: ['true', 'true'] });
    assert.equal(fan.state, 'completed');
    const list = (query: string) => async () => {
      const r = await h.temporal(['workflow', 'list', '--query', query, '--limit', '100']);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    await eventually(`ClusterNode='n1' lists ${one.task_id}`, list("ClusterNode='n1'"), (out) => out.includes(one.task_id));
    await eventually(`ClusterTaskKind='parallel' lists ${fan.task_id}`, list("ClusterTaskKind='parallel'"), (out) => out.includes(fan.task_id));
    const commands = await list("ClusterTaskKind='command'")();
    assert.ok(!commands.includes(fan.task_id), 'a fan-out is not listed as a command');
    const onN2 = await list("ClusterNode='n2'")();
    assert.ok(!onN2.includes(one.task_id), 'the n1 task is not listed under n2');
  });

  // Last: it replaces the harness's MCP client with one talking to a new server.
  it('a command and a fan-out started before an MCP server restart run on and are answered after it', async () => {
    // Longer than the SDK client takes to end the server (stdin closed, TERM after 2 s, KILL after 4 s).
    // A unique duration marks these commands' processes (5.0xyz s).
    const sleepFor = `sleep 5.0${process.pid % 1000}`;
    const one = await call('offload_to', { command: `${sleepFor}; echo survived`, node_id: 'n2', wait_s: 0 });
    const fan = await call('parallel_execute', { commands: [0, 1, 2].map((i) => `${sleepFor}; echo fan-${i}`), max_parallel: 3, wait_s: 0 });
    assert.deepEqual([one.state, fan.state], ['running', 'running']);
    await waitFor('every command to run on its node', async () => (await markedProcesses(sleepFor)).filter((p) => p.comm === 'sleep').length >= 4, 20_000);
    await h.mcp.close(); // ends the `serve` process, its worker with it
    restarted = new Client({ name: 'clusterflow-e2e-restarted', version: '1.0.0' });
    await restarted.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'serve'], env: h.env, stderr: 'ignore' }));
    h.mcp = restarted; // `call` goes to the new server from here on
    const r = await settle(one.task_id, 60_000);
    assert.equal(r.state, 'completed', JSON.stringify(r));
    assert.equal(r.stdout, 'survived\n');
    assert.equal(r.executed_on, 'n2');
    // The worker that went away left the commands running; the next one re-attached to them.
    const f = (await settle(fan.task_id, 60_000)) as Result & { results: Result[] };
    assert.equal(f.state, 'completed', JSON.stringify(f).slice(0, 1000));
    assert.deepEqual(
      f.results.map((c) => c.stdout),
      ['fan-0\n', 'fan-1\n', 'fan-2\n'],
    );
  });
});
