// hosts list|trust|forget: the host keys clusterflow checks before every SSH login. Keys are
// recorded under the node's resolved address and port, as the SSH pool looks them up; the
// state dir's known_hosts is the only file written, the user's ~/.ssh/known_hosts is only read.
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { warnAboutConfig } from '../app.js';
import { loadConfig } from '../cluster/config.js';
import { resolverFor } from '../cluster/resolve.js';
import { UserError } from '../client/tasks.js';
import { stateDir } from '../paths.js';
import type { ClusterConfig, NodeConfig } from '../shared.js';
import { fetchHostKey } from '../ssh/fetchHostKey.js';
import { fingerprint, KnownHosts, knownHostsName } from '../ssh/hostKeys.js';
import { table } from './table.js';

interface Ctx {
  config: ClusterConfig;
  stateFile: string;
  userFile: string;
  /** Both files, as the SSH pool reads them. */
  all: KnownHosts;
  /** The state dir's file alone: the one trust and forget change. */
  own: KnownHosts;
}

function context(): Ctx {
  const dir = stateDir();
  const config = loadConfig({ stateDir: dir });
  warnAboutConfig(config);
  const stateFile = path.join(dir, 'known_hosts');
  const userFile = path.join(os.homedir(), '.ssh', 'known_hosts');
  const policy = config.settings.hostKeyPolicy;
  return {
    config,
    stateFile,
    userFile,
    all: new KnownHosts({ files: [userFile, stateFile], writeFile: stateFile, policy }),
    own: new KnownHosts({ files: [], writeFile: stateFile, policy }),
  };
}

function sshNode(config: ClusterConfig, id: string): NodeConfig {
  const node = config.nodes.find((n) => n.id === id);
  if (!node) throw new UserError(`unknown node "${id}"; known nodes: ${config.nodes.map((n) => n.id).join(', ')}`);
  if (node.local) throw new UserError(`node "${id}" is the local node: it runs without SSH and has no host key`);
  return node;
}

/** Every name a node's keys may be recorded under: its resolved address first (what the pool uses), then host and ip. */
async function nodeNames(config: ClusterConfig, node: NodeConfig): Promise<{ address?: string; names: string[] }> {
  const resolver = resolverFor(config.settings);
  const address = await resolver.resolve(node).then(
    (r) => r.address,
    () => undefined,
  );
  const names = [...new Set([address, node.host, node.ip].filter((n): n is string => !!n).map((n) => n.replace(/^\[(.*)\]$/, '$1').toLowerCase()))];
  return { address, names };
}

interface Row {
  node: string;
  host: string;
  port: number;
  key_type: string | null;
  fingerprint: string | null;
  file: string | null;
}

async function listRows(ctx: Ctx): Promise<Row[]> {
  const entries = ctx.all.list();
  const rows: Row[] = [];
  const claimed = new Set<(typeof entries)[number]>();
  for (const node of ctx.config.nodes.filter((n) => !n.local)) {
    const { names } = await nodeNames(ctx.config, node);
    const mine = entries.filter((e) => e.port === node.port && names.includes(e.host.toLowerCase()));
    mine.forEach((e) => claimed.add(e));
    if (mine.length === 0) rows.push({ node: node.id, host: names[0] ?? '?', port: node.port, key_type: null, fingerprint: null, file: null });
    for (const e of mine) rows.push({ node: node.id, host: e.host, port: e.port, key_type: e.keyType, fingerprint: e.fingerprint, file: e.file });
  }
  // Keys clusterflow recorded for hosts no longer in the config; the user's own file is not ours to show.
  for (const e of entries) {
    if (!claimed.has(e) && e.file === ctx.stateFile)
      rows.push({ node: '-', host: e.host, port: e.port, key_type: e.keyType, fingerprint: e.fingerprint, file: e.file });
  }
  return rows;
}

