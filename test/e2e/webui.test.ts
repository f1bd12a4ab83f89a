// The Temporal Web UI as a dashboard (issue I, item 7). Every command workflow says where it ran
// and how it ended ("wu1 · exit 2 · 0.1 s" as its current details, the node in its memo and its
// activity's summary); a task with no result of its own (no eligible node) ends as a Failed
// workflow, one that ran and exited non-zero as a Completed one with ClusterState "failed".
// Checked with the `temporal` CLI, then in headless Chromium through serve's proxy (the owner's
// cookie: payloads decoded by the codec endpoint) and on the UI's own port (ciphertext only).
// Screenshots land in test/e2e/screenshots/ (not in git) for a human to look at.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { chromiumUnavailable, loadPage, type LoadedPage } from '../helpers/browser.js';
import { startHarness, type Harness } from '../helpers/harness.js';

interface Result {
  task_id: string;
  state: string;
  success: boolean;
  executed_on: string;
  return_code: number | null;
  error: string | null;
  workflow_url: string;
  auto_routed: boolean;
}
interface Described {
  workflowExecutionInfo: { status: string; execution: { runId: string }; memo?: { fields?: Record<string, unknown> } };
  result?: Result;
  closeEvent?: { workflowExecutionFailedEventAttributes?: { failure: { applicationFailureInfo?: { details?: Result[] } } } };
}

