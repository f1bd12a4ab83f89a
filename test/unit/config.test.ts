import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_LOCAL_COMMANDS, DEFAULT_OFFLOAD_COMMANDS } from '../../src/cluster/classify.js';
import { ConfigError, DEFAULT_SOURCE, loadConfig, nodeEnvKeys, parseConfig } from '../../src/cluster/config.js';
import type { ClusterConfig, NodeConfig } from '../../src/shared.js';

const tmp = mkdtempSync(join(tmpdir(), 'clusterflow-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const home = join(tmp, 'home');
const noSsh = join(tmp, 'no-ssh-config');
/** A hermetic env: no real ~, no real ~/.ssh/config, a fixed OS user. */
const baseEnv = { HOME: home, USER: 'osuser' };

const parse = (text: string, env: NodeJS.ProcessEnv = {}, sshConfigPath = noSsh): ClusterConfig =>
  parseConfig(text, 'cluster.yaml', { env: { ...baseEnv, ...env }, sshConfigPath });
const nodeOf = (cfg: ClusterConfig, id: string): NodeConfig => {
  const n = cfg.nodes.find((x) => x.id === id);
  assert.ok(n, `node ${id} missing`);
  return n;
};
/** The message a ConfigError carries, or a failure if anything else happens. */
const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace in the message');
    return err.message;
  }
  assert.fail('expected a ConfigError');
};

const DESIGN_EXAMPLE = `
defaults: { user: builder, identity_file: ~/.ssh/id_ed25519, port: 22 }
nodes:
  - { id: local, local: true }
  - id: builder1
    host: builder1.local
    ip: 127.0.0.21
    port: 2222
    os: linux
    arch: x86_64
    capabilities: [docker, compilation]
    max_parallel: 4
  - { id: MAC-STUDIO, host: studio.local, os: darwin, arch: aarch64, priority: 3, specialties: [xcode], metrics_command: "echo load1=1" }
`;

describe('parseConfig: the DESIGN.md shape', () => {
  const cfg = parse(DESIGN_EXAMPLE);
  it('maps snake_case to NodeConfig with defaults filled', () => {
    assert.deepEqual(nodeOf(cfg, 'builder1'), {
      id: 'builder1',
      local: false,
      host: 'builder1.local',
      ip: '127.0.0.21',
      port: 2222,
      user: 'builder',
      identityFile: join(home, '.ssh/id_ed25519'),
      os: 'linux',
      arch: 'x86_64',
      capabilities: ['docker', 'compilation'],
      specialties: [],
      maxParallel: 4,
      priority: 0,
    });
  });
  it('accepts darwin / aarch64 aliases and the other node fields', () => {
    const mac = nodeOf(cfg, 'MAC-STUDIO');
    assert.equal(mac.os, 'macos');
    assert.equal(mac.arch, 'arm64');
    assert.equal(mac.port, 22);
    assert.equal(mac.priority, 3);
    assert.equal(mac.maxParallel, 8);
    assert.deepEqual(mac.specialties, ['xcode']);
    assert.equal(mac.metricsCommand, 'echo load1=1');
  });
  it('keeps the local node free of ssh defaults', () => {
    const local = nodeOf(cfg, 'local');
    assert.equal(local.local, true);
    assert.equal(local.user, undefined);
    assert.equal(local.host, undefined);
  });
  it('fills settings with the original defaults and the classifier lists', () => {
    assert.equal(cfg.source, 'cluster.yaml');
    assert.deepEqual(
      { ...cfg.settings, offloadCommands: [], localCommands: [] },
      {
        sshUser: 'builder',
        sshTimeoutS: 5,
        sshConnectTimeoutS: 2,
        sshRetries: 2,
        cpuThreshold: 40,
        loadThreshold: 4,
        memoryThreshold: 80,
        cmdTimeoutS: 300,
        statusTimeoutS: 5,
        ipCacheTtlS: 300,
        hostKeyPolicy: 'accept-new',
        workspaceMaxBytes: 2 * 1024 ** 3,
        workspaceMaxFiles: 200_000,
        offloadCommands: [],
        localCommands: [],
      },
    );
    assert.deepEqual(cfg.settings.offloadCommands, DEFAULT_OFFLOAD_COMMANDS);
    assert.deepEqual(cfg.settings.localCommands, DEFAULT_LOCAL_COMMANDS);
  });
  it('reads settings from the file', () => {
    const s = parse('settings: { host_key_policy: strict, cpu_threshold: 55, ssh_retries: 0, offload_commands: [make], local_commands: [ls] }').settings;
    assert.equal(s.hostKeyPolicy, 'strict');
    assert.equal(s.cpuThreshold, 55);
    assert.equal(s.sshRetries, 0);
    assert.deepEqual(s.offloadCommands, ['make']);
    assert.deepEqual(s.localCommands, ['ls']);
  });
  it('treats an empty file or one without nodes as this machine alone', () => {
    for (const text of ['', 'settings: { cpu_threshold: 50 }', 'nodes: []']) {
      assert.deepEqual(
        parse(text).nodes.map((n) => [n.id, n.local]),
        [['local', true]],
        JSON.stringify(text),
      );
    }
  });
});

