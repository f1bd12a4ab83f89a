// Deployment artifacts, checked without a Docker engine: docker-compose.yml resolves with the
// services, env and loopback-only ports we promise; the example cluster.yaml parses and names
// no real address; the search-attribute registrar is idempotent against a real Temporal dev
// server; the npm tarball installs into a clean project and its bin runs.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../src/cluster/config.js';
import { PACKAGE_ROOT as ROOT, temporalCliPath } from '../../src/paths.js';
import { SEARCH_ATTRIBUTES } from '../../src/shared.js';
import { answers } from '../../src/temporal/embedded.js';
import { freePort } from '../../src/temporal/ports.js';
import { waitFor } from '../helpers/wait.js';

const SERVICES = ['postgresql', 'temporal', 'temporal-search-attributes', 'temporal-ui', 'clusterflow-worker'];
const KNOBS = ['CLUSTER_CONFIG_FILE', 'CLUSTERFLOW_SSH_DIR', 'POSTGRES_PASSWORD', 'TEMPORAL_PORT', 'TEMPORAL_UI_PORT', 'CLUSTERFLOW_CODEC_KEY'];
/** A codec key for compose to substitute (required: the worker must share the host's key). */
const CODEC_KEY = Buffer.alloc(32, 7).toString('base64');
const REGISTRAR = path.join(ROOT, 'deploy', 'register-search-attributes.sh');

/** The child env: no npm_* (an `npm run` parent would redirect npm install), no Temporal target, no compose knobs. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && !(k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI') && !KNOBS.includes(k)),
  );
  return { ...env, ...extra };
}
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: cleanEnv(), ...opts });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error };
}
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const isLoopback = (ip: string) => /^127\.\d+\.\d+\.\d+$/.test(ip) || ip === '::1';

/** Host IP each published port binds to; '' means every interface (compose's default). */
function publishedHostIps(ports: unknown[] | undefined): string[] {
  return (ports ?? []).map((p) => {
    if (typeof p === 'object' && p !== null) return String((p as { host_ip?: string }).host_ip ?? '');
    const spec = String(p).replace(/\/\w+$/, '');
    if (spec.startsWith('[')) return spec.slice(1, spec.indexOf(']'));
    const parts = spec.split(':');
    return parts.length === 3 ? parts[0] : '';
  });
}
type Service = { image?: string; build?: unknown; ports?: unknown[]; environment?: Record<string, string> | string[]; volumes?: unknown[] };
function envOf(s: Service): Record<string, string> {
  if (!Array.isArray(s.environment)) return { ...(s.environment ?? {}) };
  return Object.fromEntries(s.environment.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}
/** Bind mounts as target → {source, readOnly}, from compose v1 strings or v2 objects. */
function mountsOf(s: Service): Map<string, { source: string; readOnly: boolean }> {
  return new Map(
    (s.volumes ?? []).map((v) => {
      if (typeof v === 'object' && v !== null) {
        const o = v as { source: string; target: string; read_only?: boolean };
        return [o.target, { source: o.source, readOnly: o.read_only === true }];
      }
      const [source, target, mode = ''] = String(v).split(':');
      return [target, { source, readOnly: mode.split(',').includes('ro') }];
    }),
  );
}

describe('docker-compose.yml', () => {
  const composeMissing = run('docker-compose', ['version']).error ? 'docker-compose is not installed (scripts/test.sh installs it via SETUP_EXTRA_APT)' : false;
  const config = (extra: NodeJS.ProcessEnv = {}) => {
    const r = run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { env: cleanEnv({ CLUSTERFLOW_CODEC_KEY: CODEC_KEY, ...extra }) });
    assert.equal(r.status, 0, r.stderr);
    return parse(r.stdout) as { services: Record<string, Service> };
  };

  it('the port parser sees every way compose can publish on all interfaces', () => {
    const table: [unknown, string][] = [
      ['127.0.0.1:7233:7233/tcp', '127.0.0.1'],
      ['[::1]:80:80', '::1'],
      ['0.0.0.0:80:80', '0.0.0.0'],
      ['8080:8080', ''],
      ['80', ''],
      [8080, ''],
      [{ target: 80, published: 8080 }, ''],
      [{ target: 80, published: 8080, host_ip: '127.0.0.1' }, '127.0.0.1'],
    ];
    for (const [port, ip] of table) assert.deepEqual(publishedHostIps([port]), [ip], JSON.stringify(port));
  });

  it('validates with `docker-compose config -q`', { skip: composeMissing }, () => {
    const r = run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { env: cleanEnv({ CLUSTERFLOW_CODEC_KEY: CODEC_KEY }) });
    assert.equal(r.status, 0, r.stderr);
  });

  it('refuses to resolve without the shared codec key, naming it (a generated key would split the cluster)', { skip: composeMissing }, () => {
    const r = run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q']);
    assert.notEqual(r.status, 0, 'docker-compose config resolved without CLUSTERFLOW_CODEC_KEY');
    assert.match(r.stderr, /CLUSTERFLOW_CODEC_KEY/);
  });

  it('has every service, pinned images, loopback-only ports and a wired worker', { skip: composeMissing }, () => {
    const { services } = config();
    assert.deepEqual(Object.keys(services).sort(), [...SERVICES].sort());
    for (const [name, s] of Object.entries(services)) {
      for (const ip of publishedHostIps(s.ports)) assert.ok(isLoopback(ip), `${name} publishes on ${ip || 'all interfaces'}`);
      if (!s.build) assert.match(s.image ?? '', /^[\w./-]+:[\w.-]*\d[\w.-]*$/, `${name}: image pinned to a version tag`);
    }
    assert.equal(services.postgresql.ports, undefined, 'the database is not published at all');
    const worker = services['clusterflow-worker'];
    const env = envOf(worker);
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(env.TEMPORAL_UI_URL, 'http://localhost:8080');
    assert.equal(env.CLUSTER_CONFIG, '/etc/clusterflow/cluster.yaml');
    assert.equal(env.CLUSTERFLOW_CODEC_KEY, CODEC_KEY, 'the worker gets the shared codec key');
    const mounts = mountsOf(worker);
    assert.deepEqual(mounts.get('/etc/clusterflow/cluster.yaml'), { source: path.join(ROOT, 'deploy', 'cluster.example.yaml'), readOnly: true });
    assert.deepEqual(mounts.get('/home/node/.ssh'), { source: path.join(ROOT, 'deploy', 'ssh'), readOnly: true });
    assert.deepEqual(envOf(services['temporal-search-attributes']).TEMPORAL_ADDRESS, 'temporal:7233');
  });

  it('takes the documented knobs: SSH dir, config file, UI port', { skip: composeMissing }, () => {
    const { services } = config({ CLUSTERFLOW_SSH_DIR: '/srv/cf-keys', CLUSTER_CONFIG_FILE: '/srv/cluster.yaml', TEMPORAL_UI_PORT: '9090' });
    const worker = services['clusterflow-worker'];
    assert.deepEqual(mountsOf(worker).get('/home/node/.ssh'), { source: '/srv/cf-keys', readOnly: true });
    assert.deepEqual(mountsOf(worker).get('/etc/clusterflow/cluster.yaml'), { source: '/srv/cluster.yaml', readOnly: true });
    assert.equal(envOf(worker).TEMPORAL_UI_URL, 'http://localhost:9090');
    assert.deepEqual(publishedHostIps(services['temporal-ui'].ports), ['127.0.0.1']);
    assert.match(JSON.stringify(services['temporal-ui'].ports), /9090/);
  });
});

