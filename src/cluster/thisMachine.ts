// Which configured node is this machine, without the user writing `local: true`: the original
// tool reported `local_node: "macpro51"` because it ran on one of its listed machines. The
// matching is pure (tested on given identities); thisMachine() gathers the real one.
//
// The rule (README "This machine is one of the nodes"):
//   - `local: true` / `local: false` in cluster.yaml always win; detection only looks at nodes
//     that say neither, and only when no node says `local: true`.
//   - a node is this machine when its host or ip is this machine's hostname (short, full, or
//     `<short>.local`) or one of its non-loopback interface addresses (plus the address towards
//     CLUSTER_GATEWAY, when set), and its SSH port is 22. Another port on this machine's address
//     is a forwarded port or a second sshd (a container, a VM, a test node): not this machine.
//   - loopback names and addresses (localhost, 127.0.0.0/8, ::1) are never detected: loopback
//     nodes are tunnels or test sshds (`cluster up`) unless written `local: true`.
import { BlockList, isIP } from 'node:net';
import { hostname as osHostname, networkInterfaces } from 'node:os';

export interface MachineIdentity {
  /** os.hostname(), as given. */
  hostnames: string[];
  /** Addresses of this machine that identify it (non-loopback interface addresses, the gateway route's). */
  addresses: string[];
  /** How CLUSTER_GATEWAY was used, for doctor and warnings. */
  gateway?: { gateway: string; address?: string; iface?: string };
}

export interface InterfaceAddress {
  iface: string;
  address: string;
  cidr: string | null;
  internal: boolean;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

const bare = (a: string): string =>
  a
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '')
    .toLowerCase();

export function isLoopback(hostOrAddress: string): boolean {
  const a = bare(hostOrAddress);
  if (a === 'localhost' || a.endsWith('.localhost') || a === 'localhost.localdomain') return true;
  const family = isIP(a);
  if (family === 0) return false;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4mapped) return loopback.check(v4mapped[1]!, 'ipv4');
  return loopback.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

/** The interface address whose subnet holds `gateway` (the route to a directly connected gateway leaves from it). */
export function addressTowards(gateway: string, interfaces: readonly InterfaceAddress[]): InterfaceAddress | undefined {
  const g = bare(gateway);
  const family = isIP(g);
  if (family === 0) return undefined;
  for (const i of interfaces) {
    if (!i.cidr || isIP(i.address) !== family) continue;
    const [net, prefix] = i.cidr.split('/');
    const list = new BlockList();
    list.addSubnet(net!, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
    if (list.check(g, family === 4 ? 'ipv4' : 'ipv6')) return i;
  }
  return undefined;
}

/** `macpro51`, `macpro51.local` and `macpro51.example.org` name one machine; `a.example.org` and `a.example.net` do not. */
function sameHostName(a: string, b: string): boolean {
  const fold = (s: string) =>
    s
      .trim()
      .toLowerCase()
      .replace(/\.$/, '')
      .replace(/\.local$/, '');
  const x = fold(a);
  const y = fold(b);
  if (x === '' || y === '') return false;
  if (x === y) return true;
  // A bare name matches the first label of a full one.
  return (!x.includes('.') && y.split('.')[0] === x) || (!y.includes('.') && x.split('.')[0] === y);
}

/** Why `node` is this machine, or undefined when it is not (see the rule above). */
export function thisMachineReason(node: { host?: string; ip?: string; port: number }, machine: MachineIdentity): string | undefined {
  if (node.port !== 22) return undefined;
  for (const [field, value] of [
    ['host', node.host],
    ['ip', node.ip],
  ] as const) {
    if (!value) continue;
    // Addresses hold no loopback one unless CLUSTER_GATEWAY's route named it.
    if (isIP(bare(value))) {
      if (machine.addresses.some((a) => bare(a) === bare(value))) {
        const via =
          machine.gateway?.address && bare(machine.gateway.address) === bare(value) ? ` (the route to CLUSTER_GATEWAY ${machine.gateway.gateway})` : '';
        return `${field} ${value} is an address of this machine${via}`;
      }
    } else if (!isLoopback(value) && machine.hostnames.some((h) => sameHostName(h, value))) {
      return `${field} ${value} is this machine's hostname`;
    }
  }
  return undefined;
}

function interfaceAddresses(): InterfaceAddress[] {
  return Object.entries(networkInterfaces()).flatMap(([iface, list]) =>
    (list ?? []).map((i) => ({ iface, address: i.address, cidr: i.cidr, internal: i.internal })),
  );
}

/**
 * This machine's hostname and addresses. `gateway` (CLUSTER_GATEWAY): the address on the route
 * towards it identifies this machine too, loopback included (so a test can name one).
 */
export function thisMachine(gateway?: string, interfaces: readonly InterfaceAddress[] = interfaceAddresses(), hostname = osHostname()): MachineIdentity {
  const addresses = interfaces.filter((i) => !i.internal && !isLoopback(i.address)).map((i) => i.address);
  const machine: MachineIdentity = { hostnames: [hostname], addresses };
  if (gateway) {
    const towards = addressTowards(gateway, interfaces);
    machine.gateway = { gateway, ...(towards ? { address: towards.address, iface: towards.iface } : {}) };
    if (towards && !addresses.includes(towards.address)) addresses.push(towards.address);
  }
  return machine;
}
