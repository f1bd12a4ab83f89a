// Trust boundary (issue F): another local account can reach the embedded Temporal server (it has
// no auth), so it tries what such a user would: start a forged task, replay a real task's raw
// payload under a new id, read what tasks ran and what they printed. Nothing runs, nothing leaks.
// Also: a task's env cannot replace the runner's command or cwd, task tools take only task ids,
// stored output is capped on the node and locally, and the state dir is private.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newTaskId } from '../../src/client/tasks.js';
import { temporalCliPath } from '../../src/paths.js';
import { errorText } from '../../src/shared.js';
import { temporalClient } from '../helpers/faults.js';
import { startHarness, structured, type Harness } from '../helpers/harness.js';
import { asIntruder, intruderUnavailable } from '../helpers/intruder.js';

interface Result {
  task_id: string;
  state: string;
  success: boolean;
  stdout: string;
  stderr: string;
  executed_on: string;
  return_code: number | null;
  error: string | null;
  output_capped?: boolean;
}

const SECRET = `secret-${Date.now().toString(36)}`;

/** Every string in a JSON document, and every base64 string decoded: where a secret could hide. */
function everyText(doc: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') {
      out.push(v);
      if (/^[A-Za-z0-9+/=_-]{8,}$/.test(v)) out.push(Buffer.from(v, 'base64').toString('latin1'));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(doc);
  return out.join('\n');
}

