// Issue I: every "Usage Example" of the original tool's README, through the real MCP SDK client,
// against a loopback cluster configured like examples/original-cluster.yaml: the same ids, OS,
// arch, capabilities and specialties. macpro51 is this machine, found by its hostname (the file
// says no `local: true`); mac-studio, macbook-air and inference are sshd nodes on 127.x that
// claim macOS / arm64 in the config (config wins over the probe for placement), as the
// original's Macs would. The programs the examples run (make, docker, cargo, podman, swift,
// pytest) are not installed for the node users, and serve runs with PATH=/usr/bin:/bin so this
// machine lacks them too: what each example proves is routing, the tool contract and honest
// results (the program's own exit code, 127 with bash's own "command not found" line).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { startHarness, structured, type Harness } from '../helpers/harness.js';

interface Result {
  success: boolean;
  state: string;
  executed_on: string;
  stdout: string;
  stderr: string;
  return_code: number | null;
  auto_routed: boolean;
  route_reason: string;
  error: string | null;
  task_id: string;
  duration_ms: number;
}
interface Fanout {
  task_id: string;
  state: string;
  results: Result[];
  summary: { total: number; succeeded: number; failed: number; cancelled: number; by_node: Record<string, { succeeded: number; failed: number }> };
}
interface Status {
  local_node: string | null;
  probed_at: string | null;
  nodes: Record<
    string,
    {
      id: string;
      status: string;
      cpu_percent?: number;
      memory_percent?: number;
      load_avg?: number[];
      cores?: number;
      in_flight: number;
      capabilities: string[];
      specialties?: string[];
    }
  >;
}

const MACS = ['mac-studio', 'macbook-air', 'inference'];
// Every node reports the same quiet figures: equally loaded, so ties are real ties.
const QUIET = 'echo cpu_percent=10; echo memory_percent=20; echo load1=0.2';

const original = parseYaml(readFileSync(path.join(PACKAGE_ROOT, 'examples', 'original-cluster.yaml'), 'utf8')) as { nodes: Array<Record<string, unknown>> };
const asInFile = Object.fromEntries(original.nodes.map(({ id, host: _host, ...rest }) => [String(id), { ...rest, metrics_command: QUIET }]));
const specialtiesOf = (id: string) => original.nodes.find((n) => n.id === id)!.specialties as string[];

