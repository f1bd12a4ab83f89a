// What the nodes' users can reach: the cluster dir made searchable for them, the directories
// hidden from them, and a real OpenSSH login proving each node lets us in. Apart from
// localCluster.ts, which brings the nodes up and down.
import { execFile } from 'node:child_process';
import { chmod, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { LocalCluster, LocalNode } from './clusterFiles.js';
import { nodePaths } from './sshdNode.js';

const run = promisify(execFile);

/**
 * As root, sshd opens authorized_keys with the node user's uid: every ancestor must be
 * searchable by others. Returns whether all ancestors are also safe for `StrictModes yes`.
 */
export async function prepareDirForNodeUsers(dir: string): Promise<boolean> {
  const own = await stat(dir);
  if ((own.mode & 0o011) !== 0o011) await chmod(dir, (own.mode & 0o7777) | 0o011);
  let strictSafe = (own.mode & 0o022) === 0;
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    const info = await stat(parent);
    if ((info.mode & 0o001) === 0) {
      throw new Error(
        `testcluster: node users cannot reach ${dir}: ${parent} is not searchable by others (mode ${(info.mode & 0o777).toString(8)}); use a dir under /tmp or chmod o+x ${parent}`,
      );
    }
    if ((info.mode & 0o022) !== 0 || (info.uid !== 0 && info.uid !== process.getuid?.())) strictSafe = false;
    if (parent === dirname(parent)) return strictSafe;
  }
}

/** Arguments for the real OpenSSH client to run `command` on a node: our key only, the cluster's known_hosts, strict. */
export function opensshArgs(cluster: LocalCluster, node: LocalNode, command: string): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    node.identityFile,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    `UserKnownHostsFile=${cluster.knownHostsPath}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(node.port),
    `${node.user}@${node.host}`,
    command,
  ];
}

/** Proves each node accepts our key with the real OpenSSH client and the recorded host key. */
export async function verifyLogin(cluster: LocalCluster, node: LocalNode): Promise<void> {
  const args = opensshArgs(cluster, node, 'true');
  try {
    await run('ssh', args, { timeout: 10_000 });
  } catch (err) {
    const log = await readFile(nodePaths(cluster.dir, node.id).log, 'utf8').catch(() => '');
    const stderr = String((err as { stderr?: unknown }).stderr ?? err).trim();
    throw new Error(
      `testcluster: ssh login to node ${node.id} (${node.user}@${node.host}:${node.port}) failed: ${stderr}\nsshd log tail:\n${log.split('\n').slice(-8).join('\n')}`,
      { cause: err },
    );
  }
}

/** The real paths to hide, refusing any that would hide what the nodes need; none without root. */
export async function hiddenDirs(hide: string[], root: boolean, needed: string[]): Promise<string[]> {
  if (hide.length === 0) return [];
  if (!root) {
    process.stderr.write(`testcluster: not root: cannot hide ${hide.join(', ')} from the nodes (needs a mount namespace); nodes see the whole filesystem\n`);
    return [];
  }
  const keep = await Promise.all(needed.map((p) => realpath(p).catch(() => resolve(p))));
  const out: string[] = [];
  for (const h of hide) {
    if (!isAbsolute(h)) throw new Error(`testcluster: hide needs absolute paths, got ${h}`);
    const real = await realpath(h).catch(() => null);
    if (!real || !(await stat(real)).isDirectory()) throw new Error(`testcluster: cannot hide ${h}: not an existing directory`);
    const clash = keep.find((k) => real === '/' || k === real || k.startsWith(`${real}/`));
    if (clash) throw new Error(`testcluster: cannot hide ${h}: the nodes need ${clash} (cluster dir or a node home) under it`);
    out.push(real);
  }
  return out;
}
