// Fetch the host key a server offers, without checking it against known_hosts: what
// `cluster-router hosts trust` records (like ssh-keyscan). The key is returned only after the
// key exchange completed, i.e. after the server proved it holds the matching private key.
import net from 'node:net';
import { Client, type ConnectConfig } from 'ssh2';
import { classifySshError } from './errors.js';
import { keyTypeOf } from './hostKeys.js';

// ssh2's default order (the same list connection.ts uses); key types already known for the
// host go first there too, so we fetch the key the product will be offered.
const HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

export interface FetchHostKeyOptions {
  host: string;
  port: number;
  timeoutMs: number;
  /** Key types recorded elsewhere for this host (e.g. the user's known_hosts), asked for first. */
  preferTypes?: string[];
  /** Names errors after this node. */
  nodeId?: string;
}

export function fetchHostKey(o: FetchHostKeyOptions): Promise<{ key: Buffer; keyType: string }> {
  const nodeId = o.nodeId ?? o.host;
  return new Promise((resolve, reject) => {
    const client = new Client();
    let offered: Buffer | undefined;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      client.end();
    };
    const sock = net.connect({ host: o.host, port: o.port });
    client.on('handshake', () =>
      settle(() => (offered ? resolve({ key: offered, keyType: keyTypeOf(offered) }) : reject(new Error(`${nodeId}: no host key offered`)))),
    );
    client.on('error', (err) => settle(() => reject(classifySshError(err, nodeId))));
    client.on('close', () => settle(() => reject(new Error(`${nodeId}: ${o.host}:${o.port} closed the connection before the key exchange completed`))));
    const first = (o.preferTypes ?? [])
      .flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]))
      .filter((a) => HOST_KEY_ALGOS.includes(a));
    const config: ConnectConfig = {
      sock,
      username: 'clusterflow-hostkey', // never authenticates: we disconnect after the key exchange
      readyTimeout: o.timeoutMs,
      hostVerifier: (key: Buffer) => {
        offered = key;
        return true;
      },
      algorithms: { serverHostKey: [...new Set([...first, ...HOST_KEY_ALGOS])] as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
    };
    try {
      client.connect(config);
    } catch (err) {
      sock.destroy();
      settle(() => reject(classifySshError(err, nodeId)));
    }
  });
}
