// Misbehaving SSH nodes on loopback, for the settings that only matter when a node misbehaves:
// one that completes the SSH login but never starts a command (CLUSTER_SSH_TIMEOUT), one that
// drops every TCP connection before the handshake (CLUSTER_SSH_RETRIES), counting them.
import net from 'node:net';
import ssh2, { type Connection } from 'ssh2';

const { Server, utils } = ssh2;

export interface FakeNode {
  port: number;
  /** TCP connections accepted so far. */
  connections: () => number;
  close(): Promise<void>;
}

function listen(server: net.Server | InstanceType<typeof Server>, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Logs anyone in (any key), opens sessions, and never answers an exec request: a hung sshd. */
export async function startStuckSshNode(host = '127.0.0.1'): Promise<FakeNode> {
  const hostKey = utils.generateKeyPairSync('ed25519').private;
  let count = 0;
  const clients = new Set<Connection>();
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    clients.add(client);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('session', (accept) => {
      const session = accept();
      session.on('exec', () => {
        /* never accepted nor rejected */
      });
    });
    client.on('error', () => undefined);
    client.on('close', () => clients.delete(client));
  });
  server.on('connection', () => {
    count++;
  });
  const port = await listen(server, host);
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise((resolve) => {
        for (const c of clients) c.end();
        server.close(() => resolve());
      }),
  };
}

/** Accepts TCP and closes at once: "connection dropped before the SSH handshake", every time. */
export async function startDroppingNode(host = '127.0.0.1'): Promise<FakeNode> {
  let count = 0;
  const server = net.createServer((sock) => {
    count++;
    sock.destroy();
  });
  const port = await listen(server, host);
  return { port, connections: () => count, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
