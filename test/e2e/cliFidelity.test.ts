// Issue I, items 5-7 through the real CLI: exit codes and messages a user can act on, options
// in any order, tables fit for a pipe, and the Temporal errors that used to be a raw transport
// error or an empty log.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI, startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

describe('the CLI, as a user meets it', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ namePrefix: 'fi', nodes: 2, extraNodeYaml: { fi1: { capabilities: ['docker'] } } });
  });
  after(async () => {
    await h?.close();
  });

  const taskIdOf = (json: string) => (JSON.parse(json) as { task_id: string }).task_id;

  it('submit --timeout 1 "sleep 5" exits 124 and says it timed out; status --exit-code agrees', async () => {
    const r = await h.cli(['submit', '--timeout', '1', 'sleep 5']);
    assert.equal(r.code, 124, r.stderr);
    assert.match(r.stderr, /timed out after 1 s/);
    const j = await h.cli(['submit', '--json', '--timeout', '1', 'sleep 5']);
    assert.equal(j.code, 124);
    const s = await h.cli(['status', '--exit-code', taskIdOf(j.stdout)]);
    assert.equal(s.code, 124, s.stderr);
    assert.equal((await h.cli(['status', taskIdOf(j.stdout)])).code, 0, 'without --exit-code, status exits 0');
  });

  it('a missing program says so as bash does, in the CLI, the tool result and the stored output', async () => {
    const r = await h.cli(['submit', '--json', '--node', 'fi1', 'cargo build']);
    assert.equal(r.code, 127);
    const result = JSON.parse(r.stdout) as { stderr: string; task_id: string };
    assert.equal(result.stderr, 'bash: line 1: cargo: command not found\n');
    const human = await h.cli(['submit', '--node', 'fi1', 'echo ok\nnosuch-tool --version']);
    assert.equal(human.code, 127);
    assert.match(human.stderr, /^bash: line 2: nosuch-tool: command not found\n/);
    const logs = await h.cli(['logs', '--stderr', result.task_id]);
    assert.equal(logs.stdout, 'bash: line 1: cargo: command not found\n');
    assert.equal((await h.cli(['status', '--exit-code', result.task_id])).code, 127);
  });

  it('options may come before the command: submit --capability docker "uname -n"; parallel --capability', async () => {
    const r = await h.cli(['submit', '--capability', 'docker', 'uname -n']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^\[fi1 · completed/m);
    const p = await h.cli(['parallel', '--capability', 'docker', '--json', 'id -un', 'id -un']);
    assert.equal(p.code, 0, p.stderr);
    const fan = JSON.parse(p.stdout) as { results: Array<{ executed_on: string; stdout: string }> };
    assert.deepEqual(
      fan.results.map((x) => [x.executed_on, x.stdout]),
      [
        ['fi1', 'cf-fi1\n'],
        ['fi1', 'cf-fi1\n'],
      ],
    );
    const os = await h.cli(['submit', '--os', 'Linux', '--arch', 'x86-64', '--node', 'fi2', 'true']);
    assert.equal(os.code, 0, os.stderr);
  });

  it('list has a header row; hosts list has no colour codes in a pipe', async () => {
    const l = await h.cli(['list']);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout.split('\n')[0]!, /^task_id +state +node +started +command$/);
    const hosts = await h.cli(['hosts', 'list']);
    assert.equal(hosts.code, 0, hosts.stderr);
    assert.doesNotMatch(hosts.stdout, /\x1b\[/);
    assert.match(hosts.stdout, /│ node +│ host/);
  });

  it('`nodes: []` in cluster.yaml is valid but warns what it means', async () => {
    const file = path.join(h.dir, 'empty-nodes.yaml');
    writeFileSync(file, 'nodes: []\n');
    const r = await h.cli(['hosts', 'list'], { env: { CLUSTER_CONFIG: file } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^cluster-router: warning: .*empty-nodes\.yaml: nodes is an empty list, so the cluster is this machine alone .*; fix: /m);
  });

  it('an unreachable TEMPORAL_ADDRESS: one line with the cause and the fix, from the CLI and from serve', async () => {
    const env = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const r = await h.cli(['list'], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^cluster-router: TemporalError: cannot reach the Temporal server named by TEMPORAL_ADDRESS at 127\.0\.0\.1:1: connection refused; fix: start that server, correct TEMPORAL_ADDRESS/,
    );
    // serve exits before any MCP traffic: the client sees the connection close, the line is on stderr.
    let stderr = '';
    let stderrEnded = false;
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'serve'], env: { ...h.env, ...env }, stderr: 'pipe' });
    transport.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    transport.stderr?.on('end', () => {
      stderrEnded = true;
    });
    const client = new Client({ name: 'cf-e2e', version: '1' });
    await assert.rejects(client.connect(transport));
    await waitFor('the stderr of serve to end', () => stderrEnded, 10_000);
    assert.match(
      stderr,
      /cluster-router: TemporalError: cannot reach the Temporal server named by TEMPORAL_ADDRESS at 127\.0\.0\.1:1: connection refused; fix: /,
    );
  });

  it('a missing TEMPORAL_CLI: the variable, the cause and the fix', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'cf-fi-home-'));
    const r = await h.cli(['list'], { env: { CLUSTERFLOW_HOME: home, TEMPORAL_CLI: '/nonexistent/temporal' } });
    rmSync(home, { recursive: true, force: true });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      'cluster-router: TemporalError: TEMPORAL_CLI=/nonexistent/temporal does not exist; fix: run scripts/setup.sh (installs it into .tools/temporal), set TEMPORAL_CLI to a temporal binary, or set TEMPORAL_ADDRESS to use a running server',
    );
  });
});
