// Loopback addresses and ports for test nodes. Linux routes all of 127.0.0.0/8 to `lo`
// (`ip route show table local` lists `local 127.0.0.0/8 dev lo`), so any 127.x.y.z can be
// bound without `ip addr add`; each node gets its own address so node identity is visible
// in logs, known_hosts and routing, as on a real network.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

// 127.0.0.x holds 127.0.0.1 and 127.0.1.1 is Debian's hostname address: start at 127.0.2.x.
const FIRST_SUBNET = 2;
const SUBNET_COUNT = 252; // 2..253

export function nodeAddress(subnet: number, index: number): string {
  return `127.0.${subnet}.${index + 1}`;
}

/** Loopback IPv4 addresses with a listening TCP socket, from /proc/net/tcp. */
async function listeningAddresses(): Promise<Set<string>> {
  const found = new Set<string>();
  let table: string;
  try {
    table = await readFile('/proc/net/tcp', 'utf8');
  } catch {
    return found; // Not Linux or no procfs: fall back to the hash alone.
  }
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== '0A') continue; // TCP_LISTEN
    const hex = fields[1]?.split(':')[0] ?? '';
    if (hex.length !== 8) continue;
    // Little-endian on x86 and arm64: the last byte pair is the first octet.
    const octets = [6, 4, 2, 0].map((at) => parseInt(hex.slice(at, at + 2), 16));
    found.add(octets.join('.'));
  }
  return found;
}

/**
 * The third octet X for a cluster's addresses 127.0.X.(i+1): derived from the directory
 * so one dir keeps its addresses across runs, moved on when another process already listens
 * in 127.0.X.0/24 so parallel clusters (other test runs) do not share addresses.
 */
export async function pickSubnet(dir: string): Promise<number> {
  const digest = createHash('sha256').update(dir).digest();
  const start = digest.readUInt32BE(0) % SUBNET_COUNT;
  const busy = await listeningAddresses();
  for (let step = 0; step < SUBNET_COUNT; step++) {
    const subnet = FIRST_SUBNET + ((start + step) % SUBNET_COUNT);
    const prefix = `127.0.${subnet}.`;
    if (![...busy].some((addr) => addr.startsWith(prefix))) return subnet;
  }
  return FIRST_SUBNET + start;
}

/**
 * Binds `host:port` (0 = let the kernel choose) and releases it, returning the port.
 * Rejects with EADDRINUSE when a fixed port is taken. The short gap before sshd binds is
 * covered by the caller retrying on "Address already in use".
 */
export function reservePort(host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}