describe('parseConfig: errors name the file, the field and the fix', () => {
  const cases: { name: string; text: string; want: (string | RegExp)[] }[] = [
    {
      name: 'port not a number',
      text: 'nodes:\n  - {id: a, host: x}\n  - {id: b, host: y}\n  - {id: c, host: z, port: ssh}',
      want: ['cluster.yaml: nodes[2].port: expected an integer 1-65535, got "ssh"; fix: set port to a number such as 22'],
    },
    { name: 'port out of range', text: 'defaults: {port: 70000}', want: ['cluster.yaml: defaults.port: expected an integer 1-65535, got 70000'] },
    {
      name: 'typo in a node key',
      text: 'nodes: [{id: a, hostname: x}]',
      want: ['cluster.yaml: nodes[0].hostname: unknown key "hostname"; did you mean "host"?'],
    },
    { name: 'camelCase key', text: 'nodes: [{id: a, host: x, maxParallel: 3}]', want: ['did you mean "max_parallel"? fix: rename it to max_parallel'] },
    {
      name: 'typo in a node policy key',
      text: 'nodes: [{id: a, host: x, policy: {readonly: true}}]',
      want: ['cluster.yaml: nodes[0].policy.readonly: unknown key "readonly"; did you mean "read_only"?'],
    },
    {
      name: 'node policy lists',
      text: 'nodes: [{id: a, host: x, policy: {allow: python3}}]',
      want: ['cluster.yaml: nodes[0].policy.allow: expected a list of program names trusted on this node, got "python3"; fix: set allow to [python3]'],
    },
    {
      name: 'typo in settings',
      text: 'settings: {cpu_treshold: 50}',
      want: ['settings.cpu_treshold: unknown key "cpu_treshold"; did you mean "cpu_threshold"?'],
    },
    { name: 'unknown top-level key', text: 'nodez: []', want: ['cluster.yaml: nodez: unknown key "nodez"; did you mean "nodes"?'] },
    { name: 'nonsense key lists the known ones', text: 'defaults: {qqqqqqqqqq: 1}', want: ['fix: remove it (known keys: user, identity_file, port)'] },
    { name: 'bad id', text: 'nodes: [{id: "bad id", host: x}]', want: ['nodes[0].id: expected a name of 1-63 letters', 'got "bad id"'] },
    { name: 'id too long', text: `nodes: [{id: ${'a'.repeat(64)}, host: x}]`, want: ['nodes[0].id: expected'] },
    { name: 'missing id', text: 'nodes: [{host: x}]', want: ['nodes[0].id: missing, expected a name'] },
    {
      name: 'bad os and arch',
      text: 'nodes: [{id: a, host: x, os: windows, arch: sparc}]',
      want: ['nodes[0].os: expected linux or macos', 'got "windows"; fix: set os to linux or macos', 'nodes[0].arch: expected x86_64 or arm64'],
    },
    { name: 'bad ip', text: 'nodes: [{id: a, ip: "1.2.3"}]', want: ['nodes[0].ip: expected an IPv4 or IPv6 address, got "1.2.3"'] },
    { name: 'capability not a name', text: 'nodes: [{id: a, host: x, capabilities: [docker, 5]}]', want: ['nodes[0].capabilities[1]: expected a name, got 5'] },
    { name: 'node not a mapping', text: 'nodes: [5]', want: ['nodes[0]: expected a node mapping, got 5; fix: set nodes[0] to'] },
    { name: 'local not a boolean', text: 'nodes: [{id: a, local: "yes"}]', want: ['nodes[0].local: expected true or false, got "yes"'] },
    { name: 'bad host key policy', text: 'settings: {host_key_policy: lax}', want: ['settings.host_key_policy: expected accept-new or strict, got "lax"'] },
    {
      name: 'threshold over 100',
      text: 'settings: {memory_threshold: 150}',
      want: ['settings.memory_threshold: expected a percentage between 0 and 100, got 150'],
    },
    { name: 'top level a list', text: '- a\n- b', want: ['cluster.yaml: expected a YAML mapping'] },
    {
      name: 'duplicate ids (case folded)',
      text: 'nodes: [{id: n1, host: x}, {id: N1, host: y}]',
      want: ['cluster.yaml: nodes[1].id: duplicate id "N1" (also nodes[0]); fix: give each node a unique id'],
    },
    {
      name: 'two local nodes',
      text: 'nodes: [{id: a, local: true}, {id: b, local: true}]',
      want: ['nodes[1].local: more than one local node (nodes[0], nodes[1]); fix: keep local: true on one node only'],
    },
    {
      name: 'remote node without address',
      text: 'nodes: [{id: lonely}]',
      want: ['cluster.yaml: nodes[0]: remote node "lonely" has no host or ip; fix: set host (or ip), set CLUSTER_LONELY_HOST'],
    },
    { name: 'invalid YAML', text: 'nodes:\n  - {id: a\n', want: [/^cluster\.yaml:\d+:\d+: invalid YAML: .+; fix: correct the YAML syntax there/] },
    { name: 'duplicate YAML key', text: 'nodes: []\nnodes: []', want: ['cluster.yaml:2:1: invalid YAML: Map keys must be unique'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const msg = errorOf(() => parse(c.text));
      for (const w of c.want) {
        if (typeof w === 'string') assert.ok(msg.includes(w), `${JSON.stringify(msg)}\n  should include ${JSON.stringify(w)}`);
        else assert.match(msg, w);
      }
    });
  }
  it('reports every problem, one per line', () => {
    const msg = errorOf(() => parse('nodes: [{id: a, host: x, port: 0, os: bsd, extra: 1}]'));
    assert.equal(msg.split('\n').length, 3, msg);
  });
});

