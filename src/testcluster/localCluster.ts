// Local loopback test cluster behind `cluster-router cluster up|down`, used by e2e tests,
// benchmarks and the demo: N real sshds on 127.0.X.(i+1), one per node, so the product talks
// real SSH without any other machine. As root each node has its own unprivileged user;
// otherwise every sshd runs as, and logs in as, the current user.
import { mkdir, readFile, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import {
  assertKnownNodeIds,
  clusterFilePaths,
  clusterYaml,
  knownHostsLine,
  localArch,
  publicKeyFingerprint,
  readClusterState,
  writeClusterState,
  writeFileAtomic,
  type LocalCluster,
  type LocalNode,
} from './clusterFiles.js';
import { nodeAddress, pickSubnet, reservePort } from './loopbackAddresses.js';
import { ensureNodeUser, isRoot, nodeUserName, removeNodeUser } from './nodeUsers.js';
import { hiddenDirs, prepareDirForNodeUsers, verifyLogin } from './nodeAccess.js';
import { ensureKeyPair, ensureNodeDir, nodePaths, runningSshdPid, startSshd, stopSshd } from './sshdNode.js';

export type { LocalCluster, LocalNode } from './clusterFiles.js';

export interface ClusterUpOptions {
  dir: string;
  nodes?: number;
  basePort?: number;
  namePrefix?: string;
  /** Ids of the sshd nodes instead of <prefix>1..N (their users stay cf-<prefix>1..N, so runs never share users). */
  nodeIds?: string[];
  includeLocal?: boolean;
  /** Id of the node that runs on this machine (default "local"). */
  localId?: string;
  /**
   * Write that node with `host: <this machine's hostname>` instead of `local: true`, so the
   * config finds it to be this machine (cluster/thisMachine.ts), as a real cluster file would.
   */
  localDetected?: boolean;
  extraNodeYaml?: Record<string, Record<string, unknown>>;
  /**
   * Directories the nodes must not see, as real remote nodes would not (e.g. the origin's files
   * in a workspace test). Root only: each sshd runs in its own mount namespace with an empty
   * tmpfs over them. Never the cluster dir or a node's home (blob store, workspaces live there).
   */
  hide?: string[];
}

// One state file per dir: serialise read-modify-write from concurrent calls in this process.
const dirLocks = new Map<string, Promise<unknown>>();
function withDirLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const next = (dirLocks.get(dir) ?? Promise.resolve()).catch(() => undefined).then(work);
  dirLocks.set(dir, next);
  return next;
}

/** Ports per node: the running ones kept, `basePort + i`, or fresh free ports. */
async function choosePort(host: string, index: number, previous: LocalNode | undefined, basePort: number | undefined): Promise<number> {
  if (basePort !== undefined) return reservePort(host, basePort + index);
  if (previous && previous.host === host) {
    const again = await reservePort(host, previous.port).catch(() => 0);
    if (again > 0) return again;
  }
  return reservePort(host);
}

export async function clusterUp(opts: ClusterUpOptions): Promise<LocalCluster> {
  const dir = resolve(opts.dir);
  return withDirLock(dir, () => bringUp(dir, opts));
}

async function bringUp(dir: string, opts: ClusterUpOptions): Promise<LocalCluster> {
  const count = opts.nodeIds?.length ?? opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 253) throw new Error(`testcluster: nodes must be 1..253, got ${count}`);
  const prefix = opts.namePrefix ?? 'n';
  const ids = opts.nodeIds ?? Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
  const root = isRoot();
  const users = root ? ids.map((_, i) => nodeUserName(`${prefix}${i + 1}`)) : ids.map(() => userInfo().username);
  const files = clusterFilePaths(dir);
  const localId = opts.localId ?? 'local';
  assertKnownNodeIds(opts.extraNodeYaml ?? {}, ids, localId);

  await mkdir(dir, { recursive: true });
  const strictModes = root ? await prepareDirForNodeUsers(dir) : false;
  // Privilege separation dir: sshd started by root refuses to run without it.
  if (root) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  else process.stderr.write(`testcluster: not root: every node's sshd runs as ${users[0]} and logs in as ${users[0]}; users are not separated\n`);

  // A previous cluster in this dir is reused when it has the same nodes; otherwise replaced.
  const previous = await readClusterState(dir);
  const sameShape =
    previous !== null &&
    previous.nodes.map((n) => n.id).join() === ids.join() &&
    (opts.basePort === undefined || previous.nodes.every((n, i) => n.port === opts.basePort! + i));
  if (previous && !sameShape) await stopAll(dir, previous);
  const subnet = sameShape ? Number(previous!.nodes[0]!.host.split('.')[2]) : await pickSubnet(dir);

  // Keys and dirs in parallel; useradd serialised (it locks /etc/passwd).
  const homes: string[] = [];
  await Promise.all([
    ensureKeyPair(files.clientKey, 'clusterflow-test-client'),
    Promise.all(ids.map(async (id) => ensureKeyPair((await ensureNodeDir(dir, id)).hostKey, `clusterflow-test-${id}`))),
    (async () => {
      if (root) for (const user of users) homes.push(await ensureNodeUser(user));
    })(),
  ]);
  const hide = await hiddenDirs(opts.hide ?? [], root, [dir, ...homes]);
  const hideChanged = JSON.stringify(previous?.hide ?? []) !== JSON.stringify(hide);
  const clientPub = await readFile(`${files.clientKey}.pub`, 'utf8');

  const nodes = await Promise.all(
    ids.map(async (id, i): Promise<LocalNode> => {
      const paths = nodePaths(dir, id);
      const host = nodeAddress(subnet, i + 1);
      const user = users[i]!;
      await writeFileAtomic(paths.authorizedKeys, clientPub, 0o644);
      const prior = sameShape ? previous!.nodes[i] : undefined;
      let pid = prior ? await runningSshdPid(dir, id, prior.pid) : 0;
      let port = prior?.port ?? 0;
      if (pid === 0 || prior?.user !== user || hideChanged) {
        if (pid > 0) await stopSshd(dir, id, pid);
        port = await choosePort(host, i, prior, opts.basePort);
        ({ pid, port } = await startSshd(dir, { id, host, port, user }, { pickPort: opts.basePort === undefined, strictModes, hide }));
      }
      const hostPub = await readFile(`${paths.hostKey}.pub`, 'utf8');
      return { id, host, port, user, identityFile: files.clientKey, hostKeyFingerprint: publicKeyFingerprint(hostPub), pid };
    }),
  );

  const knownHosts = await Promise.all(nodes.map(async (n) => knownHostsLine(n.host, n.port, await readFile(`${nodePaths(dir, n.id).hostKey}.pub`, 'utf8'))));
  await writeFileAtomic(files.knownHostsPath, `${knownHosts.join('\n')}\n`);
  const yamlText = clusterYaml(nodes, {
    identityFile: files.clientKey,
    includeLocal: opts.includeLocal ?? true,
    extraNodeYaml: opts.extraNodeYaml ?? {},
    arch: localArch(),
    localId,
    ...(opts.localDetected ? { localHost: hostname() } : {}),
  });
  await writeFileAtomic(files.configPath, yamlText);
  const cluster: LocalCluster = { dir, configPath: files.configPath, knownHostsPath: files.knownHostsPath, nodes, ...(hide.length > 0 ? { hide } : {}) };
  await writeClusterState(cluster);
  await Promise.all(nodes.map((node) => verifyLogin(cluster, node)));
  return cluster;
}

