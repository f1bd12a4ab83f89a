import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressResolver, isDiscoveryRejected, type AddressResolverOptions } from '../../src/cluster/resolve.js';

// Usable addresses come from the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
// 2001:db8::/32): they are only ever strings here, nothing is contacted.

const enotfound = (): Promise<never> => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }));

/** A resolver whose lookups answer from tables and count calls, on a hand-driven clock. */
function fakeResolver(answers: { dns?: Record<string, string[] | 'ENOTFOUND'>; mdns?: Record<string, string[]> }, opts: Partial<AddressResolverOptions> = {}) {
  const calls = { dns: [] as string[], mdns: [] as Array<[string, number]> };
  const clock = { ms: 1_000_000 };
  const resolver = new AddressResolver({
    ttlS: 300,
    now: () => clock.ms,
    lookupDns: async (host) => {
      calls.dns.push(host);
      const a = answers.dns?.[host] ?? 'ENOTFOUND';
      return a === 'ENOTFOUND' ? enotfound() : a;
    },
    lookupMdns: async (host, timeoutMs) => {
      calls.mdns.push([host, timeoutMs]);
      return answers.mdns?.[host] ?? [];
    },
    ...opts,
  });
  return { resolver, calls, clock };
}

test('isDiscoveryRejected names loopback, link-local and well-known bridge ranges', () => {
  const cases: Array<[string, RegExp | null]> = [
    ['127.0.0.1', /^loopback/],
    ['127.42.0.9', /^loopback/],
    ['::1', /^loopback/],
    ['::ffff:127.0.0.1', /^loopback/],
    ['169.254.10.20', /^link-local/],
    ['fe80::1', /^link-local/],
    ['fe80::1%eth0', /^link-local/],
    ['FEBF::1', /^link-local/],
    ['172.17.0.2', /docker0/],
    ['10.88.0.5', /Podman's default/],
    ['10.89.3.4', /Podman user/],
    ['192.168.122.10', /virbr0/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['builder1.local', /not an IP address/],
    ['', /not an IP address/],
    // allowed: ordinary LAN / VPC / documentation / global addresses
    ['192.0.2.10', null],
    ['2001:db8::7', null],
    ['172.31.5.5', null],
    ['172.16.0.1', null],
    ['172.18.0.2', null],
    ['10.0.0.21', null],
    ['fec0::1', null],
    ['128.0.0.1', null],
    ['169.253.1.1', null],
  ];
  for (const [address, expected] of cases) {
    const reason = isDiscoveryRejected(address);
    if (expected === null) assert.equal(reason, null, address);
    else assert.match(reason ?? '(null)', expected, address);
  }
});

test('order: IP literal, .local by mDNS then DNS, other names by DNS only', async () => {
  const { resolver, calls } = fakeResolver({
    mdns: { 'builder1.local': ['192.0.2.10'] },
    dns: { 'builder2.local': ['192.0.2.11'], 'build.example.org': ['198.51.100.7', '2001:db8::7'] },
  });
  const cases: Array<[{ id: string; host?: string; ip?: string }, object]> = [
    [
      { id: 'a', host: '127.0.0.1' },
      { address: '127.0.0.1', via: 'literal', host: '127.0.0.1' },
    ],
    [
      { id: 'b', host: '[::1]' },
      { address: '::1', via: 'literal', host: '[::1]' },
    ],
    [
      { id: 'c', host: 'builder1.local' },
      { address: '192.0.2.10', via: 'mdns', host: 'builder1.local' },
    ],
    [
      { id: 'd', host: 'builder2.local', ip: '198.51.100.2' },
      { address: '192.0.2.11', via: 'dns', host: 'builder2.local', detail: 'mDNS no answer in 1000 ms' },
    ],
    [
      { id: 'e', host: 'build.example.org' },
      { address: '198.51.100.7', via: 'dns', host: 'build.example.org' },
    ],
    [
      { id: 'f', ip: '192.0.2.50' },
      { address: '192.0.2.50', via: 'fallback-ip', host: '192.0.2.50' },
    ],
  ];
  for (const [node, expected] of cases) assert.deepEqual(await resolver.resolve(node), expected, node.id);
  assert.deepEqual(
    calls.mdns,
    [
      ['builder1.local', 1000],
      ['builder2.local', 1000],
    ],
    'mDNS only for .local, default 1 s',
  );
  assert.deepEqual(calls.dns, ['builder2.local', 'build.example.org'], 'DNS only when mDNS found nothing');
});

test('discovered loopback / bridge addresses are skipped unless the node ip names them', async () => {
  const { resolver } = fakeResolver({
    mdns: { 'lo.local': ['127.0.0.1'], 'mixed.local': ['172.17.0.1', '192.0.2.5'] },
    dns: { 'lo-dns.example': ['127.0.0.1'] },
  });
  assert.deepEqual(await resolver.resolve({ id: 'n1', host: 'mixed.local' }), {
    address: '192.0.2.5',
    via: 'mdns',
    host: 'mixed.local',
    detail: "mDNS gave 172.17.0.1, rejected: Docker's default bridge docker0 (172.17.0.0/16)",
  });
  assert.deepEqual(await resolver.resolve({ id: 'n2', host: 'lo.local', ip: '127.0.0.1' }), { address: '127.0.0.1', via: 'mdns', host: 'lo.local' });
  await assert.rejects(resolver.resolve({ id: 'n3', host: 'lo.local' }), {
    message: 'n3: lo.local: mDNS gave 127.0.0.1, rejected: loopback (127.0.0.0/8); DNS ENOTFOUND; no fallback ip configured',
  });
  // rejected by discovery, but a different fallback ip is configured: use it and say why
  assert.deepEqual(await resolver.resolve({ id: 'n4', host: 'lo-dns.example', ip: '192.0.2.9' }), {
    address: '192.0.2.9',
    via: 'fallback-ip',
    host: 'lo-dns.example',
    detail: 'DNS gave 127.0.0.1, rejected: loopback (127.0.0.0/8)',
  });
});

test('nothing usable: fallback ip, else an error saying what was tried', async () => {
  const { resolver } = fakeResolver({});
  assert.deepEqual(await resolver.resolve({ id: 'n1', host: 'builder1.local', ip: '192.0.2.21' }), {
    address: '192.0.2.21',
    via: 'fallback-ip',
    host: 'builder1.local',
    detail: 'mDNS no answer in 1000 ms; DNS ENOTFOUND',
  });
  const failures: Array<[{ id: string; host?: string; ip?: string }, string]> = [
    [{ id: 'n1', host: 'builder1.local' }, 'n1: builder1.local: mDNS no answer in 1000 ms; DNS ENOTFOUND; no fallback ip configured'],
    [{ id: 'n2', host: 'gone.example.org' }, 'n2: gone.example.org: DNS ENOTFOUND; no fallback ip configured'],
    [{ id: 'n3', host: 'gone.example.org', ip: 'builder' }, 'n3: gone.example.org: DNS ENOTFOUND; fallback ip "builder" is not an IP address'],
    [{ id: 'n4' }, 'n4: no host or ip configured'],
  ];
  for (const [node, message] of failures) await assert.rejects(resolver.resolve(node), { message }, node.id);
});

test('lookup errors and hangs become notes, not crashes', async () => {
  const { resolver } = fakeResolver(
    {},
    {
      mdnsTimeoutMs: 250,
      dnsTimeoutMs: 50,
      lookupMdns: () => Promise.reject(new Error('mDNS socket: bind EADDRINUSE')),
      lookupDns: () => new Promise(() => {}),
    },
  );
  await assert.rejects(resolver.resolve({ id: 'n1', host: 'x.local' }), {
    message: 'n1: x.local: mDNS mDNS socket: bind EADDRINUSE; DNS lookup timed out after 50 ms; no fallback ip configured',
  });
  const { resolver: r2 } = fakeResolver({ dns: { 'empty.example': [] } });
  await assert.rejects(r2.resolve({ id: 'n2', host: 'empty.example' }), /DNS no addresses/);
});

test('results are cached for ttlS per node; failures and config changes are not served from cache', async () => {
  const answers: { dns: Record<string, string[] | 'ENOTFOUND'> } = { dns: {} };
  const { resolver, calls, clock } = fakeResolver(answers, { ttlS: 60 });
  const node = { id: 'n1', host: 'flaky.example' };
  await assert.rejects(resolver.resolve(node), /DNS ENOTFOUND/);
  answers.dns['flaky.example'] = ['192.0.2.1'];
  assert.equal((await resolver.resolve(node)).address, '192.0.2.1', 'failure was not cached');
  answers.dns['flaky.example'] = ['192.0.2.2'];
  clock.ms += 59_000;
  assert.equal((await resolver.resolve(node)).address, '192.0.2.1', 'still cached');
  assert.equal(calls.dns.length, 2);
  clock.ms += 2_000;
  assert.equal((await resolver.resolve(node)).address, '192.0.2.2', 'expired after ttl');
  answers.dns['moved.example'] = ['192.0.2.3'];
  assert.equal((await resolver.resolve({ id: 'n1', host: 'moved.example' })).address, '192.0.2.3', 'new host, new lookup');

  const { resolver: noCache, calls: c0 } = fakeResolver({ dns: { 'a.example': ['192.0.2.1'] } }, { ttlS: 0 });
  await noCache.resolve({ id: 'n1', host: 'a.example' });
  await noCache.resolve({ id: 'n1', host: 'a.example' });
  assert.equal(c0.dns.length, 2, 'ttl 0 disables the cache');
});

test('concurrent resolves of one node share one lookup', async () => {
  const { resolver, calls } = fakeResolver({ mdns: { 'b.local': ['192.0.2.8'] } });
  const results = await Promise.all(Array.from({ length: 20 }, () => resolver.resolve({ id: 'n1', host: 'b.local' })));
  assert.equal(calls.mdns.length, 1);
  assert.ok(results.every((r) => r.address === '192.0.2.8'));
});

test('invalidate: the next resolve moves on to the next address, then the fallback ip, then starts over', async () => {
  const { resolver, calls, clock } = fakeResolver({ dns: { 'multi.example': ['192.0.2.1', '192.0.2.2'] } }, { ttlS: 300 });
  const node = { id: 'n1', host: 'multi.example', ip: '198.51.100.1' };
  const next = async () => {
    const r = await resolver.resolve(node);
    resolver.invalidate(node.id); // the caller found it did not answer
    return [r.address, r.via, r.detail ?? ''];
  };
  assert.deepEqual(await next(), ['192.0.2.1', 'dns', '']);
  assert.deepEqual(await next(), ['192.0.2.2', 'dns', '192.0.2.1 did not answer recently']);
  assert.deepEqual(await next(), ['198.51.100.1', 'fallback-ip', '192.0.2.1 did not answer recently; 192.0.2.2 did not answer recently']);
  assert.deepEqual(await next(), ['192.0.2.1', 'dns', 'every address failed recently, retrying from the first']);
  assert.deepEqual(await next(), ['192.0.2.2', 'dns', '192.0.2.1 did not answer recently'], 'a fresh round');
  assert.equal(calls.dns.length, 5, 'each invalidate re-resolves');

  // Marks expire: once the address has been passed over for the ttl, it is preferred again.
  const literal = { id: 'n2', host: '127.0.0.1', ip: '127.0.0.2' };
  assert.equal((await resolver.resolve(literal)).via, 'literal');
  resolver.invalidate('n2');
  assert.deepEqual(await resolver.resolve(literal), {
    address: '127.0.0.2',
    via: 'fallback-ip',
    host: '127.0.0.1',
    detail: '127.0.0.1 did not answer recently',
  });
  clock.ms += 301_000;
  assert.equal((await resolver.resolve(literal)).address, '127.0.0.1');
  resolver.invalidate('unknown-node'); // harmless
});

test('real DNS: localhost is loopback, rejected as discovered unless the node ip names it', async () => {
  const resolver = new AddressResolver({ ttlS: 0 });
  await assert.rejects(
    resolver.resolve({ id: 'n1', host: 'localhost' }),
    /^Error: n1: localhost: DNS gave (127\.0\.0\.1|::1), rejected: loopback .*no fallback ip configured$/,
  );
  assert.deepEqual(await resolver.resolve({ id: 'n1', host: 'localhost', ip: '127.0.0.1' }), { address: '127.0.0.1', via: 'dns', host: 'localhost' });
});
