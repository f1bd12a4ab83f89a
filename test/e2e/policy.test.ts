// The policy where commands run (issue F): the worker refuses what the client would, even when
// handed a well-formed task directly; what a parser cannot decide is shown to the person through
// MCP elicitation (yes runs it, no does not; a client without elicitation gets the refusal and how
// to allow it); bombs are answered fast and the server stays responsive.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { newTaskId } from '../../src/client/tasks.js';
import { errorText, type CommandSpec } from '../../src/shared.js';
import { temporalClient } from '../helpers/faults.js';
import { CLI, startHarness, structured, type Harness } from '../helpers/harness.js';

interface Result {
  task_id: string;
  state: string;
  success: boolean;
  stdout: string;
  executed_on: string;
  error: string | null;
}

describe('policy where commands run, approval by the person, bounded checks', () => {
  let h: Harness;
  let shared: string;
  before(async () => {
    h = await startHarness({ nodes: 2, extraNodeYaml: { n2: { policy: { deny: ['python3'] } } } });
    shared = path.join(h.dir, 'shared');
    mkdirSync(shared, { mode: 0o1777 });
    chmodSync(shared, 0o1777);
  });
  after(async () => {
    await h?.close();
  });

  /** An MCP client of its own, optionally answering elicitation requests with `answer`. */
  async function client(answer?: (message: string) => 'yes' | 'no' | 'decline'): Promise<{ c: Client; asked: string[] }> {
    const asked: string[] = [];
    const c = new Client({ name: 'cf-policy', version: '1' }, { capabilities: answer ? { elicitation: {} } : {} });
    if (answer) {
      c.setRequestHandler(ElicitRequestSchema, async (req) => {
        const msg = String((req.params as { message?: string }).message);
        asked.push(msg);
        const a = answer(msg);
        return a === 'decline' ? { action: 'decline' } : { action: 'accept', content: { run: a === 'yes' } };
      });
    }
    await c.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'serve'], env: h.env, stderr: 'ignore' }));
    return { c, asked };
  }

  it('a flagged command is shown to the person: yes runs it, no does not', async () => {
    const { c, asked } = await client((m) => (m.includes('yes-please') ? 'yes' : 'no'));
    try {
      const marker = path.join(shared, 'approved');
      const yes = structured<Result>(
        await c.callTool({ name: 'offload_to', arguments: { command: `echo 'touch ${marker}' | tee ${shared}/script.sh | sh # yes-please`, node_id: 'n1' } }),
      );
      assert.equal(yes.success, true, JSON.stringify(yes));
      assert.equal(existsSync(marker), true);
      assert.match(asked[0]!, /n1/);
      assert.match(asked[0]!, /shell-stdin|feeds|stdin/i);
      const noMarker = path.join(shared, 'declined');
      const no = await c.callTool({
        name: 'offload_to',
        arguments: { command: `cat ${shared}/script.sh | sed s/approved/declined/ | sh; touch ${noMarker}`, node_id: 'n1' },
      });
      assert.equal(no.isError, true);
      assert.match((no.content as Array<{ text: string }>)[0]!.text, /not run/);
      assert.equal(existsSync(noMarker), false, 'a declined command ran');
      assert.equal(asked.length, 2);
    } finally {
      await c.close();
    }
  });

  it('a client without elicitation gets the refusal with the rule and how to allow it', async () => {
    const res = await h.mcp.callTool({ name: 'offload_to', arguments: { command: `cat ${shared}/script.sh | sh`, node_id: 'n1' } });
    assert.equal(res.isError, true);
    const text = (res.content as Array<{ text: string }>)[0]!.text;
    assert.match(text, /shell-stdin/);
    assert.match(text, /policy\.allow|elicitation/);
  });

  it("the worker refuses a destructive command it is handed directly, and one a node's own policy denies", async () => {
    const { client: tc, close } = await temporalClient(h);
    try {
      for (const [command, nodeId, rule] of [
        ['rm -rf /etc', 'n1', /rm-root/],
        ['python3 -c "print(1)"', 'n2', /node-deny|python3/],
      ] as const) {
        const id = newTaskId('cmd');
        const spec: CommandSpec = { command, nodeId, requires: {}, weight: 'light', classifyReason: 'test', timeoutS: 30 };
        const err = await tc.workflow.execute('commandWorkflow', { taskQueue: 'clusterflow', workflowId: id, args: [spec] }).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(err, `${command} ran on ${nodeId}`);
        assert.match(errorText(err), rule);
        assert.match(errorText(err), /refused on/);
      }
    } finally {
      await close();
    }
    // Auto-routed, the node that refuses it by its policy is passed over.
    const routed = structured<Result>(await h.mcp.callTool({ name: 'cluster_bash', arguments: { command: 'python3 -c "print(7)"', requires_os: 'linux' } }));
    assert.notEqual(routed.executed_on, 'n2');
  });

  it('bombs are answered fast and the server stays responsive', async () => {
    const bombs = [`rm -rf /tmp/x${'{a,b}'.repeat(26)}`, `${'eval '.repeat(10_000)}true`, `${'$('.repeat(5000)}true${')'.repeat(5000)}`, 'a;'.repeat(30_000)];
    for (const command of bombs) {
      const t = Date.now();
      const status = h.mcp.callTool({ name: 'cluster_status', arguments: {} }).then(() => Date.now() - t);
      const res = await h.mcp.callTool({ name: 'cluster_bash', arguments: { command } });
      const took = Date.now() - t;
      assert.equal(res.isError, true, `${command.slice(0, 40)}… was not refused`);
      assert.ok(took < 100 + 100, `${command.slice(0, 40)}… took ${took} ms`);
      assert.ok((await status) < 200 + 100, `cluster_status beside it took ${await status} ms`);
    }
  });
});