/** Stops every sshd of the dir: from the state file, plus any node dir left with a pid file. */
async function stopAll(dir: string, state: LocalCluster | null): Promise<void> {
  const known = new Map((state?.nodes ?? []).map((n) => [n.id, n.pid]));
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory() && !known.has(entry.name)) {
      const hasConfig = await stat(nodePaths(dir, entry.name).config).then(
        () => true,
        () => false,
      );
      if (hasConfig) known.set(entry.name, 0);
    }
  }
  await Promise.all([...known].map(([id, pid]) => stopSshd(dir, id, pid)));
}

export async function clusterDown(opts: { dir: string; removeUsers?: boolean }): Promise<void> {
  const dir = resolve(opts.dir);
  await withDirLock(dir, async () => {
    const state = await readClusterState(dir).catch(() => null);
    await stopAll(dir, state);
    if (opts.removeUsers && isRoot()) {
      // Only accounts this module names (cf-*), never the invoking user of a non-root cluster.
      for (const user of new Set((state?.nodes ?? []).map((n) => n.user))) {
        if (user.startsWith('cf-')) await removeNodeUser(user);
      }
    }
    const files = clusterFilePaths(dir);
    const nodeDirs = (state?.nodes ?? []).map((n) => nodePaths(dir, n.id).nodeDir);
    await Promise.all(
      [files.statePath, files.configPath, files.knownHostsPath, files.clientKey, `${files.clientKey}.pub`, ...nodeDirs].map((path) =>
        rm(path, { recursive: true, force: true }),
      ),
    );
    await rmdir(dir).catch(() => undefined); // only when empty: the dir may hold the caller's files
  });
}

export async function clusterInfo(dir: string): Promise<LocalCluster | null> {
  return readClusterState(resolve(dir));
}

async function updateNode(dir: string, id: string, change: (state: LocalCluster, node: LocalNode) => Promise<void>): Promise<void> {
  const root = resolve(dir);
  await withDirLock(root, async () => {
    const state = await readClusterState(root);
    const node = state?.nodes.find((n) => n.id === id);
    if (!state || !node) throw new Error(`testcluster: no node "${id}" in ${join(root, 'cluster.json')}; run cluster up first`);
    await change(state, node);
    await writeClusterState(state);
  });
}

/** Fault tests: stops the node's sshd and drops its sessions; address and port stay reserved in state (pid 0). */
export async function stopNodeSshd(dir: string, id: string): Promise<void> {
  await updateNode(dir, id, async (state, node) => {
    await stopSshd(state.dir, id, node.pid);
    node.pid = 0;
  });
}

/** Fault tests: stop (dropping sessions) and start again on the same address, port and host key. */
export async function restartNodeSshd(dir: string, id: string): Promise<void> {
  await updateNode(dir, id, async (state, node) => {
    await stopSshd(state.dir, id, node.pid);
    const strictModes = isRoot() ? await prepareDirForNodeUsers(state.dir) : false;
    ({ pid: node.pid } = await startSshd(
      state.dir,
      { id, host: node.host, port: node.port, user: node.user },
      { pickPort: false, strictModes, hide: state.hide },
    ));
  });
}