describe('trust boundary: another local account cannot make clusterflow run or reveal anything', () => {
  let h: Harness;
  let skip: string | null;
  let marker: string;
  before(async () => {
    skip = await intruderUnavailable();
    // The state dir exists already and is world-readable, as a user's mkdir -p leaves it (umask 022).
    h = await startHarness({ nodes: 2, preCreateStateDir: 0o755, env: { CLUSTERFLOW_MAX_OUTPUT: '256K' } });
    marker = path.join(h.dir, 'forged-ran');
  });
  after(async () => {
    await h?.close();
  });

  /** The failure as the owner reads it (failure messages are encrypted too: the SDK with the key decodes them). */
  async function ownerFailure(id: string): Promise<string> {
    const { client, close } = await temporalClient(h);
    try {
      await client.workflow.getHandle(id).result();
      return '';
    } catch (err) {
      return errorText(err);
    } finally {
      await close();
    }
  }
  const intruderTemporal = async (args: string[]) => asIntruder(temporalCliPath(), [...args, '--address', await h.temporalAddress()]);
  async function waitClosed(id: string): Promise<{ status: string; failure: string }> {
    for (let i = 0; i < 150; i++) {
      const d = await h.temporalRaw(['workflow', 'describe', '-w', id, '--output', 'json']);
      const status = (JSON.parse(d.stdout || '{}') as { workflowExecutionInfo?: { status?: string } }).workflowExecutionInfo?.status ?? '';
      if (status && status !== 'WORKFLOW_EXECUTION_STATUS_RUNNING') return { status, failure: await ownerFailure(id) };
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${id} did not close`);
  }

  it('a forged task started by another account runs nothing and fails saying why', async (t) => {
    if (skip) return t.skip(skip);
    const id = newTaskId('cmd');
    const spec = { command: `id -un > ${marker}`, nodeId: 'n1', requires: {}, weight: 'light', classifyReason: 'x', timeoutS: 30 };
    const start = await intruderTemporal([
      'workflow',
      'start',
      '--type',
      'commandWorkflow',
      '--task-queue',
      'clusterflow',
      '--workflow-id',
      id,
      '--input',
      JSON.stringify(spec),
    ]);
    assert.equal(start.code, 0, `the dev server has no auth: the start itself is accepted (${start.stderr})`);
    const closed = await waitClosed(id);
    assert.equal(closed.status, 'WORKFLOW_EXECUTION_STATUS_FAILED');
    assert.match(closed.failure, /not encrypted with this deployment's key/);
    assert.equal(existsSync(marker), false, 'the forged command ran');
  });

  it("a real task's raw payload replayed under a new id runs nothing; its history shows no command text to others", async (t) => {
    if (skip) return t.skip(skip);
    // The node user appends here (a world-writable dir: each node runs as its own user).
    const shared = path.join(h.dir, 'shared');
    mkdirSync(shared, { mode: 0o1777 });
    chmodSync(shared, 0o1777);
    const runs = path.join(shared, 'real-runs');
    const real = structured<Result>(
      await h.mcp.callTool({ name: 'offload_to', arguments: { command: `echo ${SECRET}; echo x >> ${runs}`, node_id: 'n1', env: { TOKEN: SECRET } } }),
    );
    assert.equal(real.stdout, `${SECRET}\n`);
    await waitClosed(real.task_id);
    // What the other account sees of the real task: history, and the Web UI's HTTP API.
    const shown = await intruderTemporal(['workflow', 'show', '-w', real.task_id, '--output', 'json']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(!everyText(JSON.parse(shown.stdout)).includes(SECRET), 'the command or its output is readable in the history');
    const described = await intruderTemporal(['workflow', 'describe', '-w', real.task_id, '--output', 'json']);
    assert.ok(!everyText(JSON.parse(described.stdout)).includes(SECRET), 'memo, summary or search attributes reveal the command');
    const st = JSON.parse(readFileSync(path.join(h.stateDir, 'temporal', 'server.json'), 'utf8')) as { uiPort: number };
    const api = await asIntruder('curl', ['-sf', `http://127.0.0.1:${st.uiPort}/api/v1/namespaces/default/workflows/${real.task_id}/history`]);
    assert.equal(api.code, 0, api.stderr);
    assert.ok(!everyText(JSON.parse(api.stdout)).includes(SECRET), 'the Web UI API reveals the command');
    // The owner, through the codec, sees it all.
    const owner = await h.temporal(['workflow', 'show', '-w', real.task_id]);
    assert.ok(owner.stdout.includes(SECRET), 'the owner should see the decoded history');

    // Replay: the raw input payload, byte for byte, under a fresh task id.
    const started = (
      JSON.parse(shown.stdout) as {
        events: Array<{ workflowExecutionStartedEventAttributes?: { input: { payloads: Array<{ metadata: Record<string, string>; data: string }> } } }>;
      }
    ).events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0]!;
    const meta = Object.entries(started.metadata).flatMap(([k, v]) => ['--input-meta', `${k}=${Buffer.from(v, 'base64').toString()}`]);
    const id = newTaskId('cmd');
    const replay = await intruderTemporal([
      'workflow',
      'start',
      '--type',
      'commandWorkflow',
      '--task-queue',
      'clusterflow',
      '--workflow-id',
      id,
      '--input',
      started.data,
      '--input-base64',
      ...meta,
    ]);
    assert.equal(replay.code, 0, replay.stderr);
    const closed = await waitClosed(id);
    assert.equal(closed.status, 'WORKFLOW_EXECUTION_STATUS_FAILED');
    assert.match(closed.failure, /belongs to workflow|does not authenticate/);
    assert.equal(readFileSync(runs, 'utf8'), 'x\n', 'the replayed command ran again');
  });

  it('the state dir and the Temporal db are private, though the dir existed with mode 755', async (t) => {
    if (skip) return t.skip(skip);
    assert.equal(statSync(h.stateDir).mode & 0o777, 0o700);
    const dbFiles = readdirSync(path.join(h.stateDir, 'temporal')).filter((f) => f.startsWith('temporal.db'));
    assert.ok(dbFiles.length > 0, 'no db files');
    for (const f of dbFiles) assert.equal(statSync(path.join(h.stateDir, 'temporal', f)).mode & 0o077, 0, `${f} is readable by others`);
    for (const f of ['codec.key', 'ui-token']) assert.equal(statSync(path.join(h.stateDir, f)).mode & 0o777, 0o600, f);
    const peek = await asIntruder('cat', [path.join(h.stateDir, 'codec.key')]);
    assert.notEqual(peek.code, 0, 'another account read the codec key');
  });

  it("a task's env cannot replace the command or its cwd, nor use the runner's names", async () => {
    const r = structured<Result>(
      await h.mcp.callTool({
        name: 'offload_to',
        arguments: { command: 'echo real; pwd', node_id: 'n2', cwd: '/tmp', env: { C: 'echo pwned', D: '/var', N: 'kept', T: '1' } },
      }),
    );
    assert.equal(r.stdout, 'real\n/tmp\n');
    const kept = structured<Result>(
      await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo "$N $T $C"', node_id: 'n2', env: { C: 'c', N: 'kept', T: '1' } } }),
    );
    assert.equal(kept.stdout, 'kept 1 c\n', 'a task variable named like a runner variable was lost');
    const reserved = await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'true', node_id: 'n2', env: { __cf_c: 'echo pwned' } } });
    assert.equal(reserved.isError, true);
  });

  it('task tools take task ids only: the cluster monitor cannot be cancelled through them', async () => {
    const res = await h.mcp.callTool({ name: 'task_cancel', arguments: { task_id: 'clusterflow-monitor' } });
    assert.equal(res.isError, true);
    const cli = await h.cli(['cancel', 'clusterflow-monitor']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /not a task id/);
    const status = structured<{ nodes: Record<string, unknown> }>(await h.mcp.callTool({ name: 'cluster_status', arguments: {} }));
    assert.ok(status.nodes.n1, 'cluster_status broke');
  });

  it('a fast printer stores at most CLUSTERFLOW_MAX_OUTPUT (256 KiB here), locally and on the node', async () => {
    for (const [name, command] of [
      ['short burst', 'yes | head -c 20000000'],
      ['long spew', 'timeout 4 yes; true'],
    ] as const) {
      const r = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command, node_id: 'n1', timeout_s: 30 } }));
      assert.equal(r.output_capped, true, `${name}: ${JSON.stringify({ ...r, stdout: r.stdout.length })}`);
      const local = path.join(h.stateDir, 'output', r.task_id, 'stdout');
      assert.ok(statSync(local).size <= 256 * 1024, `${name}: ${statSync(local).size} bytes stored locally`);
      // The node cuts the file back after the answer: wait (10 s at most) for the cut (file within the cap, run marked), then report.
      const [out, capped] = ['out', 'capped'].map((ext) => `~/.cache/clusterflow/runs/${r.task_id}.${ext}`);
      const cutBack = `i=0; while { [ "$(wc -c < ${out})" -gt ${256 * 1024} ] || [ ! -e ${capped} ]; } && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done`;
      const onNode = structured<Result>(
        await h.mcp.callTool({ name: 'offload_to', arguments: { command: `${cutBack}; wc -c < ${out}; ls ${capped}`, node_id: 'n1' } }),
      );
      assert.equal(onNode.success, true, JSON.stringify(onNode));
      assert.ok(Number(onNode.stdout.split('\n')[0]) <= 256 * 1024, `${name}: ${onNode.stdout.split('\n')[0]} bytes kept on the node`);
    }
  });

  it('output of a task stays readable page by page up to the cap', async () => {
    const r = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'yes | head -c 1000000', node_id: 'n2' } }));
    const page = structured<{ total_bytes: number; eof: boolean }>(
      await h.mcp.callTool({ name: 'task_output', arguments: { task_id: r.task_id, offset: 0, limit: 1024 } }),
    );
    assert.equal(page.total_bytes, 256 * 1024);
    assert.equal(page.eof, false);
  });
});
