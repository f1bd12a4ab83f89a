// `cluster-router doctor`: everything a task needs, checked one by one, each with the fix when
// it fails. It looks and never changes anything: no key is recorded (host keys are checked
// against known_hosts under the strict policy), no server or worker is started.
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../cluster/config.js';
import { nodeEnvKeys } from '../cluster/configEnv.js';
import { execFor } from '../engine/exec.js';
import { createServices, type Services } from '../runtime/services.js';
import { HUB_QUEUE, nodeQueue, SEARCH_ATTRIBUTES, type ClusterConfig, type NodeConfig } from '../shared.js';
import { SshError } from '../ssh/errors.js';
import { fetchHostKey } from '../ssh/fetchHostKey.js';
import { fingerprint, KnownHosts } from '../ssh/hostKeys.js';
import { embeddedServerState } from '../temporal/embedded.js';
import { tlsFromEnv, transportCause } from '../temporal/connection.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** config, address, host-key, login, clock, disk, temporal, namespace, search-attributes, worker */
  check: string;
  /** A node id, a queue, or the file checked. */
  target: string;
  status: CheckStatus;
  detail: string;
  /** What to do, when the status is not ok. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
}

/** Clock skew beyond this fails (logs, heartbeats and `last_seen` stop lining up). */
export const MAX_SKEW_S = 5;
/** Free space in the node user's home below this fails (run output is kept there). */
export const MIN_FREE_BYTES = 1024 ** 3;
const NODE_TIMEOUT_MS = 15_000;
/** A poller seen within this long counts as a live worker (Temporal keeps pollers ~1 min). */
const POLLER_FRESH_MS = 70_000;

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  stateDir: string;
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const env = opts.env ?? process.env;
  const checks: Check[] = [];
  let config: ClusterConfig | undefined;
  try {
    config = loadConfig({ env, stateDir: opts.stateDir });
    const local = config.nodes.find((n) => n.local);
    checks.push({
      check: 'config',
      target: config.source,
      status: 'ok',
      detail: `${config.nodes.length} node(s): ${config.nodes.map((n) => n.id).join(', ')}; local node: ${local ? `${local.id}${local.localReason ? ` (${local.localReason})` : ''}` : 'none'}`,
    });
    for (const w of config.warnings ?? [])
      checks.push({ check: 'config', target: config.source, status: 'warn', detail: w.replace(/; fix: .*$/, ''), fix: /; fix: (.*)$/.exec(w)?.[1] });
  } catch (err) {
    checks.push({
      check: 'config',
      target: env.CLUSTER_CONFIG ?? 'cluster.yaml',
      status: 'fail',
      detail: (err as Error).message.replace(/; fix: .*$/s, ''),
      fix: /; fix: (.*)$/.exec((err as Error).message)?.[1] ?? 'correct the config file',
    });
  }
  if (config) {
    const rt = createServices(config, opts.stateDir);
    try {
      const perNode = await Promise.all(config.nodes.map((n) => withTimeout(checkNode(rt, n), NODE_TIMEOUT_MS, n)));
      checks.push(...perNode.flat());
    } finally {
      await rt.pool.close();
    }
  }
  checks.push(...(await checkTemporal(env, opts.stateDir, config)));
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