describe('deploy files name no real address', () => {
  it('cluster.example.yaml parses and its nodes are placeholders', () => {
    const file = path.join(ROOT, 'deploy', 'cluster.example.yaml');
    const cfg = parseConfig(readFileSync(file, 'utf8'), file, { env: { HOME: '/nonexistent', USER: 'nobody' }, sshConfigPath: '/nonexistent/config' });
    assert.ok(cfg.nodes.length >= 2);
    for (const n of cfg.nodes) {
      assert.equal(n.local, false, `${n.id}: no local node inside the container`);
      assert.ok(n.host && (n.host.endsWith('.example.internal') || isLoopback(n.host)), `${n.id}: host ${n.host}`);
      assert.ok(n.ip === undefined || isLoopback(n.ip), `${n.id}: ip ${n.ip}`);
    }
  });

  it('every IPv4 literal in compose, Dockerfile and deploy/ is loopback', () => {
    const files = [
      'docker-compose.yml',
      'Dockerfile',
      'deploy/cluster.example.yaml',
      'deploy/temporal-dynamicconfig.yaml',
      'deploy/register-search-attributes.sh',
    ];
    for (const f of files) {
      for (const [ip] of readFileSync(path.join(ROOT, f), 'utf8').matchAll(/(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])/g)) {
        assert.ok(isLoopback(ip), `${f} names ${ip}`);
      }
    }
  });
});

