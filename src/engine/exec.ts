// How to run a script on a node, whatever the transport: the SSH pool, or child_process for
// the local node. Activities call this and never touch ssh2 themselves.
import os from 'node:os';
import type { Services } from '../runtime/services.js';
import type { NodeConfig } from '../shared.js';
import { localExec } from '../ssh/localExec.js';
import type { ExecHandlers, ExecResult, SshTarget } from '../ssh/pool.js';

export type Exec = (script: string, h?: ExecHandlers) => Promise<ExecResult>;

export async function execFor(rt: Services, node: NodeConfig): Promise<Exec> {
  if (node.local) return (script, h) => localExec(script, h);
  const target = await sshTarget(rt, node);
  return (script, h) => rt.pool.exec(target, script, h);
}

async function sshTarget(rt: Services, node: NodeConfig): Promise<SshTarget> {
  const addr = await rt.resolver.resolve(node);
  return {
    nodeId: node.id,
    host: addr.address,
    // A known_hosts entry under the configured name also vouches for the resolved address.
    ...(node.host && node.host !== addr.address ? { hostName: node.host } : {}),
    port: node.port,
    user: node.user ?? rt.config.settings.sshUser ?? os.userInfo().username,
    identityFile: node.identityFile,
    connectTimeoutMs: rt.config.settings.sshConnectTimeoutS * 1000,
  };
}