describe('env vars override the file', () => {
  it('maps every CLUSTER_* setting variable', () => {
    const s = parse('settings: {ssh_timeout: 7, cpu_threshold: 10}', {
      CLUSTER_SSH_TIMEOUT: '9',
      CLUSTER_SSH_CONNECT_TIMEOUT: '3',
      CLUSTER_SSH_RETRIES: '4',
      CLUSTER_CPU_THRESHOLD: '50',
      CLUSTER_LOAD_THRESHOLD: '2.5',
      CLUSTER_MEMORY_THRESHOLD: '90',
      CLUSTER_CMD_TIMEOUT: '60',
      CLUSTER_STATUS_TIMEOUT: '1.5',
      CLUSTER_IP_CACHE_TTL: '0',
      CLUSTER_HOST_KEY_POLICY: 'strict',
      CLUSTER_SSH_USER: 'envuser',
    }).settings;
    assert.deepEqual(
      { ...s, offloadCommands: [], localCommands: [] },
      {
        sshUser: 'envuser',
        sshTimeoutS: 9,
        sshConnectTimeoutS: 3,
        sshRetries: 4,
        cpuThreshold: 50,
        loadThreshold: 2.5,
        memoryThreshold: 90,
        cmdTimeoutS: 60,
        statusTimeoutS: 1.5,
        ipCacheTtlS: 0,
        hostKeyPolicy: 'strict',
        workspaceMaxBytes: 2 * 1024 ** 3,
        workspaceMaxFiles: 200_000,
        offloadCommands: [],
        localCommands: [],
      },
    );
  });
  it('ignores empty variables', () => {
    assert.equal(parse('settings: {ssh_timeout: 7}', { CLUSTER_SSH_TIMEOUT: '' }).settings.sshTimeoutS, 7);
  });
  const bad: [string, string, string][] = [
    ['CLUSTER_SSH_TIMEOUT', '5s', 'CLUSTER_SSH_TIMEOUT: expected a number of seconds greater than 0, got "5s"; fix: set CLUSTER_SSH_TIMEOUT to 5'],
    ['CLUSTER_SSH_RETRIES', '1.5', 'CLUSTER_SSH_RETRIES: expected an integer of 0 or more, got 1.5'],
    ['CLUSTER_CPU_THRESHOLD', '-3', 'CLUSTER_CPU_THRESHOLD: expected a percentage between 0 and 100, got -3'],
    ['CLUSTER_HOST_KEY_POLICY', 'yes', 'CLUSTER_HOST_KEY_POLICY: expected accept-new or strict, got "yes"'],
    ['CLUSTER_MACSTUDIO_IP', 'nowhere', 'CLUSTER_MACSTUDIO_IP: expected an IPv4 or IPv6 address, got "nowhere"'],
    ['CLUSTER_BUILDER1_HOST', 'two words', 'CLUSTER_BUILDER1_HOST: expected a host name or address without spaces'],
  ];
  for (const [name, value, want] of bad) {
    it(`rejects ${name}=${value}, naming the variable`, () => {
      const msg = errorOf(() => parse(DESIGN_EXAMPLE, { [name]: value }));
      assert.ok(msg.startsWith(want), msg);
    });
  }
  it('derives the <NODE> part of per-node variables', () => {
    assert.deepEqual(nodeEnvKeys('MAC-STUDIO'), ['MACSTUDIO', 'MAC_STUDIO']);
    assert.deepEqual(nodeEnvKeys('n1'), ['N1']);
    assert.deepEqual(nodeEnvKeys('gpu_box-2'), ['GPUBOX2', 'GPU_BOX_2']);
  });
  it('applies CLUSTER_<NODE>_HOST / _IP in either spelling', () => {
    const a = parse(DESIGN_EXAMPLE, { CLUSTER_MACSTUDIO_HOST: '127.0.0.9', CLUSTER_BUILDER1_IP: '::1' });
    assert.equal(nodeOf(a, 'MAC-STUDIO').host, '127.0.0.9');
    assert.equal(nodeOf(a, 'builder1').ip, '::1');
    assert.equal(nodeOf(a, 'builder1').host, 'builder1.local');
    const b = parse(DESIGN_EXAMPLE, { CLUSTER_MAC_STUDIO_IP: '127.0.0.10' });
    assert.equal(nodeOf(b, 'MAC-STUDIO').ip, '127.0.0.10');
  });
  it('lets CLUSTER_<NODE>_HOST supply a node the file gives no address', () => {
    assert.equal(nodeOf(parse('nodes: [{id: lonely}]', { CLUSTER_LONELY_HOST: 'lonely.local' }), 'lonely').host, 'lonely.local');
  });
});

