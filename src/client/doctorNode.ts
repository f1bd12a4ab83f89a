// doctor's checks of one node: its address, host key (looked up, never recorded), SSH login,
// clock and disk. Apart from doctor.ts, which runs them per node with a deadline.
import os from 'node:os';
import path from 'node:path';
import { nodeEnvKeys } from '../cluster/configEnv.js';
import { execFor } from '../engine/exec.js';
import type { Services } from '../runtime/services.js';
import type { NodeConfig } from '../shared.js';
import { SshError } from '../ssh/errors.js';
import { fetchHostKey } from '../ssh/fetchHostKey.js';
import { fingerprint, KnownHosts } from '../ssh/hostKeys.js';
import type { Check } from './doctor.js';

/** Clock skew beyond this fails (logs, heartbeats and `last_seen` stop lining up). */
export const MAX_SKEW_S = 5;
/** Free space in the node user's home below this fails (run output is kept there). */
export const MIN_FREE_BYTES = 1024 ** 3;

/** Address, host key, SSH login, clock and disk of one node. */
export async function checkNode(rt: Services, node: NodeConfig): Promise<Check[]> {
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