async function withTimeout(work: Promise<Check[]>, ms: number, node: NodeConfig): Promise<Check[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Check[]>((resolve) => {
    timer = setTimeout(
      () =>
        resolve([
          {
            check: 'node',
            target: node.id,
            status: 'fail',
            detail: `no answer within ${ms / 1000} s`,
            fix: `check that ${node.host ?? node.ip} is up and answers SSH on port ${node.port}`,
          },
        ]),
      ms,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Address, host key, SSH login, clock and disk of one node. */
async function checkNode(rt: Services, node: NodeConfig): Promise<Check[]> {
  const out: Check[] = [];
  const target = node.id;
  let sshTarget: { address: string } | undefined;
  if (node.local) {
    out.push({ check: 'address', target, status: 'ok', detail: `this machine (${node.localReason ?? 'local: true'}): runs without SSH` });
  } else {
    try {
      const r = await rt.resolver.resolve(node);
      sshTarget = { address: r.address };
      out.push({ check: 'address', target, status: 'ok', detail: `${r.host} → ${r.address} (${r.via}${r.detail ? `; ${r.detail}` : ''})` });
    } catch (err) {
      const envVar = `CLUSTER_${nodeEnvKeys(node.id)[0]}_IP`;
      out.push({
        check: 'address',
        target,
        status: 'fail',
        detail: (err as Error).message,
        fix: `correct host / ip of ${node.id} in ${rt.config.source}, or set ${envVar} to its address`,
      });
      return out;
    }
    out.push(await checkHostKey(rt, node, sshTarget.address));
  }
  let exec;
  try {
    exec = await execFor(rt, node);
  } catch (err) {
    out.push({ check: 'login', target, status: 'fail', detail: (err as Error).message, fix: sshFix(err, node) });
    return out;
  }
  let stdout = '';
  let stderr = '';
  const before = Date.now();
  try {
    const r = await exec('echo "clock=$(date +%s)"; echo "disk=$(df -Pk "$HOME" 2>/dev/null | tail -n 1)"; echo "home=$HOME"', {
      onStdout: (b) => {
        stdout += b.toString();
      },
      onStderr: (b) => {
        stderr += b.toString();
      },
    });
    if (r.code !== 0) throw new Error(`the check script exited ${r.code}: ${stderr.trim().slice(0, 200)}`);
  } catch (err) {
    out.push({ check: 'login', target, status: 'fail', detail: (err as Error).message, fix: sshFix(err, node) });
    return out;
  }
  const after = Date.now();
  const user = node.local ? os.userInfo().username : (node.user ?? rt.config.settings.sshUser ?? os.userInfo().username);
  out.push({
    check: 'login',
    target,
    status: 'ok',
    detail: node.local
      ? `runs commands as ${user} on this machine (${after - before} ms)`
      : `logged in as ${user}@${sshTarget!.address}:${node.port} (${after - before} ms)`,
  });
  out.push(clockCheck(target, stdout, (before + after) / 2000));
  out.push(diskCheck(target, stdout));
  return out;
}

function sshFix(err: unknown, node: NodeConfig): string {
  const kind = err instanceof SshError ? err.kind : undefined;
  const key = node.identityFile ?? 'your key (identity_file)';
  switch (kind) {
    case 'auth':
      return `install the public key of ${key} in ~${node.user ?? ''}/.ssh/authorized_keys on ${node.id}, or set user / identity_file for it`;
    case 'host-key':
      return `check the key on the node (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then cluster-router hosts trust ${node.id}`;
    case 'dns':
      return `correct host of ${node.id}, or give its address as ip`;
    case 'timeout':
      return `the node did not complete the SSH login in CLUSTER_SSH_CONNECT_TIMEOUT; check it is up, or raise the timeout`;
    case 'connect':
      return `check that sshd runs on ${node.host ?? node.ip} port ${node.port} and that nothing blocks it`;
    case 'lost':
      if (/CLUSTER_SSH_TIMEOUT/.test((err as Error).message))
        return `the node logged us in but started no command in time: check its load and sshd (MaxSessions, a slow login script), or raise CLUSTER_SSH_TIMEOUT`;
      return `the connection to ${node.id} broke; check the network and the node's sshd`;
    default:
      return `try ssh -p ${node.port} ${node.user ? `${node.user}@` : ''}${node.host ?? node.ip} true with the same key`;
  }
}

/** known / unknown / changed, checked against known_hosts without recording anything. */
async function checkHostKey(rt: Services, node: NodeConfig, address: string): Promise<Check> {
  const target = node.id;
  const files = [path.join(os.homedir(), '.ssh', 'known_hosts'), path.join(rt.stateDir, 'known_hosts')];
  const readOnly = new KnownHosts({ files, writeFile: files[1]!, policy: 'strict' });
  const names = node.host && node.host !== address ? [address, node.host] : [address];
  let key: Buffer;
  try {
    ({ key } = await fetchHostKey({
      host: address,
      port: node.port,
      timeoutMs: rt.config.settings.sshConnectTimeoutS * 1000,
      preferTypes: readOnly.knownKeyTypes(names, node.port),
      nodeId: node.id,
    }));
  } catch (err) {
    return { check: 'host-key', target, status: 'fail', detail: `cannot fetch the host key: ${(err as Error).message}`, fix: sshFix(err, node) };
  }
  const verdict = readOnly.verify(names, node.port, key, node.id);
  if (verdict.ok) return { check: 'host-key', target, status: 'ok', detail: `known (${fingerprint(key)})` };
  const msg = verdict.error.message;
  if (/changed/.test(msg))
    return {
      check: 'host-key',
      target,
      status: 'fail',
      detail: `changed: ${msg.replace(/ If the node.*$/, '')}`,
      fix: `if ${node.id} was reinstalled, cluster-router hosts forget ${node.id} (or hosts trust ${node.id})`,
    };
  if (/revoked/.test(msg))
    return { check: 'host-key', target, status: 'fail', detail: msg, fix: `find out why that key was revoked before connecting to ${node.id}` };
  if (rt.config.settings.hostKeyPolicy === 'strict') {
    return {
      check: 'host-key',
      target,
      status: 'fail',
      detail: `unknown (${fingerprint(key)}) and the policy is strict`,
      fix: `compare it with ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the node, then cluster-router hosts trust ${node.id}`,
    };
  }
  return { check: 'host-key', target, status: 'ok', detail: `unknown (${fingerprint(key)}): accept-new records it at the first login` };
}

function field(stdout: string, name: string): string | undefined {
  return new RegExp(`^${name}=(.*)$`, 'm').exec(stdout)?.[1]?.trim();
}

function clockCheck(target: string, stdout: string, localS: number): Check {
  const remote = Number(field(stdout, 'clock'));
  if (!Number.isFinite(remote) || remote <= 0)
    return { check: 'clock', target, status: 'warn', detail: 'date +%s gave no number', fix: 'check that date(1) works on the node' };
  const skew = remote - localS;
  const detail = `${skew >= 0 ? '+' : ''}${skew.toFixed(1)} s from this machine`;
  // date +%s has a resolution of 1 s: up to 1 s of difference is no skew.
  if (Math.abs(skew) > MAX_SKEW_S)
    return { check: 'clock', target, status: 'fail', detail, fix: 'enable time sync on the node (timedatectl set-ntp true, or sntp / chrony)' };
  return { check: 'clock', target, status: 'ok', detail };
}

function diskCheck(target: string, stdout: string): Check {
  const home = field(stdout, 'home') ?? '~';
  // df -P: Filesystem 1024-blocks Used Available Capacity Mounted-on
  const cols = (field(stdout, 'disk') ?? '').split(/\s+/);
  const avail = Number(cols[3]) * 1024;
  const capacity = cols[4] ?? '?';
  if (!Number.isFinite(avail) || cols.length < 6)
    return { check: 'disk', target, status: 'warn', detail: `df gave nothing readable for ${home}`, fix: 'check that df(1) works on the node' };
  const detail = `${(avail / 1024 ** 3).toFixed(1)} GiB free in ${home} (${capacity} used)`;
  if (avail < MIN_FREE_BYTES)
    return { check: 'disk', target, status: 'fail', detail, fix: `free space on ${cols[5]} (command output is kept under ${home}/.cache/clusterflow/runs)` };
  return { check: 'disk', target, status: 'ok', detail };
}

/** The Temporal server (reachable, namespace, search attributes) and whether workers poll each queue. */
async function checkTemporal(env: NodeJS.ProcessEnv, stateDir: string, config: ClusterConfig | undefined): Promise<Check[]> {
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  let address = env.TEMPORAL_ADDRESS;
  const named = address ? 'TEMPORAL_ADDRESS' : 'embedded dev server';
  if (!address) {
    const st = embeddedServerState(stateDir);
    if (!st || !st.alive) {
      return [
        {
          check: 'temporal',
          target: 'embedded',
          status: 'fail',
          detail: `the embedded dev server of ${stateDir} is not running`,
          fix: 'start it with cluster-router serve (or any task command), or set TEMPORAL_ADDRESS to a running server',
        },
      ];
    }
    address = st.address;
  }
  let conn: Connection;
  try {
    const tls = address === env.TEMPORAL_ADDRESS ? tlsFromEnv(env) : undefined;
    conn = await Connection.connect({
      address,
      connectTimeout: 5000,
      ...(tls ? { tls } : {}),
      ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
    });
  } catch (err) {
    return [
      {
        check: 'temporal',
        target: address,
        status: 'fail',
        detail: `cannot reach ${address} (${named}): ${transportCause(err)}`,
        fix:
          address === env.TEMPORAL_ADDRESS
            ? 'start that server, correct TEMPORAL_ADDRESS, or unset it to use the embedded dev server'
            : 'see <state dir>/temporal/server.log',
      },
    ];
  }
  const out: Check[] = [];
  try {
    try {
      await conn.workflowService.describeNamespace({ namespace });
      out.push({ check: 'temporal', target: address, status: 'ok', detail: `reachable (${named})` });
      out.push({ check: 'namespace', target: namespace, status: 'ok', detail: 'exists' });
    } catch (err) {
      out.push({ check: 'temporal', target: address, status: 'ok', detail: `reachable (${named})` });
      out.push({
        check: 'namespace',
        target: namespace,
        status: 'fail',
        detail: transportCause(err),
        fix: `create it (temporal operator namespace create --namespace ${namespace}) or correct TEMPORAL_NAMESPACE`,
      });
      return out;
    }
    try {
      const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace });
      const missing = Object.entries(SEARCH_ATTRIBUTES)
        .filter(([k]) => !customAttributes || !(k in customAttributes))
        .map(([k, t]) => `${k} (${t})`);
      out.push(
        missing.length === 0
          ? { check: 'search-attributes', target: namespace, status: 'ok', detail: Object.keys(SEARCH_ATTRIBUTES).join(', ') }
          : {
              check: 'search-attributes',
              target: namespace,
              status: 'fail',
              detail: `not registered: ${missing.join(', ')}`,
              fix: 'run deploy/register-search-attributes.sh against this server',
            },
      );
    } catch (err) {
      out.push({
        check: 'search-attributes',
        target: namespace,
        status: 'warn',
        detail: `cannot list them: ${transportCause(err)}`,
        fix: 'check that this client may call the operator API',
      });
    }
    const queues: Array<[string, number, string]> = [
      [HUB_QUEUE, 1, 'workflows and placement'],
      ...(config?.nodes ?? []).map((n): [string, number, string] => [nodeQueue(n.id), 2, `commands on ${n.id}`]),
    ];
    for (const [queue, type, what] of queues) {
      try {
        const res = await conn.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue }, taskQueueType: type });
        const fresh = (res.pollers ?? []).filter((p) => p.lastAccessTime?.seconds && Date.now() - Number(p.lastAccessTime.seconds) * 1000 < POLLER_FRESH_MS);
        out.push(
          fresh.length > 0
            ? {
                check: 'worker',
                target: queue,
                status: 'ok',
                detail: `${fresh.length} poller(s): ${[...new Set(fresh.map((p) => p.identity ?? '?'))].join(', ')}`,
              }
            : {
                check: 'worker',
                target: queue,
                status: 'fail',
                detail: `no worker polls it (${what} would wait)`,
                fix: `run cluster-router serve, or cluster-router worker${queue === HUB_QUEUE ? '' : ` --nodes ${queue.slice(nodeQueue('').length)}`}`,
              },
        );
      } catch (err) {
        out.push({ check: 'worker', target: queue, status: 'fail', detail: transportCause(err), fix: 'check the Temporal server' });
      }
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
  return out;
}