describe('~/.ssh/config', () => {
  const sshConfig = join(tmp, 'ssh_config');
  const marker = join(tmp, 'match-exec-ran');
  writeFileSync(
    sshConfig,
    [
      'Host b1 b1-alias',
      '  HostName 127.0.0.5',
      '  Port 2222',
      '  User sshuser',
      '  IdentityFile ~/.ssh/b1_key',
      'Host byid',
      '  HostName %h.example.test',
      '  User iduser',
      `Match exec "touch ${marker}"`,
      '  User execuser',
      'Host *',
      '  User catchall',
      '  Port 2200',
      '  IdentityFile %d/.ssh/generic_key',
      '',
    ].join('\n'),
  );
  const withSsh = (text: string, env: NodeJS.ProcessEnv = {}): ClusterConfig => parse(text, env, sshConfig);

  it('resolves a host alias: HostName, Port, User, IdentityFile', () => {
    assert.deepEqual(nodeOf(withSsh('nodes: [{id: n1, host: b1-alias}]'), 'n1'), {
      id: 'n1',
      local: false,
      host: '127.0.0.5',
      port: 2222,
      user: 'sshuser',
      identityFile: join(home, '.ssh/b1_key'),
      capabilities: [],
      specialties: [],
      maxParallel: 8,
      priority: 0,
    });
  });
  it('matches by node id when no host is given, expanding %h', () => {
    const n = nodeOf(withSsh('nodes: [{id: byid}]'), 'byid');
    assert.equal(n.host, 'byid.example.test');
    assert.equal(n.user, 'iduser');
    assert.equal(n.port, 2200, 'port from Host * when nothing more specific says');
  });
  it('lets explicit node fields win over the ssh entry', () => {
    const n = nodeOf(withSsh('nodes: [{id: n1, host: b1, port: 22, user: me, identity_file: ~/k}]'), 'n1');
    assert.deepEqual([n.host, n.port, n.user, n.identityFile], ['127.0.0.5', 22, 'me', join(home, 'k')]);
  });
  it('keeps an explicit host when only the id matches an entry', () => {
    const n = nodeOf(withSsh('nodes: [{id: byid, host: 127.0.0.7}]'), 'byid');
    assert.deepEqual([n.host, n.user], ['127.0.0.7', 'iduser']);
  });
  const userCases: { name: string; text: string; env?: NodeJS.ProcessEnv; want: string }[] = [
    { name: 'node.user beats CLUSTER_SSH_USER', text: 'nodes: [{id: n1, host: b1, user: nodeuser}]', env: { CLUSTER_SSH_USER: 'envuser' }, want: 'nodeuser' },
    { name: 'CLUSTER_SSH_USER beats the Host entry', text: 'nodes: [{id: n1, host: b1}]', env: { CLUSTER_SSH_USER: 'envuser' }, want: 'envuser' },
    { name: 'the Host entry beats defaults.user', text: 'defaults: {user: defuser}\nnodes: [{id: n1, host: b1}]', want: 'sshuser' },
    { name: 'defaults.user beats Host *', text: 'defaults: {user: defuser}\nnodes: [{id: n1, host: 127.0.0.8}]', want: 'defuser' },
    { name: 'Host * beats the OS user', text: 'nodes: [{id: n1, host: 127.0.0.8}]', want: 'catchall' },
  ];
  for (const c of userCases) it(`user: ${c.name}`, () => assert.equal(nodeOf(withSsh(c.text, c.env), 'n1').user, c.want));
  it('user: falls back to the OS user without any ssh config', () => {
    assert.equal(nodeOf(parse('nodes: [{id: n1, host: 127.0.0.8}]'), 'n1').user, 'osuser');
  });
  it('uses Host * identity below defaults.identity_file', () => {
    assert.equal(nodeOf(withSsh('nodes: [{id: n1, host: 127.0.0.8}]'), 'n1').identityFile, join(home, '.ssh/generic_key'));
    assert.equal(nodeOf(withSsh('defaults: {identity_file: ~/d}\nnodes: [{id: n1, host: 127.0.0.8}]'), 'n1').identityFile, join(home, 'd'));
  });
  it('never runs Match exec commands', () => {
    withSsh('nodes: [{id: n1, host: 127.0.0.8}]');
    assert.equal(existsSync(marker), false);
  });
  it('never spawns nslookup for CanonicalizeHostName', () => {
    const bin = join(tmp, 'fake-bin');
    const ran = join(tmp, 'nslookup-ran');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'nslookup'), `#!/bin/sh\ntouch ${ran}\n`, { mode: 0o755 });
    const canon = join(tmp, 'ssh_config_canon');
    writeFileSync(canon, 'Host canon\n  CanonicalizeHostName yes\n  CanonicalDomains example.test other.test\n  User canonuser\n');
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    try {
      assert.equal(nodeOf(parse('nodes: [{id: canon}]', {}, canon), 'canon').user, 'canonuser');
    } finally {
      process.env.PATH = savedPath;
    }
    assert.equal(existsSync(ran), false);
  });
  it('reports a bad Port in the ssh config by file', () => {
    const broken = join(tmp, 'ssh_config_bad');
    writeFileSync(broken, 'Host b9\n  Port twenty\n');
    const msg = errorOf(() => parse('nodes: [{id: n1, host: b9}]', {}, broken));
    assert.ok(msg.startsWith(`${broken}: Host b9: Port expected an integer 1-65535, got "twenty"`), msg);
  });
});

