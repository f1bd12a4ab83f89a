// Real mDNS over the loopback interface: a multicast-dns responder and our lookup, both joined
// to 224.0.0.251 on 127.0.0.1 with IP_MULTICAST_IF = 127.0.0.1, so packets never leave `lo`.
// This works on Linux even though `lo` lacks the MULTICAST flag (checked: no flag change is
// made, eth0 TX counters unchanged). A random port keeps real responders (avahi) out of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import makeMdns from 'multicast-dns';
import { lookupMdns } from '../../src/cluster/mdns.js';
import { AddressResolver } from '../../src/cluster/resolve.js';

const LOOPBACK = { interface: '127.0.0.1', bind: '224.0.0.251' } as const;
const name = `testnode-${randomBytes(4).toString('hex')}.local`;
let port = 0;
let responder: makeMdns.MulticastDNS;
let queriesSeen = 0;
let ignoreFirstQuery = false;

function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  return new Promise((resolve) =>
    socket.bind(0, '127.0.0.1', () => {
      const { port: p } = socket.address();
      socket.close(() => resolve(p));
    }),
  );
}

before(async () => {
  port = await freeUdpPort();
  responder = makeMdns({ ...LOOPBACK, port });
  await new Promise<void>((resolve, reject) => {
    responder.once('ready', resolve);
    responder.once('error', reject);
  });
  responder.on('query', (query) => {
    if (!query.questions.some((q) => q.name.toLowerCase() === name)) return;
    queriesSeen += 1;
    if (ignoreFirstQuery && queriesSeen === 1) return; // simulates a lost packet
    responder.respond({
      answers: [{ name, type: 'A', ttl: 120, data: '127.0.0.1' }],
      additionals: [{ name, type: 'AAAA', ttl: 120, data: '::1' }],
    });
  });
});

after(() => new Promise<void>((resolve) => responder.destroy(resolve)));

const lookup = (host: string, timeoutMs: number) => lookupMdns(host, timeoutMs, { ...LOOPBACK, port });

test('lookupMdns gets A and AAAA answers from a real responder on loopback', async () => {
  queriesSeen = 0;
  const started = performance.now();
  assert.deepEqual(await lookup(name, 1000), ['127.0.0.1', '::1']);
  assert.ok(performance.now() - started < 500, 'answered well before the timeout');
  assert.deepEqual(await lookup(name.toUpperCase(), 1000), ['127.0.0.1', '::1'], 'names are case-insensitive');
});

test('lookupMdns asks again when the first query goes unanswered', async () => {
  queriesSeen = 0;
  ignoreFirstQuery = true;
  try {
    assert.deepEqual(await lookup(name, 600), ['127.0.0.1', '::1']);
    assert.equal(queriesSeen, 2);
  } finally {
    ignoreFirstQuery = false;
  }
});

test('lookupMdns gives [] for a name nobody answers, after the timeout', async () => {
  const started = performance.now();
  assert.deepEqual(await lookup(`nobody-${randomBytes(4).toString('hex')}.local`, 300), []);
  assert.ok(performance.now() - started >= 290);
});

test('AddressResolver over real mDNS: discovered loopback is rejected unless the node ip names it', async () => {
  // DNS is faked: a real getaddrinfo for a .local name could reach the configured nameserver.
  const resolver = new AddressResolver({
    ttlS: 0,
    mdnsTimeoutMs: 500,
    lookupMdns: lookup,
    lookupDns: async () => {
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    },
  });
  await assert.rejects(resolver.resolve({ id: 'n1', host: name }), {
    message:
      `n1: ${name}: mDNS gave 127.0.0.1, rejected: loopback (127.0.0.0/8); ` +
      'mDNS gave ::1, rejected: loopback (::1); DNS ENOTFOUND; no fallback ip configured',
  });
  assert.deepEqual(await resolver.resolve({ id: 'n1', host: name, ip: '127.0.0.1' }), {
    address: '127.0.0.1',
    via: 'mdns',
    host: name,
    detail: 'mDNS gave ::1, rejected: loopback (::1)',
  });
});
