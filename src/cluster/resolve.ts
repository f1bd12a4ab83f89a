// Address resolution for nodes: IP literal → mDNS (.local) → DNS → fallback `ip`, cached per
// node. Lookups are injectable so the logic is tested without a network.
import { promises as dnsPromises } from 'node:dns';
import type { Settings } from '../shared.js';
import { BlockList, isIP } from 'node:net';
import { lookupMdns as lookupMdnsDefault } from './mdns.js';

export interface ResolvedAddress {
  address: string;
  via: 'literal' | 'dns' | 'mdns' | 'fallback-ip';
  /** The configured host name (or the ip when the node has no host). */
  host: string;
  /** Why this address and not a better one (e.g. "mDNS no answer in 1000 ms"), when that matters. */
  detail?: string;
}

export interface NodeAddress {
  id: string;
  host?: string;
  ip?: string;
}

export interface AddressResolverOptions {
  ttlS: number;
  /** CLUSTER_DNS: ask these DNS servers (dns.Resolver) instead of the system resolver (getaddrinfo). */
  dnsServers?: string[];
  lookupDns?: (host: string) => Promise<string[]>;
  lookupMdns?: (host: string, timeoutMs: number) => Promise<string[]>;
  now?: () => number;
  mdnsTimeoutMs?: number;
  /** getaddrinfo cannot be cancelled, but we stop waiting for it after this long. */
  dnsTimeoutMs?: number;
}

/**
 * Ranges whose addresses, when found by discovery, cannot be how the hub reaches a node: they
 * name the node's own loopback, an unroutable link-local address, or a container/VM bridge
 * that exists on many machines at once. Kept to the well-known defaults (docker0, podman's
 * default and user networks, libvirt's virbr0). Docker's user networks (172.18-31.x) are NOT
 * listed: 172.16.0.0/12 is also where real LANs and cloud VPCs live (AWS's default VPC is
 * 172.31.0.0/16), so rejecting it would break real clusters. A node whose `ip` names the
 * address itself is exempt (test clusters live on loopback).
 */
const REJECTED_RANGES: ReadonlyArray<{ net: string; prefix: number; family: 'ipv4' | 'ipv6'; reason: string }> = [
  { net: '0.0.0.0', prefix: 8, family: 'ipv4', reason: 'unspecified address (0.0.0.0/8)' },
  { net: '127.0.0.0', prefix: 8, family: 'ipv4', reason: 'loopback (127.0.0.0/8)' },
  { net: '169.254.0.0', prefix: 16, family: 'ipv4', reason: 'link-local (169.254.0.0/16)' },
  { net: '172.17.0.0', prefix: 16, family: 'ipv4', reason: "Docker's default bridge docker0 (172.17.0.0/16)" },
  { net: '10.88.0.0', prefix: 16, family: 'ipv4', reason: "Podman's default network (10.88.0.0/16)" },
  { net: '10.89.0.0', prefix: 16, family: 'ipv4', reason: 'Podman user-created networks (10.89.0.0/16)' },
  { net: '192.168.122.0', prefix: 24, family: 'ipv4', reason: "libvirt's default bridge virbr0 (192.168.122.0/24)" },
  { net: '::', prefix: 128, family: 'ipv6', reason: 'unspecified address (::)' },
  { net: '::1', prefix: 128, family: 'ipv6', reason: 'loopback (::1)' },
  { net: 'fe80::', prefix: 10, family: 'ipv6', reason: 'link-local (fe80::/10)' },
];

const rejectedLists = REJECTED_RANGES.map((r) => {
  const list = new BlockList();
  list.addSubnet(r.net, r.prefix, r.family);
  return { list, reason: r.reason };
});

/** Strips `[...]` from a configured IPv6 literal; the zone (`%eth0`) stays, it is needed to connect. */
const bareAddress = (address: string): string => address.trim().replace(/^\[(.*)\]$/, '$1');
const sameAddress = (a: string, b: string): boolean => bareAddress(a).toLowerCase() === bareAddress(b).toLowerCase();

/** Why a discovered address must not be used, or null when it may. IPv4-mapped IPv6 counts as IPv4. */
export function isDiscoveryRejected(address: string): string | null {
  const bare = bareAddress(address).replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return `not an IP address: ${JSON.stringify(address)}`;
  const hit = rejectedLists.find(({ list }) => list.check(bare, family === 4 ? 'ipv4' : 'ipv6'));
  return hit ? hit.reason : null;
}

