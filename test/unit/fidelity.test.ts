// Issue I, items 2-4 where the logic is pure: the original tool's settings (CLUSTER_DNS,
// CLUSTER_GATEWAY, AGENTIC_SYSTEM_PATH, CLUSTER_SSH_RETRIES), this machine as one of the nodes,
// the original cluster file, specialties and the `test` program.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { classifyCommand } from '../../src/cluster/classify.js';
import { ConfigError, defaultStateDir, parseConfig } from '../../src/cluster/config.js';
import { pickNode } from '../../src/cluster/placement.js';
import { AddressResolver } from '../../src/cluster/resolve.js';
import { commandKinds } from '../../src/cluster/specialties.js';
import { addressTowards, thisMachine, thisMachineReason, type MachineIdentity } from '../../src/cluster/thisMachine.js';
import { spendRetryBudget } from '../../src/engine/failures.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { activityAttempts, FailureType, type NodeConfig, type NodeState } from '../../src/shared.js';
import { startDnsServer } from '../helpers/dnsServer.js';

const tmp = mkdtempSync(join(tmpdir(), 'clusterflow-fidelity-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const baseEnv = { HOME: join(tmp, 'home'), USER: 'osuser' };
const noSsh = join(tmp, 'no-ssh-config');
const elsewhere: MachineIdentity = { hostnames: ['elsewhere'], addresses: ['198.51.100.7'] };
const parse = (text: string, env: NodeJS.ProcessEnv = {}, machine: MachineIdentity = elsewhere) =>
  parseConfig(text, 'cluster.yaml', { env: { ...baseEnv, ...env }, sshConfigPath: noSsh, machine });
const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
};

describe('item 2: the original settings do something', () => {
  it('AGENTIC_SYSTEM_PATH holds the state when CLUSTERFLOW_HOME is unset', () => {
    assert.equal(defaultStateDir({ HOME: '/h', AGENTIC_SYSTEM_PATH: '/mnt/agentic-system' }), '/mnt/agentic-system/clusterflow');
    assert.equal(defaultStateDir({ HOME: '/h', AGENTIC_SYSTEM_PATH: '/a', CLUSTERFLOW_HOME: '/s' }), '/s');
    assert.equal(defaultStateDir({ HOME: '/h' }), '/h/.local/state/clusterflow');
  });
  it('CLUSTER_DNS and CLUSTER_GATEWAY are read and checked', () => {
    const s = parse('nodes: []', { CLUSTER_DNS: '127.0.0.53:5353, ::1', CLUSTER_GATEWAY: '127.0.0.1' }).settings;
    assert.deepEqual(s.dnsServers, ['127.0.0.53:5353', '::1']);
    assert.equal(s.gateway, '127.0.0.1');
    assert.match(
      errorOf(() => parse('', { CLUSTER_DNS: 'dns.example' })),
      /^CLUSTER_DNS: expected a DNS server address \(address or address:port\), got "dns.example"; fix: set CLUSTER_DNS to/,
    );
    assert.match(
      errorOf(() => parse('', { CLUSTER_GATEWAY: 'router' })),
      /^CLUSTER_GATEWAY: expected the gateway's IP address/,
    );
    assert.deepEqual(parse('settings: { dns: [127.0.0.2] }').settings.dnsServers, ['127.0.0.2']);
  });
  it("CLUSTER_DNS: node names are resolved by that server (a DNS server of the test's own on loopback)", async () => {
    const dns = await startDnsServer({ 'builder.cf-test': ['127.0.0.77'] });
    try {
      const r = new AddressResolver({ ttlS: 0, dnsServers: [dns.address] });
      const got = await r.resolve({ id: 'b', host: 'builder.cf-test', ip: '127.0.0.77' });
      assert.deepEqual([got.address, got.via], ['127.0.0.77', 'dns']);
      assert.ok(dns.queries.includes('builder.cf-test'), JSON.stringify(dns.queries));
      // A name it does not know: the note names CLUSTER_DNS, and the fallback ip is used.
      const miss = await r.resolve({ id: 'c', host: 'nobody.cf-test', ip: '127.0.0.78' });
      assert.equal(miss.via, 'fallback-ip');
      assert.match(miss.detail ?? '', /CLUSTER_DNS 127\.0\.0\.1:\d+/);
    } finally {
      await dns.close();
    }
  });
  it("CLUSTER_GATEWAY: the address on the gateway's subnet is this machine's", () => {
    const ifaces = [
      { iface: 'lo', address: '127.0.0.1', cidr: '127.0.0.1/8', internal: true },
      { iface: 'eth0', address: '198.51.100.7', cidr: '198.51.100.7/24', internal: false },
    ];
    assert.equal(addressTowards('198.51.100.1', ifaces)?.iface, 'eth0');
    assert.equal(addressTowards('203.0.113.1', ifaces), undefined);
    assert.deepEqual(thisMachine(undefined, ifaces, 'box').addresses, ['198.51.100.7']);
    // Loopback counts only when the gateway's route says so (a test's explicit mark).
    assert.deepEqual(thisMachine('127.0.0.1', ifaces, 'box').addresses, ['198.51.100.7', '127.0.0.1']);
    const warned = parseConfig('nodes: [{id: a, host: a.local}]', 'c.yaml', { env: { ...baseEnv, CLUSTER_GATEWAY: '203.0.113.1' }, sshConfigPath: noSsh });
    assert.match((warned.warnings ?? []).join('\n'), /CLUSTER_GATEWAY: 203\.0\.113\.1 is on no subnet/);
  });
  it('CLUSTER_SSH_RETRIES: the workflow allows the attempts, the activity stops at the budget', () => {
    assert.equal(activityAttempts(undefined, 3), 3, 'histories without the setting replay as recorded');
    assert.equal(activityAttempts(0, 3), 3);
    assert.equal(activityAttempts(2, 3), 3);
    assert.equal(activityAttempts(6, 3), 7);
    const unreachable = ApplicationFailure.retryable('n1: cannot connect', FailureType.NodeUnreachable);
    assert.equal(spendRetryBudget(unreachable, 1, 1), unreachable, 'first attempt of 2: retried');
    const spent = spendRetryBudget(unreachable, 2, 1) as ApplicationFailure;
    assert.equal(spent.nonRetryable, true);
    assert.equal(spent.type, FailureType.NodeUnreachable);
    assert.match(spent.message, /unreachable after 2 attempts: CLUSTER_SSH_RETRIES=1/);
    assert.equal((spendRetryBudget(unreachable, 1, 0) as ApplicationFailure).nonRetryable, true);
    const lost = ApplicationFailure.retryable('lost', FailureType.ConnectionLost);
    assert.equal(spendRetryBudget(lost, 9, 0), lost, 'a command already sent is re-attached, never given up as unreachable');
    assert.equal(spendRetryBudget(unreachable, 9, undefined), unreachable);
  });
  it('warns that `nodes: []` means this machine alone', () => {
    assert.match((parse('nodes: []').warnings ?? []).join(), /nodes is an empty list, so the cluster is this machine alone/);
    assert.equal(parse('settings: { cpu_threshold: 50 }').warnings, undefined);
  });
});

describe('item 3: this machine is one of the nodes', () => {
  const me: MachineIdentity = { hostnames: ['macpro51'], addresses: ['198.51.100.7', 'fd00::7'] };
  const cases: Array<[string, Partial<NodeConfig>, boolean]> = [
    ['host is the hostname', { host: 'macpro51' }, true],
    ['host is <hostname>.local', { host: 'MacPro51.local' }, true],
    ['host is the hostname in a domain', { host: 'macpro51.example.org' }, true],
    ['ip is an interface address', { host: 'other.local', ip: '198.51.100.7' }, true],
    ['an IPv6 interface address', { host: '[fd00::7]' }, true],
    ['another machine', { host: 'mac-studio.local', ip: '198.51.100.8' }, false],
    ['a hostname that only starts the same', { host: 'macpro51b.local' }, false],
    ['port 2222 on this machine is a forwarded port or a second sshd', { host: 'macpro51', port: 2222 }, false],
    ['loopback is a tunnel or a test sshd', { host: '127.0.0.1' }, false],
    ['localhost likewise', { host: 'localhost' }, false],
  ];
  for (const [name, node, local] of cases) {
    it(`${name}: ${local ? 'this machine' : 'not this machine'}`, () => {
      assert.equal(thisMachineReason({ port: 22, ...node }, me) !== undefined, local);
    });
  }
  it('the node found to be this machine runs locally, and says why', () => {
    const cfg = parse('nodes: [{id: macpro51, host: macpro51.local}, {id: studio, host: studio.local}]', {}, me);
    const n = cfg.nodes.find((x) => x.id === 'macpro51')!;
    assert.equal(n.local, true);
    assert.match(n.localReason ?? '', /macpro51\.local is this machine's hostname/);
    assert.equal(cfg.nodes.find((x) => x.id === 'studio')!.local, false);
  });
  it('`local: true` elsewhere, or `local: false` on it, wins', () => {
    const a = parse('nodes: [{id: here, local: true}, {id: macpro51, host: macpro51}]', {}, me);
    assert.deepEqual(
      a.nodes.map((n) => n.local),
      [true, false],
    );
    const b = parse('nodes: [{id: macpro51, host: macpro51, local: false}]', {}, me);
    assert.equal(b.nodes[0]!.local, false);
  });
  it('two nodes that are both this machine: an error naming both', () => {
    const msg = errorOf(() => parse('nodes: [{id: a, host: macpro51}, {id: b, ip: 198.51.100.7}]', {}, me));
    assert.match(msg, /nodes\[0\] \(a\).*nodes\[1\] \(b\).*more than one node is this machine; fix: write local: true/);
  });
  it('CLUSTER_GATEWAY on loopback marks a loopback test node as this machine', () => {
    const machine = thisMachine('127.0.0.1', [{ iface: 'lo', address: '127.0.0.1', cidr: '127.0.0.1/8', internal: true }], 'box');
    assert.equal(parse('nodes: [{id: t, host: 127.0.0.1}]', {}, machine).nodes[0]!.local, true);
  });
});

describe('item 4: the original cluster, specialties and `test`', () => {
  const file = join(PACKAGE_ROOT, 'examples', 'original-cluster.yaml');
  it('examples/original-cluster.yaml has the original four machines, exactly as its table', () => {
    const text = readFileSync(file, 'utf8');
    const cfg = parseConfig(text, file, { env: baseEnv, sshConfigPath: noSsh, machine: { hostnames: ['macpro51'], addresses: [] } });
    const view = Object.fromEntries(cfg.nodes.map((n) => [n.id, [n.os, n.arch, n.capabilities.join(', '), n.specialties.join(', ')]]));
    assert.deepEqual(view, {
      macpro51: ['linux', 'x86_64', 'docker, podman, raid, nvme, compilation, testing, tpu', 'compilation, testing, containerization, benchmarking'],
      'mac-studio': ['macos', 'arm64', 'orchestration, coordination, temporal, mlx-gpu, arduino', 'orchestration, coordination, monitoring'],
      'macbook-air': ['macos', 'arm64', 'research, documentation, analysis', 'research, documentation, mobile'],
      inference: ['macos', 'arm64', 'ollama, inference, model-serving, llm-api', 'ollama-inference, model-serving'],
    });
    assert.deepEqual(
      cfg.nodes.filter((n) => n.local).map((n) => n.id),
      ['macpro51'],
      'on macpro51, macpro51 is the local node',
    );
    assert.ok(cfg.nodes.every((n) => !n.host || n.host.endsWith('.local')));
    for (const v of ['CLUSTER_MACPRO51_HOST', 'CLUSTER_MACSTUDIO_IP', 'CLUSTER_MACBOOKAIR_HOST', 'CLUSTER_INFERENCE_IP']) assert.ok(text.includes(v), v);
    assert.doesNotMatch(text, /\b(10|192\.168|172\.(1[6-9]|2\d|3[01]))\.\d+\.\d+/, 'no private addresses');
  });

  const kinds: Array<[string, string[]]> = [
    ['make -j8 all', ['compilation']],
    ['gcc -O2 x.c', ['compilation']],
    ['cargo build --release', ['compilation']],
    ['cargo test', ['testing']],
    ['make test', ['testing']],
    ['pytest tests/unit/', ['testing']],
    ['npx jest', ['testing']],
    ['python -m pytest -q', ['testing']],
    ['./test', ['testing']],
    ['docker build .', ['containerization']],
    ['podman run -it ubuntu:22.04', ['containerization']],
    ['ollama run llama3', ['ollama-inference']],
    ['ollama serve', ['model-serving']],
    ['make && docker build .', ['compilation', 'containerization']],
    ['hyperfine "sleep 0.1"', ['benchmarking']],
    ['ls -la', []],
    ['test -f x && cat x', []],
    ['[ -d build ] || mkdir build', []],
  ];
  for (const [command, want] of kinds) it(`kinds of \`${command}\`: ${want.join(', ') || 'none'}`, () => assert.deepEqual(commandKinds(command), want));

  it("`test` is in the offload set as a program; the shell's test builtin stays light", () => {
    assert.equal(classifyCommand('./test --all').weight, 'heavy');
    assert.equal(classifyCommand('scripts/test').weight, 'heavy');
    assert.equal(classifyCommand('test -f Makefile && echo yes').weight, 'light');
    assert.equal(classifyCommand('[ -f Makefile ] && echo yes').weight, 'light');
  });

  const settings = parse('').settings;
  const node = (id: string, specialties: string[] = [], extra: Partial<NodeConfig> = {}): NodeConfig => ({
    id,
    local: false,
    host: `${id}.test`,
    port: 22,
    capabilities: [],
    specialties,
    maxParallel: 8,
    priority: 0,
    ...extra,
  });
  const quiet = (id: string, cpu = 10): NodeState => ({
    id,
    status: 'healthy',
    cpu_percent: cpu,
    memory_percent: 20,
    load_avg: [0.2, 0.2, 0.2],
    cores: 8,
    in_flight: 0,
    capabilities: [],
  });
  const nodes = [node('a-plain'), node('b-builder', ['compilation']), node('c-tester', ['testing'])];
  const states = Object.fromEntries(nodes.map((n) => [n.id, quiet(n.id)]));
  const placements: Array<[string, string[], Record<string, NodeState>, Record<string, number>, string]> = [
    ['equal load, compilation', ['compilation'], states, {}, 'b-builder'],
    ['equal load, testing', ['testing'], states, {}, 'c-tester'],
    ['equal load, no kind: id order', [], states, {}, 'a-plain'],
    ['the specialist is clearly busier', ['compilation'], { ...states, 'b-builder': quiet('b-builder', 30) }, {}, 'a-plain'],
    ['the specialist has work in flight', ['compilation'], states, { 'b-builder': 1 }, 'a-plain'],
    ['within the margin (1 % cpu more)', ['compilation'], { ...states, 'b-builder': quiet('b-builder', 11) }, {}, 'b-builder'],
  ];
  for (const [name, ks, st, reserved, want] of placements) {
    it(`placement: ${name} → ${want}`, () => {
      const p = pickNode({ weight: 'heavy', kinds: ks }, nodes, st, reserved, settings);
      assert.equal(p.nodeId, want, p.reason);
      if (want !== 'a-plain') assert.match(p.reason, /specialty \w+ breaks a tie with/);
    });
  }
});