describe('loadConfig: finding the file', () => {
  const dir = (name: string): string => {
    const d = join(tmp, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const opts = (cwd: string, stateDir: string, env: NodeJS.ProcessEnv = {}) => ({ cwd, stateDir, env: { ...baseEnv, ...env }, sshConfigPath: noSsh });

  it('without any file: one local node, source says so', () => {
    const cfg = loadConfig(opts(dir('empty-cwd'), dir('empty-state')));
    assert.equal(cfg.source, DEFAULT_SOURCE);
    assert.deepEqual(cfg.nodes, [{ id: 'local', local: true, port: 22, capabilities: [], specialties: [], maxParallel: 8, priority: 0 }]);
  });
  it('still applies env vars without a file', () => {
    assert.equal(loadConfig(opts(dir('empty-cwd'), dir('empty-state'), { CLUSTER_CMD_TIMEOUT: '42' })).settings.cmdTimeoutS, 42);
  });
  it('prefers ./cluster.yaml, then <stateDir>/cluster.yaml', () => {
    const cwd = dir('cwd-a');
    const state = dir('state-a');
    writeFileSync(join(state, 'cluster.yaml'), 'nodes: [{id: from-state, local: true}]');
    assert.equal(loadConfig(opts(cwd, state)).nodes[0]!.id, 'from-state');
    assert.equal(loadConfig(opts(cwd, state)).source, join(state, 'cluster.yaml'));
    writeFileSync(join(cwd, 'cluster.yaml'), 'nodes: [{id: from-cwd, local: true}]');
    assert.equal(loadConfig(opts(cwd, state)).nodes[0]!.id, 'from-cwd');
  });
  it('finds the state dir through CLUSTERFLOW_HOME', () => {
    const state = dir('state-home');
    writeFileSync(join(state, 'cluster.yaml'), 'nodes: [{id: via-home, local: true}]');
    const cfg = loadConfig({ cwd: dir('empty-cwd'), env: { ...baseEnv, CLUSTERFLOW_HOME: state }, sshConfigPath: noSsh });
    assert.equal(cfg.nodes[0]!.id, 'via-home');
  });
  it('uses CLUSTER_CONFIG relative to cwd, and opts.path over it', () => {
    const cwd = dir('cwd-b');
    writeFileSync(join(cwd, 'mine.yaml'), 'nodes: [{id: mine, local: true}]');
    writeFileSync(join(cwd, 'other.yaml'), 'nodes: [{id: other, local: true}]');
    assert.equal(loadConfig(opts(cwd, dir('empty-state'), { CLUSTER_CONFIG: 'mine.yaml' })).nodes[0]!.id, 'mine');
    assert.equal(loadConfig({ ...opts(cwd, dir('empty-state'), { CLUSTER_CONFIG: 'mine.yaml' }), path: join(cwd, 'other.yaml') }).nodes[0]!.id, 'other');
  });
  it('fails clearly when CLUSTER_CONFIG names a missing file', () => {
    const msg = errorOf(() => loadConfig(opts(dir('cwd-c'), dir('empty-state'), { CLUSTER_CONFIG: 'nope.yaml' })));
    assert.ok(msg.includes('nope.yaml: no such file (named by CLUSTER_CONFIG)'), msg);
  });
  it('names the file path in validation errors', () => {
    const cwd = dir('cwd-d');
    writeFileSync(join(cwd, 'cluster.yaml'), 'nodes: [{id: a, host: x, port: ssh}]');
    const msg = errorOf(() => loadConfig(opts(cwd, dir('empty-state'))));
    assert.ok(msg.startsWith(`${join(cwd, 'cluster.yaml')}: nodes[0].port: expected an integer`), msg);
  });
});

describe('per-node policy', () => {
  it('maps policy: { allow, deny, read_only } onto the node', () => {
    const cfg = parse('nodes:\n  - { id: n1, host: a, policy: { allow: [python3], deny: [docker], read_only: true } }\n  - { id: n2, host: b }');
    assert.deepEqual(nodeOf(cfg, 'n1').policy, { allow: ['python3'], deny: ['docker'], readOnly: true });
    assert.equal(nodeOf(cfg, 'n2').policy, undefined);
  });
});
