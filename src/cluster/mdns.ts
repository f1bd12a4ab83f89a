// One-shot mDNS lookup of a `.local` name (A + AAAA over IPv4 multicast) with multicast-dns.
// IPv6 multicast transport (ff02::fb) is not used: multicast-dns needs an explicit interface
// for it, and AAAA answers reach us over IPv4 just the same.
import makeMdns from 'multicast-dns';

export interface MdnsLookupOptions {
  /** Interface address to join the group on and send from (default: every IPv4 interface). */
  interface?: string;
  /** UDP port (default 5353); tests use another so they never meet a real responder. */
  port?: number;
  /** Address to bind; binding the group address (224.0.0.251) receives only mDNS traffic. */
  bind?: string;
}

const normalizeName = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/**
 * Asks for `host`'s A and AAAA records and resolves with the addresses of the first answer
 * (IPv4 first), or [] when nobody answers within `timeoutMs`. The query is sent again at half
 * time because mDNS runs over UDP and a single packet can be lost. Socket errors reject.
 */
export function lookupMdns(host: string, timeoutMs: number, opts: MdnsLookupOptions = {}): Promise<string[]> {
  const wanted = normalizeName(host);
  return new Promise((resolve, reject) => {
    const mdns = makeMdns({ interface: opts.interface, port: opts.port, bind: opts.bind });
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (err: Error | null, addresses: string[] = []): void => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      mdns.destroy();
      if (err) reject(err);
      else resolve(addresses);
    };
    const ask = (): void =>
      mdns.query(
        {
          questions: [
            { name: host, type: 'A' },
            { name: host, type: 'AAAA' },
          ],
        },
        (err) => {
          if (err) finish(err);
        },
      );

    mdns.on('warning', () => {}); // per-interface membership failures: other interfaces may still work
    mdns.on('error', (err) => finish(new Error(`mDNS socket: ${err.message}`)));
    mdns.on('response', (response) => {
      const records = [...(response.answers ?? []), ...(response.additionals ?? [])];
      const named = records.filter((r) => normalizeName(r.name) === wanted);
      const v4 = named.flatMap((r) => (r.type === 'A' ? [r.data] : []));
      const v6 = named.flatMap((r) => (r.type === 'AAAA' ? [r.data] : []));
      const addresses = [...new Set([...v4, ...v6])];
      if (addresses.length > 0) finish(null, addresses);
    });

    ask();
    timers.push(setTimeout(ask, timeoutMs / 2));
    timers.push(setTimeout(() => finish(null, []), timeoutMs));
  });
}
