// The peer tools bench/fanout measures clusterflow against, all over the SAME loopback sshds
// with the same key and known_hosts: pdsh, GNU parallel (--sshlogin), xargs -P + ssh. Every
// node has its own address, port and user, which none of them takes per host on the command
// line: a generated ssh_config (Host fan1 → HostName/Port/User) gives each a plain host name.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LocalCluster } from '../src/testcluster/localCluster.js';

export interface PeerEnv {
  cluster: LocalCluster;
  /** Where ssh_config files and ControlMaster sockets go (short path: sockets are ≤ 104 bytes). */
  dir: string;
}

/** ssh_config for the cluster's nodes, with or without connection sharing (ControlMaster). */
export function writeSshConfig(env: PeerEnv, controlMaster: boolean): string {
  const file = path.join(env.dir, controlMaster ? 'ssh_config.cm' : 'ssh_config');
  const hosts = env.cluster.nodes.map((n) => `Host ${n.id}\n  HostName ${n.host}\n  Port ${n.port}\n  User ${n.user}\n`);
  const common = [
    'Host *',
    `  IdentityFile ${env.cluster.nodes[0]!.identityFile}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    `  UserKnownHostsFile ${env.cluster.knownHostsPath}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  LogLevel ERROR',
    '  ConnectTimeout 10',
    ...(controlMaster ? ['  ControlMaster auto', `  ControlPath ${env.dir}/cm-%C`, '  ControlPersist 60'] : []),
  ];
  writeFileSync(file, `${hosts.join('')}${common.join('\n')}\n`);
  return file;
}

/** Runs a tool to completion; ms from spawn to exit. A non-zero exit is an error (a peer must not cheat by failing fast). */
export function timeProcess(cmd: string, args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} exited ${code ?? signal}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
    });
    // A child that exits without reading its stdin (ssh -O, a failing tool) must not crash the bench with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Opens (or checks) the ControlMaster of every node, so a measured run starts warm like clusterflow's pool. */
export async function warmMasters(env: PeerEnv, config: string): Promise<void> {
  await Promise.all(env.cluster.nodes.map((n) => timeProcess('ssh', ['-F', config, n.id, 'true'])));
}

export async function closeMasters(env: PeerEnv, config: string): Promise<void> {
  await Promise.all(env.cluster.nodes.map((n) => timeProcess('ssh', ['-F', config, '-O', 'exit', n.id]).catch(() => undefined)));
}

export interface PeerCase {
  name: string;
  /** Runs all `commands` (each exactly once, spread over the nodes); ms taken. */
  run(commands: string[]): Promise<number>;
}

/** Round-robin "host command" lines: command i on node i mod N. */
const roundRobin = (env: PeerEnv, commands: string[]) =>
  commands.map((c, i) => `${env.cluster.nodes[i % env.cluster.nodes.length]!.id} ${c}`).join('\n') + '\n';

/**
 * pdsh runs ONE command on a set of hosts. Mapping: 300 commands on 3 nodes = 100 rounds of
 * `pdsh -w fan1,fan2,fan3 <cmd>` (each round runs the command once per node), `rounds` of them
 * in flight at once (xargs -P), so rounds=8 gives 24 commands in flight like the others.
 * The ssh module's default arguments carry `-l<local user>`, which would override the
 * per-node users: PDSH_SSH_ARGS replaces them with the ssh_config.
 */
export function pdshCase(env: PeerEnv, config: string, rounds: number, label: string): PeerCase {
  const hosts = env.cluster.nodes.map((n) => n.id).join(',');
  const n = env.cluster.nodes.length;
  return {
    name: label,
    run: (commands) => {
      if (commands.length % n !== 0 || new Set(commands).size !== 1) throw new Error('pdsh mapping needs one repeated command, a multiple of the node count');
      const lines = Array.from({ length: commands.length / n }, () => commands[0]!).join('\n') + '\n';
      return timeProcess('xargs', ['-P', String(rounds), '-d', '\n', '-n', '1', 'pdsh', '-S', '-R', 'ssh', '-f', String(n), '-w', hosts], {
        stdin: lines,
        env: { ...process.env, PDSH_SSH_ARGS: `-F ${config} %h` },
      });
    },
  };
}

/** GNU parallel over 3 --sshlogin entries, `perHost` jobs on each (8/fan1,...). */
export function gnuParallelCase(env: PeerEnv, config: string, perHost: number, label: string): PeerCase {
  const logins = env.cluster.nodes.map((n) => `${perHost}/${n.id}`).join(',');
  return {
    name: label,
    run: (commands) =>
      timeProcess('parallel', ['--will-cite', '--halt', 'never', '-S', logins, '--ssh', `ssh -F ${config}`], { stdin: commands.join('\n') + '\n' }),
  };
}

/** xargs -P: one `ssh -F config <host> <command>` per command, round-robin over the nodes. */
export function xargsSshCase(env: PeerEnv, config: string, inFlight: number, label: string): PeerCase {
  return {
    name: label,
    run: (commands) => timeProcess('xargs', ['-P', String(inFlight), '-L', '1', 'ssh', '-F', config], { stdin: roundRobin(env, commands) }),
  };
}