const SHOTS = path.join(PACKAGE_ROOT, 'test', 'e2e', 'screenshots');
const CURRENT = 'user-metadata-current-details';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the Temporal Web UI as a dashboard', () => {
  let h: Harness;
  let server: { uiPort: number; codecPort: number };
  /** The owner's login link, as `cluster-router ui` prints it. */
  let loginUrl: string;
  /** offload_to wu1, exit 0; auto-routed onto a linux node, exit 2; macos asked of a linux-only cluster. */
  let ok: Result;
  let bad: Result;
  let none: Result;
  const described = new Map<string, Described>();

  /** The tool's result whether or not it is an error (a failed command is one). */
  async function call(name: string, args: Record<string, unknown>): Promise<Result> {
    const res = (await h.mcp.callTool({ name, arguments: args })) as { structuredContent?: Result; content?: Array<{ text?: string }> };
    assert.ok(res.structuredContent, `${name}: no structured result: ${res.content?.[0]?.text}`);
    return res.structuredContent;
  }
  /** `temporal workflow describe` as the owner (through the codec), once the workflow has closed. */
  async function describeClosed(id: string): Promise<Described> {
    for (let i = 0; i < 100; i++) {
      const r = await h.temporal(['workflow', 'describe', '-w', id, '--output', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const d = JSON.parse(r.stdout) as Described;
      if (d.workflowExecutionInfo.status !== 'WORKFLOW_EXECUTION_STATUS_RUNNING') {
        described.set(id, d);
        return d;
      }
      await sleep(200);
    }
    throw new Error(`${id} did not close`);
  }
  async function list(query: string): Promise<string[]> {
    const r = await h.temporalRaw(['workflow', 'list', '--query', query, '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout || '[]') as Array<{ execution: { workflowId: string } }>).map((w) => w.execution.workflowId);
  }

  before(async () => {
    h = await startHarness({ nodes: 2, namePrefix: 'wu' });
    server = JSON.parse(readFileSync(path.join(h.stateDir, 'temporal', 'server.json'), 'utf8')) as typeof server;
    const ui = await h.cli(['ui', '--json']);
    assert.equal(ui.code, 0, ui.stderr);
    const printed = JSON.parse(ui.stdout) as { login_url: string; listening: boolean };
    assert.ok(printed.listening, 'cluster-router ui: nothing answers on the codec port while serve runs');
    assert.equal(
      printed.login_url,
      `http://127.0.0.1:${server.codecPort}/login?token=${encodeURIComponent(readFileSync(path.join(h.stateDir, 'ui-token'), 'utf8').trim())}`,
    );
    loginUrl = printed.login_url;
    ok = await call('offload_to', { command: 'echo ok; exit 0', node_id: 'wu1' });
    bad = await call('cluster_bash', { command: 'echo bad; exit 2', requires_os: 'linux' });
    none = await call('cluster_bash', { command: 'echo mac', requires_os: 'macos' });
    for (const r of [ok, bad, none]) await describeClosed(r.task_id);
  });
  after(async () => {
    await h?.close();
  });

  it('the tools answer: ok ran on wu1, exit 2 ran on the node placement chose, macos found no eligible node', () => {
    assert.deepEqual([ok.state, ok.executed_on, ok.return_code], ['completed', 'wu1', 0], JSON.stringify(ok));
    assert.deepEqual([bad.state, bad.return_code, bad.auto_routed], ['failed', 2, true], JSON.stringify(bad));
    assert.ok(bad.executed_on, 'the exit-2 task names no node');
    assert.equal(none.state, 'failed');
    assert.equal(none.executed_on, '');
    assert.match(none.error ?? '', /^no eligible node/);
  });

  it('ExecutionStatus="Failed" finds the task with no result of its own, not the command that exited 2', async () => {
    let failed = await list('ExecutionStatus="Failed"');
    for (let i = 0; i < 25 && !failed.includes(none.task_id); i++) {
      await sleep(200); // visibility may trail the close by a moment
      failed = await list('ExecutionStatus="Failed"');
    }
    assert.ok(failed.includes(none.task_id), `no-eligible-node task not among the Failed workflows: ${failed.join(', ')}`);
    assert.ok(!failed.includes(bad.task_id), 'a command that ran and exited 2 is a Failed workflow');
    assert.ok(!failed.includes(ok.task_id));
    const ranAndFailed = await list('ExecutionStatus="Completed" AND ClusterState="failed"');
    assert.ok(ranAndFailed.includes(bad.task_id), 'the exit-2 task is not Completed with ClusterState "failed"');
    assert.equal(described.get(bad.task_id)!.workflowExecutionInfo.status, 'WORKFLOW_EXECUTION_STATUS_COMPLETED');
    assert.equal(described.get(none.task_id)!.workflowExecutionInfo.status, 'WORKFLOW_EXECUTION_STATUS_FAILED');
  });

  it('the memo names the node chosen (not "auto"), the stored result carries workflow_url, the activity its node', async () => {
    const memoNode = (r: Result) => described.get(r.task_id)!.workflowExecutionInfo.memo?.fields?.node;
    assert.equal(memoNode(ok), 'wu1');
    assert.equal(memoNode(bad), bad.executed_on, 'the memo of an auto-routed task should name the node placement chose');
    const url = (r: Result) => `http://127.0.0.1:${server.codecPort}/namespaces/default/workflows/${r.task_id}`;
    for (const r of [ok, bad]) assert.equal(described.get(r.task_id)!.result?.workflow_url, url(r), `${r.task_id}: stored result`);
    const carried = described.get(none.task_id)!.closeEvent?.workflowExecutionFailedEventAttributes?.failure.applicationFailureInfo?.details?.[0];
    assert.equal(carried?.workflow_url, url(none), "the failed workflow's result (its failure details) has no workflow_url");
    assert.match(carried?.error ?? '', /^no eligible node/);
    // Each command's runCommand activity, or the first task's headStartResult that recorded a head
    // start, is summarized with its node (decoded: the summary is a payload too).
    const shown = await h.temporal(['workflow', 'show', '-w', bad.task_id, '--output', 'json']);
    assert.equal(shown.code, 0, shown.stderr);
    const events = (JSON.parse(shown.stdout) as { events: Array<{ eventType: string; userMetadata?: { summary?: { data?: string } } }> }).events;
    const summaries = events
      .filter((e) => e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' || (e.eventType === 'EVENT_TYPE_MARKER_RECORDED' && e.userMetadata?.summary))
      .map((e) => JSON.parse(Buffer.from(e.userMetadata?.summary?.data ?? 'IiI=', 'base64').toString()) as string);
    assert.ok(
      summaries.some((s) => s.startsWith(`${bad.executed_on}: `)),
      `no node in the activity summaries: ${JSON.stringify(summaries)}`,
    );
  });

  describe('in a browser', () => {
    let skip: string | null;
    before(() => {
      skip = chromiumUnavailable();
      mkdirSync(SHOTS, { recursive: true });
    });
    const pagePath = (r: Result, tab?: string) =>
      `/namespaces/default/workflows/${r.task_id}${tab ? `/${described.get(r.task_id)!.workflowExecutionInfo.execution.runId}/${tab}` : ''}`;
    /** The owner's way in: the login link sets the cookie and redirects to the page (one browser run). */
    async function asOwner(t: { diagnostic(m: string): void }, name: string, pathname: string): Promise<LoadedPage> {
      const url = `${loginUrl}&next=${encodeURIComponent(pathname)}`;
      return shot(t, name, url);
    }
    async function shot(t: { diagnostic(m: string): void }, name: string, url: string): Promise<LoadedPage> {
      const png = path.join(h.dir, `${name}.png`);
      const page = await loadPage(url, png);
      copyFileSync(png, path.join(SHOTS, `${name}.png`));
      t.diagnostic(`screenshot: ${path.join(SHOTS, `${name}.png`)}`);
      return page;
    }

    it("the successful task's page, through the proxy, shows its command, result and node decoded", async (t) => {
      if (skip) return t.skip(skip);
      const page = await asOwner(t, 'webui-ok', pagePath(ok));
      assert.match(page.text, new RegExp(ok.task_id), "not the task's page (did the login redirect?)");
      assert.match(page.text, /completed/i);
      assert.ok(page.text.includes('echo ok; exit 0'), 'the input is not decoded');
      assert.ok(page.text.includes(ok.workflow_url), 'the payloads are not decoded');
      assert.ok(page.text.includes('wu1: explicit: offload to wu1'), "the activity's summary is not shown");
      assert.doesNotMatch(page.text, /Codec Server could not connect/);
      const details = await asOwner(t, 'webui-ok-details', pagePath(ok, 'user-metadata'));
      assert.match(details.frames[CURRENT] ?? '', /^wu1 · exit 0 · \d+\.\d s$/, JSON.stringify(details.frames));
      assert.ok(Object.values(details.frames).includes('wu1: echo ok; exit 0'), `summary: ${JSON.stringify(details.frames)}`);
    });

    it('the task that exited 2 says where it ran and how it ended', async (t) => {
      if (skip) return t.skip(skip);
      const details = await asOwner(t, 'webui-exit2-details', pagePath(bad, 'user-metadata'));
      assert.match(details.frames[CURRENT] ?? '', new RegExp(`^${bad.executed_on} · exit 2 · \\d+\\.\\d s$`), JSON.stringify(details.frames));
    });

    it("the failed task's page shows Failed and why, decoded", async (t) => {
      if (skip) return t.skip(skip);
      const page = await asOwner(t, 'webui-failed', pagePath(none));
      assert.match(page.text, new RegExp(none.task_id));
      assert.match(page.text, /failed/i);
      assert.ok(page.text.includes('echo mac'), 'the input is not decoded');
      assert.match(page.text, /no eligible node: .*macos required/, 'the failure message is not decoded');
      const details = await asOwner(t, 'webui-failed-details', pagePath(none, 'user-metadata'));
      assert.match(details.frames[CURRENT] ?? '', /^not run · failed · \d+\.\d s · no eligible node: /, JSON.stringify(details.frames));
    });

    it("the UI's own port (no proxy, no cookie) shows the same page encrypted", async (t) => {
      if (skip) return t.skip(skip);
      const page = await shot(t, 'webui-raw-port', `http://127.0.0.1:${server.uiPort}${pagePath(ok)}`);
      assert.match(page.text, new RegExp(ok.task_id), "the raw UI did not render the task's page");
      assert.ok(!page.text.includes('echo ok; exit 0'), 'the raw UI port shows the command');
      assert.ok(!page.text.includes(ok.workflow_url), 'the raw UI port shows the result');
      assert.match(page.text, /Codec Server could not connect/);
    });
  });
});