async function lookupDnsDefault(host: string): Promise<string[]> {
  const results = await dnsPromises.lookup(host, { all: true });
  return results.map((r) => r.address);
}

/**
 * A lookup that asks the given servers directly (A and AAAA), as the original tool's
 * CLUSTER_DNS did; /etc/hosts and the system's resolver are not consulted.
 */
export function lookupWithServers(servers: string[], timeoutMs = 2000): (host: string) => Promise<string[]> {
  const resolver = new dnsPromises.Resolver({ timeout: timeoutMs, tries: 2 });
  resolver.setServers(servers);
  const quiet = (p: Promise<string[]>) =>
    p.catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENODATA' || err.code === 'ENOTFOUND') return [] as string[];
      throw err;
    });
  return async (host) => {
    const [v4, v6] = await Promise.allSettled([quiet(resolver.resolve4(host.replace(/\.$/, ''))), quiet(resolver.resolve6(host.replace(/\.$/, '')))]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length === 0 && v4.status === 'rejected') throw v4.reason;
    return found;
  };
}

/** The resolver the settings ask for: cache TTL (CLUSTER_IP_CACHE_TTL), DNS servers (CLUSTER_DNS). */
export function resolverFor(settings: Pick<Settings, 'ipCacheTtlS' | 'dnsServers'>): AddressResolver {
  return new AddressResolver({ ttlS: settings.ipCacheTtlS, ...(settings.dnsServers ? { dnsServers: settings.dnsServers } : {}) });
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

type Via = ResolvedAddress['via'];
interface Candidate {
  address: string;
  via: Via;
}

export class AddressResolver {
  private readonly ttlMs: number;
  /** How long an address that did not answer is passed over; at least 30 s even with ttl 0. */
  private readonly failedForMs: number;
  private readonly lookupDns: (host: string) => Promise<string[]>;
  private readonly lookupMdns: (host: string, timeoutMs: number) => Promise<string[]>;
  private readonly now: () => number;
  private readonly mdnsTimeoutMs: number;
  private readonly dnsTimeoutMs: number;
  /** How DNS answers are named in notes: says when CLUSTER_DNS asked. */
  private readonly dnsLabel: string;
  private readonly cache = new Map<string, { key: string; result: ResolvedAddress; expiresAt: number }>();
  /** nodeId → address that did not answer → until when it is passed over. */
  private readonly failed = new Map<string, Map<string, number>>();
  /** One lookup per node at a time: a burst of commands shares it. */
  private readonly inflight = new Map<string, Promise<ResolvedAddress>>();

  constructor(opts: AddressResolverOptions) {
    this.ttlMs = Math.max(0, opts.ttlS) * 1000;
    this.failedForMs = Math.max(this.ttlMs, 30_000);
    this.lookupDns = opts.lookupDns ?? (opts.dnsServers?.length ? lookupWithServers(opts.dnsServers) : lookupDnsDefault);
    this.dnsLabel = opts.dnsServers?.length ? `DNS (CLUSTER_DNS ${opts.dnsServers.join(',')})` : 'DNS';
    this.lookupMdns = opts.lookupMdns ?? ((host, timeoutMs) => lookupMdnsDefault(host, timeoutMs));
    this.now = opts.now ?? Date.now;
    this.mdnsTimeoutMs = opts.mdnsTimeoutMs ?? 1000;
    this.dnsTimeoutMs = opts.dnsTimeoutMs ?? 3000;
  }

  /** The address to reach `node` at; cached per node for ttlS. Throws when nothing is usable. */
  resolve(node: NodeAddress): Promise<ResolvedAddress> {
    const key = `${node.host ?? ''}|${node.ip ?? ''}`; // a config reload that changes these misses the cache
    const hit = this.cache.get(node.id);
    if (hit && hit.key === key && hit.expiresAt > this.now()) return Promise.resolve(hit.result);
    const flightKey = `${node.id}|${key}`;
    const pending = this.inflight.get(flightKey);
    if (pending) return pending;
    const work = this.resolveUncached(node)
      .then((result) => {
        if (this.ttlMs > 0) this.cache.set(node.id, { key, result, expiresAt: this.now() + this.ttlMs });
        return result;
      })
      .finally(() => this.inflight.delete(flightKey));
    this.inflight.set(flightKey, work);
    return work;
  }

  /**
   * The cached address did not answer: forget it and pass over that address for a while, so
   * the next resolve moves on to the next discovered address or the fallback ip.
   */
  invalidate(nodeId: string): void {
    const hit = this.cache.get(nodeId);
    this.cache.delete(nodeId);
    if (!hit) return;
    const marks = this.failed.get(nodeId) ?? new Map<string, number>();
    marks.set(hit.result.address, this.now() + this.failedForMs);
    this.failed.set(nodeId, marks);
  }

  private async resolveUncached(node: NodeAddress): Promise<ResolvedAddress> {
    const notes: string[] = [];
    const candidates: Candidate[] = [];
    const host = node.host?.trim() || undefined;
    const ip = node.ip?.trim() || undefined;
    if (host) {
      const bare = bareAddress(host);
      if (isIP(bare))
        candidates.push({ address: bare, via: 'literal' }); // configured: loopback is fine
      else candidates.push(...(await this.discover(host, ip, notes)));
    }
    if (!ip) notes.push('no fallback ip configured');
    else if (!isIP(bareAddress(ip))) notes.push(`fallback ip ${JSON.stringify(ip)} is not an IP address`);
    else if (!candidates.some((c) => sameAddress(c.address, ip))) candidates.push({ address: bareAddress(ip), via: 'fallback-ip' });

    if (candidates.length === 0) {
      const what = host ? `${host}: ${notes.join('; ')}` : 'no host or ip configured';
      throw new Error(`${node.id}: ${what}`);
    }
    const chosen = this.skipFailed(node.id, candidates, notes);
    const result: ResolvedAddress = { address: chosen.address, via: chosen.via, host: host ?? chosen.address };
    const detail = notes.filter((n) => n !== 'no fallback ip configured');
    if (detail.length > 0) result.detail = detail.join('; ');
    return result;
  }

  /** First candidate not recently marked as not answering; when all are, start over from the first. */
  private skipFailed(nodeId: string, candidates: Candidate[], notes: string[]): Candidate {
    const marks = this.failed.get(nodeId);
    if (!marks) return candidates[0]!;
    const now = this.now();
    for (const [address, until] of marks) if (until <= now) marks.delete(address);
    const fresh = candidates.find((c) => !marks.has(c.address));
    if (!fresh) {
      this.failed.delete(nodeId); // everything failed: retry in order rather than give up
      notes.push('every address failed recently, retrying from the first');
      return candidates[0]!;
    }
    for (const c of candidates) if (marks.has(c.address)) notes.push(`${c.address} did not answer recently`);
    return fresh;
  }

  /** `.local` names: mDNS, then DNS when mDNS gave nothing usable. Other names: DNS. */
  private async discover(host: string, ip: string | undefined, notes: string[]): Promise<Candidate[]> {
    if (/\.local\.?$/i.test(host)) {
      const found = await this.attempt('mDNS', notes, `no answer in ${this.mdnsTimeoutMs} ms`, () => this.lookupMdns(host, this.mdnsTimeoutMs));
      const usable = this.keepUsable(found, 'mdns', ip, notes);
      if (usable.length > 0) return usable;
    }
    const found = await this.attempt(this.dnsLabel, notes, 'no addresses', () => withTimeout(this.lookupDns(host), this.dnsTimeoutMs, 'lookup'));
    return this.keepUsable(found, 'dns', ip, notes);
  }

  private async attempt(label: string, notes: string[], emptyNote: string, lookup: () => Promise<string[]>): Promise<string[]> {
    try {
      const found = await lookup();
      if (found.length === 0) notes.push(`${label} ${emptyNote}`);
      return found;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      notes.push(`${label} ${e.code ?? e.message}`);
      return [];
    }
  }

  private keepUsable(found: string[], via: 'dns' | 'mdns', ip: string | undefined, notes: string[]): Candidate[] {
    const label = via === 'mdns' ? 'mDNS' : 'DNS';
    const usable: Candidate[] = [];
    for (const raw of found) {
      const address = bareAddress(raw);
      const reason = isDiscoveryRejected(address);
      if (reason && !(ip && sameAddress(ip, address))) notes.push(`${label} gave ${address}, rejected: ${reason}`);
      else if (!usable.some((c) => c.address === address)) usable.push({ address, via });
    }
    return usable;
  }
}