export function registerHostsCommands(program: Command): void {
  const hosts = program.command('hosts').description('Host keys of the SSH nodes (known_hosts in the state dir, plus ~/.ssh/known_hosts)');

  hosts
    .command('list')
    .description('Every SSH node with the host keys recorded for it')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const ctx = context();
      const rows = await listRows(ctx);
      if (o.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      const t = table(['node', 'host', 'key type', 'fingerprint', 'file']);
      for (const r of rows)
        t.push([r.node, r.port ? knownHostsName(r.host, r.port) : r.host, r.key_type ?? '-', r.fingerprint ?? 'not recorded yet', r.file ?? '-']);
      process.stdout.write(`${t.toString()}\nhost key policy: ${ctx.config.settings.hostKeyPolicy}\n`);
    });

  hosts
    .command('trust')
    .description("Connect to the node, and record the key it offers now (replacing a changed one) in the state dir's known_hosts")
    .argument('<node_id>', 'node id from the cluster config')
    .action(async (id: string) => {
      const ctx = context();
      const node = sshNode(ctx.config, id);
      const { address, names } = await nodeNames(ctx.config, node);
      if (!address) throw new UserError(`node "${id}": cannot resolve ${node.host ?? node.ip ?? 'its address'}; check host / ip in ${ctx.config.source}`);
      const before = ctx.all.list().filter((e) => e.port === node.port && names.includes(e.host.toLowerCase()));
      // Ask for the key types the user's own file holds first: those are what a login will be offered.
      const preferTypes = ctx.all
        .list()
        .filter((e) => e.file === ctx.userFile && e.port === node.port && names.includes(e.host.toLowerCase()))
        .map((e) => e.keyType);
      const { key, keyType } = await fetchHostKey({
        host: address,
        port: node.port,
        timeoutMs: ctx.config.settings.sshConnectTimeoutS * 1000,
        preferTypes,
        nodeId: id,
      });
      const now = fingerprint(key);
      const where = knownHostsName(address, node.port);
      if (before.some((e) => e.fingerprint === now && e.keyType === keyType)) {
        return void process.stdout.write(`${id} (${where}): ${keyType} ${now} is already trusted; nothing changed\n`);
      }
      for (const name of names) ctx.own.forget(name, node.port);
      ctx.own.trust(address, node.port, key);
      const old = before.length ? before.map((e) => `${e.keyType} ${e.fingerprint} (${e.file})`).join(', ') : 'none';
      process.stdout.write(`${id} (${where}): previous key: ${old}\n${id} (${where}): now trusted: ${keyType} ${now} (${ctx.stateFile})\n`);
      const stale = before.filter((e) => e.file !== ctx.stateFile && e.fingerprint !== now);
      if (stale.length)
        process.stderr.write(
          `note: ${ctx.userFile} still holds an older key for ${where}; clusterflow accepts the new one, ssh(1) will not until you run ssh-keygen -R '${where}'\n`,
        );
      process.stderr.write("Compare it with the node's own: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the node.\n");
    });

  hosts
    .command('forget')
    .description("Remove the recorded host keys of a node from the state dir's known_hosts (the next login records the key again under accept-new)")
    .argument('<node_id>', 'node id from the cluster config')
    .action(async (id: string) => {
      const ctx = context();
      const node = sshNode(ctx.config, id);
      const { names } = await nodeNames(ctx.config, node);
      let removed = 0;
      for (const name of names) removed += ctx.own.forget(name, node.port);
      const where = names.map((n) => knownHostsName(n, node.port)).join(', ');
      process.stdout.write(`${id}: removed ${removed} key line(s) for ${where} from ${ctx.stateFile}\n`);
      const left = ctx.all.list().filter((e) => e.file === ctx.userFile && e.port === node.port && names.includes(e.host.toLowerCase()));
      if (left.length)
        process.stderr.write(
          `note: ${ctx.userFile} still holds ${left.length} key(s) for ${where}, and clusterflow reads it; remove them with ssh-keygen -R\n`,
        );
    });
}
