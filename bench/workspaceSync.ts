// bench/workspaceSync: workspace sync of a synthetic git tree (default 20 000 files, 200 MB)
// to one loopback node over real SSH (the product's SshPool), against `tar c | ssh tar x`.
//
//   node dist/bench/workspaceSync.js [--files 20000] [--mb 200] [--rounds 15]
//
// Rows: cold sync (empty origin hash cache, empty node); cold node with a warm origin cache
// (transfer + node work only); `tar c | ssh node tar x` (OpenSSH client, same node, same run);
// re-sync with no change; re-sync after one changed file. Not a test: prints numbers only.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Exec } from '../src/engine/exec.js';
import { KnownHosts } from '../src/ssh/hostKeys.js';
import { SshPool } from '../src/ssh/pool.js';
import { clusterDown, clusterUp } from '../src/testcluster/localCluster.js';
import { pruneWorkspaces, releaseWorkspace, syncWorkspace, type NodeWorkspaceConfig, type SyncSummary } from '../src/workspace/index.js';
import { fmtMs, printTable, summarize } from './common.js';

const { values } = parseArgs({ options: { files: { type: 'string', default: '20000' }, mb: { type: 'string', default: '200' }, rounds: { type: 'string', default: '15' } } });
const files = Number(values.files);
const totalBytes = Number(values.mb) * 1e6;
const rounds = Number(values.rounds);

const work = mkdtempSync(join(tmpdir(), 'cf-wsbench-'));
const origin = join(work, 'origin');
const clusterDir = mkdtempSync(join(tmpdir(), 'cf-wsbench-cluster-'));

function makeTree(): void {
  const avg = totalBytes / files;
  const pool = randomBytes(Math.ceil(avg * 2) + 1_000_000);
  for (let i = 0; i < files; i++) {
    const dir = join(origin, `pkg${Math.floor(i / 100)}`, `mod${Math.floor(i / 10) % 10}`);
    if (i % 10 === 0) mkdirSync(dir, { recursive: true });
    const size = Math.round(avg * (0.2 + 1.6 * ((i * 7919) % 1000) / 1000));
    const off = (i * 104729) % 1_000_000;
    writeFileSync(join(dir, `f${i}.c`), Buffer.concat([Buffer.from(`// ${i}\n`), pool.subarray(off, off + size)]));
  }
  const git = (...args: string[]) => execFileSync('git', ['-C', origin, '-c', 'user.name=b', '-c', 'user.email=b@b', '-c', 'gc.auto=0', ...args], { stdio: 'ignore' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'bench');
}

async function main(): Promise<void> {
  const t0 = performance.now();
  mkdirSync(origin, { recursive: true });
  makeTree();
  process.stdout.write(`tree: ${files} files, ${(totalBytes / 1e6).toFixed(0)} MB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  const cluster = await clusterUp({ dir: clusterDir, nodes: 1, namePrefix: 'wb' });
  const n = cluster.nodes[0]!;
  const pool = new SshPool({ knownHosts: new KnownHosts({ files: [cluster.knownHostsPath], writeFile: join(work, 'kh'), policy: 'strict' }) });
  const exec: Exec = (s, h) => pool.exec({ nodeId: n.id, host: n.host, port: n.port, user: n.user, identityFile: n.identityFile, connectTimeoutMs: 5000 }, s, h);
  const node: NodeWorkspaceConfig = { id: n.id };
  try {
    await exec('true');
    let task = 0;
    const sync = async (stateDir: string): Promise<SyncSummary> => {
      const taskId = `bench-${task++}`;
      const s = await syncWorkspace(exec, { originHost: hostname(), cwd: origin, taskId, lockTtlS: 600, stateDir, node });
      await releaseWorkspace(exec, { tree: s.tree, taskId, node });
      return s;
    };
    const state = join(work, 'state');
    const cold = await sync(state);
    process.stdout.write(`cold sync: ${cold.sync_ms} ms\n`);
    await pruneWorkspaces(exec, node, { all: true });
    const coldNode = await sync(state);
    process.stdout.write(`cold node, warm origin cache: ${coldNode.sync_ms} ms\n`);

    const ssh = ['ssh', '-F', '/dev/null', '-i', n.identityFile, '-o', `UserKnownHostsFile=${cluster.knownHostsPath}`, '-o', 'BatchMode=yes', '-p', String(n.port), `${n.user}@${n.host}`];
    const tarStart = performance.now();
    const tar = spawnSync('sh', ['-c', `o=$1; shift; tar c -C "$o" --exclude=.git . | "$@" 'rm -rf ~/tarcopy && mkdir ~/tarcopy && tar x -C ~/tarcopy'`, 'sh', origin, ...ssh], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarMs = performance.now() - tarStart;
    if (tar.status !== 0) throw new Error(`tar | ssh failed (${tar.status})`);
    spawnSync(ssh[0]!, [...ssh.slice(1), 'rm -rf ~/tarcopy']);

    const same: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const s = await sync(state);
      if (s.bytes_sent !== 0) throw new Error('no-change sync sent data');
      same.push(s.sync_ms);
    }
    const one: number[] = [];
    let oneBytes = 0;
    for (let i = 0; i < rounds; i++) {
      writeFileSync(join(origin, 'pkg0', 'mod0', 'f0.c'), `// edit ${i}\n${'x'.repeat(5000)}`);
      const s = await sync(state);
      one.push(s.sync_ms);
      oneBytes = s.bytes_sent;
    }
    const row = (name: string, ms: number[], note: string) => {
      const s = summarize(ms);
      return [name, fmtMs(s.p50), fmtMs(s.min), fmtMs(s.max), note];
    };
    process.stdout.write(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (2 cores: anything above ~1 means the numbers include waiting for CPU)\n`);
    printTable(`workspace sync: ${files} files, ${(totalBytes / 1e6).toFixed(0)} MB, loopback SSH to ${n.id} (${n.user}@${n.host})`, ['case', 'p50 ms', 'min ms', 'max ms', 'note'], [
      row('cold sync (origin hashes, node empty)', [cold.sync_ms], `${(cold.bytes_sent / 1e6).toFixed(0)} MB sent`),
      row('cold node, warm origin hash cache', [coldNode.sync_ms], `${(coldNode.bytes_sent / 1e6).toFixed(0)} MB sent`),
      row('tar c | ssh node tar x', [tarMs], 'OpenSSH client, same node'),
      row('re-sync, no change', same, `${rounds} rounds; 0 bytes sent`),
      row('re-sync, one file changed', one, `${rounds} rounds; ${oneBytes} bytes sent`),
    ]);
    await pruneWorkspaces(exec, node, { all: true });
  } finally {
    await pool.close();
    await clusterDown({ dir: clusterDir, removeUsers: true });
    for (const d of [work, clusterDir]) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/workspaceSync: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