describe('register-search-attributes.sh', { timeout: 60_000 }, () => {
  const cli = temporalCliPath();
  const cliMissing = run(cli, ['--version']).status !== 0 ? `no temporal CLI at ${cli} (scripts/setup.sh installs it)` : false;
  let server: ReturnType<typeof spawn> | undefined;
  let address = '';
  const registrar = (namespace: string) =>
    run('sh', [REGISTRAR], {
      env: cleanEnv({
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        REGISTER_MAX_ATTEMPTS: '5',
        PATH: path.isAbsolute(cli) ? `${path.dirname(cli)}:${process.env.PATH}` : process.env.PATH,
      }),
    });
  const listed = (namespace: string) =>
    new Map(
      run(cli, ['operator', 'search-attribute', 'list', '--address', address, '--namespace', namespace])
        .stdout.split('\n')
        .map((l) => l.trim().split(/\s+/) as [string, string]),
    );

  before(async () => {
    if (cliMissing) return;
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    server = spawn(cli, ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error', '--namespace', 'conflict'], {
      stdio: 'ignore',
      env: cleanEnv(),
    });
    await waitFor(`the dev server to answer at ${address}`, () => answers(address, 1000), 120_000, 200);
  });
  after(async () => {
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  });

  it('registers exactly the attributes of SEARCH_ATTRIBUTES in shared.ts', () => {
    const line = readFileSync(REGISTRAR, 'utf8').match(/^ATTRIBUTES="([^"]*)"/m);
    assert.ok(line, 'ATTRIBUTES= line');
    assert.deepEqual(Object.fromEntries(line[1].split(/\s+/).map((p) => p.split(':'))), { ...SEARCH_ATTRIBUTES });
  });

  it('creates them on a real server, then finds them on a second run', { skip: cliMissing }, () => {
    const first = registrar('default');
    assert.equal(first.status, 0, first.stderr);
    const have = listed('default');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) assert.equal(have.get(name), type, name);
    const second = registrar('default');
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stderr.match(/already registered/g)?.length, Object.keys(SEARCH_ATTRIBUTES).length, second.stderr);
  });

  it('refuses an attribute registered with another type, naming both', { skip: cliMissing }, () => {
    const pre = run(cli, [
      'operator',
      'search-attribute',
      'create',
      '--address',
      address,
      '--namespace',
      'conflict',
      '--name',
      'ClusterExitCode',
      '--type',
      'Keyword',
    ]);
    assert.equal(pre.status, 0, pre.stderr);
    const r = registrar('conflict');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /ClusterExitCode is registered as Keyword, clusterflow needs Int/);
  });
});

describe('npm package', { timeout: 180_000 }, () => {
  const bundle = path.join(ROOT, 'dist', 'workflow-bundle.js');
  // The suite normally runs after scripts/setup.sh built everything; build only what is missing.
  let buildNote = '';
  if (!existsSync(bundle) || !existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    const b = run('npm', ['run', '--silent', 'build']);
    if (b.status !== 0) {
      run('npx', ['tsc', '-p', 'tsconfig.json']); // emits despite type errors elsewhere
      buildNote = `npm run build failed, fell back to tsc: ${b.stderr.slice(-300)}`;
    }
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-pack-'));
  let files: string[] = [];
  let bin = '';
  const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  before(() => {
    let t0 = Date.now();
    const pack = run('npm', ['pack', '--json', '--pack-destination', tmp]);
    assert.equal(pack.status, 0, pack.stderr);
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    files = info.files.map((f) => f.path);
    console.error(`# npm pack: ${seconds(t0)}, ${files.length} files${buildNote ? `; ${buildNote}` : ''}`);
    const project = path.join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'cf-install-check', version: '0.0.0', private: true }));
    t0 = Date.now();
    const install = run('npm', ['install', path.join(tmp, info.filename), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: project,
      timeout: 150_000,
    });
    assert.equal(install.status, 0, install.stderr);
    console.error(`# npm install of the tarball: ${seconds(t0)}`);
    bin = path.join(project, 'node_modules', '.bin');
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('ships the CLI entry point, not tests or keys', () => {
    assert.ok(files.includes('dist/src/cli/main.js'));
    assert.ok(files.includes('package.json'));
    assert.deepEqual(
      files.filter((f) => /^(dist\/test|test|deploy|src)\//.test(f) || /id_ed25519|\.pem$/.test(f)),
      [],
    );
  });

  it('ships dist/workflow-bundle.js', { skip: !existsSync(bundle) && `no bundle: ${buildNote}` }, () => {
    assert.ok(files.includes('dist/workflow-bundle.js'));
  });

  it('installed cluster-router --help lists submit, serve and worker; both bins run', () => {
    const home = path.join(tmp, 'state');
    const help = run(path.join(bin, 'cluster-router'), ['--help'], { cwd: tmp, env: cleanEnv({ CLUSTERFLOW_HOME: home }) });
    assert.equal(help.status, 0, help.stderr);
    for (const cmd of ['submit', 'serve', 'worker']) assert.match(help.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), cmd);
    const v = run(path.join(bin, 'clusterflow'), ['--version'], { cwd: tmp, env: cleanEnv({ CLUSTERFLOW_HOME: home }) });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), version);
  });
});