describe("the original README's usage examples", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      namePrefix: 'fi',
      nodeIds: MACS,
      localId: 'macpro51',
      localDetected: true,
      extraNodeYaml: asInFile,
      env: { PATH: '/usr/bin:/bin' },
    });
  });
  after(async () => {
    await h?.close();
  });

  const call = async (name: string, args: Record<string, unknown>) => h.mcp.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  const bash = async (args: Record<string, unknown>) => structured<Result>(await call('cluster_bash', args));
  /** A program that is not there: exit 127 and bash's own line, nothing of the runner's. */
  const notFound = (r: Result, program: string) => {
    assert.equal(r.return_code, 127, JSON.stringify(r));
    assert.equal(r.success, false);
    assert.equal(r.state, 'failed');
    assert.match(r.stderr, new RegExp(`^bash: line 1: ${program}: command not found\\n$`), r.stderr);
    assert.equal(r.error, 'exit code 127 (command not found)');
  };

  it('cluster_status(): local_node is macpro51 (found by hostname), every node with the original fields', async () => {
    const st = structured<Status>(await call('cluster_status', { refresh: true }));
    assert.equal(st.local_node, 'macpro51');
    assert.deepEqual(Object.keys(st.nodes).sort(), ['inference', 'mac-studio', 'macbook-air', 'macpro51']);
    for (const [id, n] of Object.entries(st.nodes)) {
      assert.equal(n.status, 'healthy', `${id}: ${JSON.stringify(n)}`);
      assert.equal(typeof n.cpu_percent, 'number');
      assert.equal(typeof n.memory_percent, 'number');
      assert.equal(n.load_avg?.length, 3);
      assert.deepEqual(n.specialties, specialtiesOf(id), id);
    }
    assert.deepEqual(st.nodes.macpro51!.capabilities, ['docker', 'podman', 'raid', 'nvme', 'compilation', 'testing', 'tpu']);
  });

  it('cluster_bash("ls -la"): a simple command runs locally, on macpro51', async () => {
    const r = await bash({ command: 'ls -la' });
    assert.equal(r.success, true, JSON.stringify(r));
    assert.equal(r.executed_on, 'macpro51');
    assert.match(r.route_reason, /^light/);
    assert.match(r.stdout, /^total \d+/);
  });

  it("macpro51 runs without SSH: as this process's user, where the sshd nodes log in as their own", async () => {
    const here = structured<Result>(await call('offload_to', { command: 'id -un', node_id: 'macpro51' }));
    assert.equal(here.stdout.trim(), userInfo().username);
    const there = structured<Result>(await call('offload_to', { command: 'id -un', node_id: 'mac-studio' }));
    assert.notEqual(there.stdout.trim(), userInfo().username);
  });

  it('cluster_bash("make -j8 all"): heavy, auto-routed to the least loaded node, which is not the local one', async () => {
    const r = await bash({ command: 'make -j8 all' });
    assert.equal(r.auto_routed, true);
    assert.match(r.route_reason, /^heavy: `make` in `make -j8 all` is in the offload set; heavy: \S+ least loaded/, r.route_reason);
    assert.ok(MACS.includes(r.executed_on), r.executed_on);
    // No Makefile in the node user's home: make's own failure (or 127 where make is missing).
    assert.equal(r.success, false);
    if (r.return_code === 127) notFound(r, 'make');
    else {
      assert.equal(r.return_code, 2, JSON.stringify(r));
      assert.match(r.stderr, /No rule to make target 'all'/);
    }
  });

  it('cluster_bash("docker build .", requires_os="linux"): only macpro51 is Linux', async () => {
    const r = await bash({ command: 'docker build .', requires_os: 'linux' });
    assert.equal(r.executed_on, 'macpro51', r.route_reason);
    assert.match(r.route_reason, /excluded: .*mac-studio \(os is macos, linux required\)/, r.route_reason);
    notFound(r, 'docker');
  });

  it('cluster_bash("cargo build", requires_arch="x86_64"): only macpro51 is x86_64', async () => {
    const r = await bash({ command: 'cargo build', requires_arch: 'x86_64' });
    assert.equal(r.executed_on, 'macpro51', r.route_reason);
    assert.match(r.route_reason, /inference \(arch is arm64, x86_64 required\)/, r.route_reason);
    notFound(r, 'cargo');
  });

  it('offload_to("podman run -it ubuntu:22.04", node_id="macpro51"): runs there, as asked', async () => {
    const r = structured<Result>(await call('offload_to', { command: 'podman run -it ubuntu:22.04', node_id: 'macpro51' }));
    assert.deepEqual([r.executed_on, r.auto_routed, r.route_reason], ['macpro51', false, 'explicit: offload to macpro51']);
    notFound(r, 'podman');
  });

  it('offload_to("swift build", node_id="mac-studio"): runs there over SSH', async () => {
    const r = structured<Result>(await call('offload_to', { command: 'swift build', node_id: 'mac-studio' }));
    assert.deepEqual([r.executed_on, r.auto_routed], ['mac-studio', false]);
    notFound(r, 'swift');
  });

  it('parallel_execute(["pytest tests/unit/", "pytest tests/integration/", "pytest tests/e2e/"]): spread, results in order, honest summary', async () => {
    const commands = ['pytest tests/unit/', 'pytest tests/integration/', 'pytest tests/e2e/'];
    const r = structured<Fanout>(await call('parallel_execute', { commands }));
    assert.equal(r.state, 'failed');
    assert.deepEqual(r.summary.total, 3);
    assert.deepEqual([r.summary.succeeded, r.summary.failed, r.summary.cancelled], [0, 3, 0]);
    r.results.forEach((x, i) => {
      assert.equal(x.task_id, `${r.task_id}/${i}`);
      notFound(x, 'pytest');
    });
    // Equally loaded nodes, and each placement reserves its node: three commands, three nodes.
    assert.equal(Object.keys(r.summary.by_node).length, 3, JSON.stringify(r.summary.by_node));
  });

  it('the original\'s spellings: requires_os="macOS" goes to a Mac, "darwin" + "AMD64" is a clear no eligible node in canonical words', async () => {
    const r = await bash({ command: 'swift build', requires_os: 'macOS' });
    assert.ok(MACS.includes(r.executed_on), r.executed_on);
    notFound(r, 'swift');
    const res = await call('cluster_bash', { command: 'swift build', requires_os: 'darwin', requires_arch: 'AMD64' });
    assert.equal(res.isError, true, JSON.stringify(res));
    const text = (res.content as Array<{ text: string }>)[0]!.text;
    assert.match(text, /no eligible node/);
    assert.match(text, /macpro51: os is linux, macos required/);
    for (const id of MACS) assert.match(text, new RegExp(`${id}: arch is arm64, x86_64 required`));
  });

  it('specialties break ties: a documentation job among the equally loaded Macs goes to macbook-air', async () => {
    // Light (pandoc is not in the offload set), and macpro51 is no Mac: placed among the Macs by score.
    const r = await bash({ command: 'pandoc README.md -o README.pdf', requires_os: 'macos' });
    assert.equal(r.executed_on, 'macbook-air', r.route_reason);
    assert.match(r.route_reason, /specialty documentation breaks a tie with/);
    notFound(r, 'pandoc');
  });
});
