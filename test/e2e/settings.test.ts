// Issue I, items 2 and 6: the original tool's settings do what they say, seen from outside, and
// `cluster-router doctor` checks everything a task needs. fi1 is a real sshd node; fi2 is an
// SSH server that logs in but never starts a command (CLUSTER_SSH_TIMEOUT); fi3 drops every
// connection before the handshake (CLUSTER_SSH_RETRIES). Everything listens on loopback, the
// DNS server (CLUSTER_DNS) included.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import type { DoctorReport } from '../../src/client/doctor.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dnsServer.js';
import { startDroppingNode, startStuckSshNode, type FakeNode } from '../helpers/fakeNodes.js';
import { startHarness, structured, type Harness } from '../helpers/harness.js';

interface Result {
  success: boolean;
  state: string;
  executed_on: string;
  error: string | null;
  return_code: number | null;
}

describe('the original settings, end to end', () => {
  let h: Harness;
  let stuck: FakeNode;
  let drop: FakeNode;
  let dns: TestDnsServer | undefined;
  before(async () => {
    stuck = await startStuckSshNode();
    drop = await startDroppingNode();
    h = await startHarness({
      namePrefix: 'fi',
      nodes: 3,
      extraNodeYaml: { fi2: { host: '127.0.0.1', port: stuck.port }, fi3: { host: '127.0.0.1', port: drop.port } },
      env: {
        CLUSTER_SSH_TIMEOUT: '1',
        CLUSTER_SSH_RETRIES: '1',
        CLUSTER_STATUS_TIMEOUT: '3',
        // Every connection attempt is the workflow's (no head start), and no probe after the first.
        CLUSTERFLOW_HEAD_START: '0',
        CLUSTERFLOW_MONITOR_INTERVAL_S: '3600',
      },
    });
  });
  after(async () => {
    await h?.close();
    await Promise.all([stuck?.close(), drop?.close(), dns?.close()]);
  });

  const call = async (name: string, args: Record<string, unknown>) => h.mcp.callTool({ name, arguments: args }, undefined, { timeout: 180_000 });

  it('CLUSTER_SSH_TIMEOUT: a node that never starts the command fails the task in seconds, naming the setting', async () => {
    const started = Date.now();
    const r = structured<Result>(await call('offload_to', { command: 'echo hi', node_id: 'fi2', timeout_s: 5 }));
    // Ignored, the exec would wait for its session until the activity's own timeout (2 min later).
    assert.ok(Date.now() - started < 30_000, `answered after ${Date.now() - started} ms`);
    assert.equal(r.state, 'failed', JSON.stringify(r));
    assert.match(r.error ?? '', /did not open a session and start the command within CLUSTER_SSH_TIMEOUT \(1 s\)/);
  });

  it('CLUSTER_SSH_RETRIES=1: two connection attempts, then the node counts as unreachable', async () => {
    // The monitor's first probe (which also tries fi3) is over once cluster_status has figures.
    const st = structured<{ probed_at: string | null; nodes: Record<string, { status: string }> }>(await call('cluster_status', {}));
    assert.ok(st.probed_at);
    assert.equal(st.nodes.fi3?.status, 'unreachable');
    const before = drop.connections();
    const r = structured<Result>(await call('offload_to', { command: 'echo hi', node_id: 'fi3' }));
    assert.equal(drop.connections() - before, 2, 'one attempt and one retry (ignored, Temporal would try 3 times)');
    assert.equal(r.state, 'failed');
    assert.match(r.error ?? '', /unreachable after 2 attempts: CLUSTER_SSH_RETRIES=1/);
  });

  it('CLUSTER_DNS: node names resolve through that server; doctor passes every check of a healthy cluster (exit 0)', async () => {
    const config = parseYaml(readFileSync(h.cluster.configPath, 'utf8')) as { nodes: Array<Record<string, unknown>> };
    const fi1 = h.cluster.nodes.find((n) => n.id === 'fi1')!;
    dns = await startDnsServer({ 'fi1.cf-test': [fi1.host] });
    // Discovery may give a loopback address only when the node's ip names it (DESIGN.md).
    config.nodes = config.nodes
      .filter((n) => n.id === 'local' || n.id === 'fi1')
      .map((n) => (n.id === 'fi1' ? { ...n, host: 'fi1.cf-test', ip: fi1.host } : n));
    const file = path.join(h.dir, 'dns-cluster.yaml');
    writeFileSync(file, stringify(config));
    const r = await h.cli(['doctor'], { env: { CLUSTER_CONFIG: file, CLUSTER_DNS: dns.address } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^ok +address +fi1: fi1\\.cf-test → ${fi1.host.replace(/\./g, '\\.')} \\(dns\\)$`, 'm'), r.stdout);
    assert.ok(dns.queries.includes('fi1.cf-test'), JSON.stringify(dns.queries));
    for (const check of ['config', 'host-key', 'login', 'clock', 'disk', 'temporal', 'namespace', 'search-attributes', 'worker']) {
      assert.match(r.stdout, new RegExp(`^ok +${check} `, 'm'), `${check}:\n${r.stdout}`);
    }
    assert.match(r.stdout, /^ok +worker +clusterflow-node-fi1: /m);
    assert.match(r.stdout, /all checks passed\n$/);
  });

  it('doctor: a broken node fails its checks, each with the fix; --json; exit 1', async () => {
    const r = await h.cli(['doctor']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAIL +login +fi2: .*CLUSTER_SSH_TIMEOUT.* — fix: /m, r.stdout);
    assert.match(r.stdout, /^FAIL +host-key +fi3: cannot fetch the host key: .* — fix: check that sshd runs on 127\.0\.0\.1 port \d+/m, r.stdout);
    assert.match(r.stdout, /^ok +login +fi1: logged in as cf-fi1@/m, r.stdout);
    const j = await h.cli(['doctor', '--json']);
    assert.equal(j.code, 1);
    const report = JSON.parse(j.stdout) as DoctorReport;
    assert.equal(report.ok, false);
    for (const c of report.checks.filter((x) => x.status === 'fail')) assert.ok(c.fix, JSON.stringify(c));
    assert.ok(report.checks.some((c) => c.check === 'worker' && c.target === 'clusterflow' && c.status === 'ok'));
  });

  it("CLUSTER_GATEWAY names the route to this machine's address; AGENTIC_SYSTEM_PATH holds the state", async () => {
    const file = path.join(h.dir, 'gateway.yaml');
    writeFileSync(file, 'nodes:\n  - { id: gw, host: 127.0.0.1 }\n');
    const r = await h.cli(['doctor', '--json'], { env: { CLUSTER_CONFIG: file, CLUSTER_GATEWAY: '127.0.0.1' } });
    const report = JSON.parse(r.stdout) as DoctorReport;
    const config = report.checks.find((c) => c.check === 'config')!;
    assert.match(
      config.detail,
      /local node: gw \(host 127\.0\.0\.1 is an address of this machine \(the route to CLUSTER_GATEWAY 127\.0\.0\.1\)\)/,
      config.detail,
    );

    const agentic = path.join(h.dir, 'agentic');
    mkdirSync(agentic);
    const env = { ...h.env, CLUSTERFLOW_HOME: '', AGENTIC_SYSTEM_PATH: agentic, CLUSTER_CONFIG: file };
    const a = await h.cli(['doctor', '--json'], { env });
    const temporal = (JSON.parse(a.stdout) as DoctorReport).checks.find((c) => c.check === 'temporal')!;
    assert.match(temporal.detail, new RegExp(`embedded dev server of ${path.join(agentic, 'clusterflow').replace(/\//g, '\\/')} is not running`));
  });
});
