// Issue A end to end: embedded Temporal + 3 loopback sshd nodes + MCP server over stdio,
// driven by the real MCP SDK client and the real CLI.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restartNodeSshd } from '../../src/testcluster/localCluster.js';
import { temporalClient } from '../helpers/faults.js';
import { startHarness, structured, type Harness } from '../helpers/harness.js';

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
  auto_routed: boolean;
  workflow_url: string;
}

describe('spine: one command as a durable workflow over real SSH', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ nodes: 3 });
  });
  after(async () => {
    await h?.close();
  });

  it("offload_to runs on each node as that node's own user", async () => {
    for (const node of h.cluster.nodes) {
      const r = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'id -un', node_id: node.id } }));
      assert.equal(r.success, true, JSON.stringify(r));
      assert.equal(r.executed_on, node.id);
      assert.equal(r.stdout.trim(), node.user);
      assert.equal(r.return_code, 0);
      assert.equal(r.auto_routed, false);
      assert.match(r.task_id, /^cmd-[0-9a-z]{26}$/);
      assert.match(r.workflow_url, new RegExp(`/workflows/${r.task_id}$`));
    }
  });

  it('a failing command is a result with its real exit code and stderr', async () => {
    const r = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo out; echo oops >&2; exit 3', node_id: 'n2' } }));
    assert.equal(r.success, false);
    assert.equal(r.return_code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'oops\n');
    assert.equal(r.state, 'failed');
    assert.match(r.error ?? '', /exit code 3/);
    // The MCP server answers from its in-process worker as the command ends; task_status agrees at
    // once, and the workflow records the same result a moment later.
    const now = structured<Result>(await h.mcp.callTool({ name: 'task_status', arguments: { task_id: r.task_id } }));
    assert.deepEqual([now.state, now.return_code, now.stdout, now.stderr], ['failed', 3, 'out\n', 'oops\n']);
    const recorded = await h.temporal(['workflow', 'result', '-w', r.task_id, '-o', 'json']);
    assert.equal(recorded.code, 0, recorded.stderr);
    const wf = JSON.parse(recorded.stdout) as { result?: Result } & Result;
    const final = wf.result ?? wf;
    assert.deepEqual([final.state, final.return_code, final.stdout, final.stderr, final.executed_on], ['failed', 3, 'out\n', 'oops\n', 'n2']);
  });

  it('an unknown node is a clear error naming the known nodes', async () => {
    const res = await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'true', node_id: 'nope' } });
    assert.equal(res.isError, true);
    const text = (res.content as Array<{ text: string }>)[0]!.text;
    assert.match(text, /unknown node "nope"/);
    for (const id of ['local', 'n1', 'n2', 'n3']) assert.ok(text.includes(id), `${id} missing from: ${text}`);
  });

  it('cluster_bash keeps light commands local and sends heavy ones to a node', async () => {
    const light = structured<Result>(await h.mcp.callTool({ name: 'cluster_bash', arguments: { command: 'echo hi' } }));
    assert.equal(light.executed_on, 'local');
    assert.equal(light.stdout, 'hi\n');
    assert.equal(light.auto_routed, true);
    assert.match(light.route_reason, /light/);
    const heavy = structured<Result>(await h.mcp.callTool({ name: 'cluster_bash', arguments: { command: 'cd /tmp && make --version | head -1 || true' } }));
    assert.match(heavy.executed_on, /^n[123]$/);
    assert.match(heavy.route_reason, /heavy/);
  });

  it('serve places a light cluster_bash and launches it before its workflow runs; the workflow records that one run', async () => {
    const runs = path.join(h.dir, `light-runs-${Date.now()}`);
    const r = structured<Result>(await h.mcp.callTool({ name: 'cluster_bash', arguments: { command: `echo run >>${runs}; echo light` } }));
    assert.deepEqual([r.state, r.executed_on, r.stdout, r.auto_routed], ['completed', 'local', 'light\n', true]);
    const { client, close, decode } = await temporalClient(h);
    try {
      const handle = client.workflow.getHandle(r.task_id);
      const recorded = (await handle.result()) as Result;
      assert.deepEqual([recorded.state, recorded.executed_on, recorded.stdout, recorded.route_reason], ['completed', 'local', 'light\n', r.route_reason]);
      // The workflow input says where serve placed it and that serve launched it.
      const history = await handle.fetchHistory();
      const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      const spec = (await decode(payload as never, r.task_id)) as { placed?: { nodeId: string; reason: string }; headStart?: boolean };
      assert.deepEqual([spec.placed?.nodeId, spec.placed?.reason, spec.headStart], ['local', r.route_reason, true]);
      // It ended at once, so the first workflow task recorded it (headStartResult): no runCommand, no second task.
      const events = history.events ?? [];
      assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0, 'no runCommand activity');
      assert.equal(events.filter((e) => e.workflowTaskCompletedEventAttributes).length, 1, 'one workflow task');
    } finally {
      await close();
    }
    assert.equal(readFileSync(runs, 'utf8'), 'run\n', 'the command ran more than once');
  });

  it("serve runs with the launcher's process settings, and a command on the local node does not inherit them", async () => {
    // bin/cluster-router started serve (as the harness starts it, as users do): node has V8's
    // young-generation size and glibc read the mmap threshold from the environment serve began with.
    const cmdline = readFileSync(`/proc/${h.servePid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.includes('--max-semi-space-size=8'), cmdline.join(' '));
    const startEnv = readFileSync(`/proc/${h.servePid}/environ`, 'utf8').split('\0');
    assert.ok(startEnv.includes('GLIBC_TUNABLES=glibc.malloc.mmap_threshold=524288'), 'GLIBC_TUNABLES as serve started');
    // serve took them back out of what its children inherit.
    const r = structured<Result>(
      await h.mcp.callTool({
        name: 'offload_to',
        arguments: { node_id: 'local', command: 'echo "[${GLIBC_TUNABLES-unset}] [${CLUSTERFLOW_LAUNCH_TUNABLES-unset}]"' },
      }),
    );
    assert.equal(r.stdout, '[unset] [unset]\n', JSON.stringify(r));
  });

  it("the CLI exits with the command's exit code and the workflow is visible to the temporal CLI", async () => {
    const ok = await h.cli(['submit', '--node', 'n1', 'echo from-cli']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'from-cli\n');
    const bad = await h.cli(['submit', '--node', 'n1', '--json', 'exit 7']);
    assert.equal(bad.code, 7, bad.stderr);
    const r = JSON.parse(bad.stdout) as Result;
    assert.equal(r.return_code, 7);
    const show = await h.temporal(['workflow', 'show', '-w', r.task_id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /ActivityTaskCompleted/);
    const status = await h.cli(['status', r.task_id, '--json']);
    assert.equal(JSON.parse(status.stdout).return_code, 7);
  });

  it('a node whose host key changed is refused, with both fingerprints', async () => {
    const first = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'true', node_id: 'n3' } }));
    assert.equal(first.success, true);
    const nodeDir = path.join(h.cluster.dir, 'n3');
    const key = path.join(nodeDir, 'ssh_host_ed25519_key');
    rmSync(key, { force: true });
    rmSync(`${key}.pub`, { force: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    await restartNodeSshd(h.cluster.dir, 'n3');
    // The pooled connection still talks to the old sshd process; a new connection sees the new key.
    const res = structured<Result>(await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo should-not-run', node_id: 'n3' } }));
    assert.equal(res.success, false);
    assert.match(res.error ?? '', /host key/i);
    assert.match(res.error ?? '', /SHA256:[A-Za-z0-9+/]+.*SHA256:[A-Za-z0-9+/]+/s);
    assert.equal(res.stdout, '');
  });
});
