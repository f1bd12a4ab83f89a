// cluster up|down: the loopback test cluster (one sshd per node on its own 127.x address).
import { existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { openApp, statusSources } from '../app.js';
import { ensureWorker } from '../client/workers.js';
import { clusterStatus } from '../client/statusView.js';
import { stateDir } from '../paths.js';
import { clusterDown, clusterUp } from '../testcluster/localCluster.js';
import { isRoot } from '../testcluster/nodeUsers.js';
import { table } from './table.js';

// Under the temp dir, not the (mode 700) state dir: as root each node's own user must read its files.
const testClusterDir = () => path.join(os.tmpdir(), `clusterflow-testcluster-${createHash('sha256').update(stateDir()).digest('hex').slice(0, 8)}`);
const defaultConfigLink = () => path.join(stateDir(), 'cluster.yaml');

/** Point <state>/cluster.yaml at the test cluster's config, unless the user has a config of their own there. */
function linkDefaultConfig(configPath: string): string | null {
  const link = defaultConfigLink();
  mkdirSync(path.dirname(link), { recursive: true, mode: 0o700 });
  if (existsSync(link) && !lstatSync(link).isSymbolicLink()) return null;
  rmSync(link, { force: true });
  symlinkSync(configPath, link);
  return link;
}

export function registerClusterCommands(program: Command): void {
  program
    .command('cluster-status')
    .description('Every node: status, OS/arch, cpu, memory, load, work in flight')
    .option('--refresh', 'probe every node now')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const app = await openApp({ worker: false });
      try {
        await ensureWorker(app, { start: true });
        const st = await clusterStatus(statusSources(app), !!o.refresh);
        if (o.json) return void process.stdout.write(JSON.stringify(st, null, 2) + '\n');
        const t = table(['node', 'status', 'os/arch', 'cpu %', 'mem %', 'load (1/5/15)', 'cores', 'in flight', 'capabilities', 'specialties']);
        for (const n of Object.values(st.nodes)) {
          t.push([
            n.id + (n.id === st.local_node ? ' (local)' : ''),
            n.status + (n.reason ? `: ${n.reason.slice(0, 60)}` : ''),
            `${n.os ?? '?'}/${n.arch ?? '?'}`,
            n.cpu_percent ?? '-',
            n.memory_percent ?? '-',
            n.load_avg ? n.load_avg.map((x) => x.toFixed(2)).join(' ') : '-',
            n.cores ?? '-',
            n.in_flight,
            n.capabilities.join(', '),
            n.specialties.join(', '),
          ]);
        }
        process.stdout.write(t.toString() + `\nprobed at ${st.probed_at ?? 'never'}\n`);
      } finally {
        await app.close();
      }
    });

  const cluster = program.command('cluster').description('A local test cluster of sshd nodes on loopback (try the product without real machines)');

  cluster
    .command('up')
    .description('Start N sshd nodes on 127.x addresses and write a cluster.yaml for them')
    .argument('[n]', 'number of nodes', (v: string) => Number(v), 3)
    .action(async (n: number) => {
      if (!Number.isInteger(n) || n < 1 || n > 50) throw new Error('n must be an integer from 1 to 50');
      if (!isRoot()) {
        process.stderr.write('note: not root, so every node runs as your own user (no per-node users); as root each node gets its own unprivileged user.\n');
      }
      const c = await clusterUp({ dir: testClusterDir(), nodes: n });
      const link = linkDefaultConfig(c.configPath);
      for (const node of c.nodes) process.stdout.write(`${node.id}  ${node.user}@${node.host}:${node.port}  ${node.hostKeyFingerprint}\n`);
      process.stdout.write(`config: ${c.configPath}\n`);
      process.stdout.write(
        link
          ? `default config ${link} now points at it; restart \`cluster-router serve\` / workers to pick it up.\n`
          : `use it with: export CLUSTER_CONFIG=${c.configPath}\n`,
      );
    });

  cluster
    .command('down')
    .description('Stop the test cluster (and remove its users when root)')
    .option('--keep-users', 'keep the per-node users')
    .action(async (o) => {
      await clusterDown({ dir: testClusterDir(), removeUsers: !o.keepUsers });
      const link = defaultConfigLink();
      // Only our own symlink into the test cluster; a config of the user's stays.
      if (isSymlink(link) && readlinkSync(link).startsWith(testClusterDir())) rmSync(link, { force: true });
      process.stdout.write('test cluster stopped\n');
    });
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
