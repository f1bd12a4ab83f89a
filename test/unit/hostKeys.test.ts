import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fingerprint, KnownHosts, keyTypeOf } from '../../src/ssh/hostKeys.js';

const dir = mkdtempSync(join(tmpdir(), 'cf-hostkeys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (content: string) => {
  const path = join(dir, `kh-${++n}`);
  writeFileSync(path, content);
  return path;
};

/** A key blob as ssh2 hands it to hostVerifier: string type, then key material. */
function blob(type = 'ssh-ed25519'): Buffer {
  const t = Buffer.from(type);
  const k = randomBytes(32);
  const len = (x: number) => Buffer.from([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]);
  return Buffer.concat([len(t.length), t, len(k.length), k]);
}
const line = (hosts: string, key: Buffer) => `${hosts} ${keyTypeOf(key)} ${key.toString('base64')}`;
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

describe('KnownHosts.verify', () => {
  const key = blob();
  const other = blob();
  const cases: Array<{ name: string; lines: string; host: string; port: number; ok: boolean }> = [
    { name: 'plain host, port 22', lines: line('127.0.1.2', key), host: '127.0.1.2', port: 22, ok: true },
    { name: 'bracketed host:port', lines: line('[127.0.1.2]:2201', key), host: '127.0.1.2', port: 2201, ok: true },
    { name: 'port must match', lines: line('[127.0.1.2]:2201', key), host: '127.0.1.2', port: 2202, ok: false },
    { name: 'plain entry is port 22 only', lines: line('127.0.1.2', key), host: '127.0.1.2', port: 2201, ok: false },
    { name: 'comma-separated host list', lines: line('n1.local,[127.0.1.2]:2201,other', key), host: '127.0.1.2', port: 2201, ok: true },
    { name: 'hashed entry', lines: line(hashed('[127.0.1.2]:2201'), key), host: '127.0.1.2', port: 2201, ok: true },
    { name: 'hashed entry, other host', lines: line(hashed('[127.0.1.3]:2201'), key), host: '127.0.1.2', port: 2201, ok: false },
    { name: 'wildcard', lines: line('[127.0.1.*]:2201', key), host: '127.0.1.9', port: 2201, ok: true },
    { name: 'negated pattern wins', lines: line('[127.0.1.*]:2201,![127.0.1.9]:2201', key), host: '127.0.1.9', port: 2201, ok: false },
    { name: 'host names are case-insensitive', lines: line('Builder1.Local', key), host: 'builder1.local', port: 22, ok: true },
    {
      name: 'comments, blanks and cert-authority lines ignored',
      lines: `# c\n\n@cert-authority * ${keyTypeOf(other)} ${other.toString('base64')}\n${line('h', key)}`,
      host: 'h',
      port: 22,
      ok: true,
    },
    { name: 'second key of a host matches', lines: `${line('h', other)}\n${line('h', key)}`, host: 'h', port: 22, ok: true },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const kh = new KnownHosts({ files: [file(c.lines)], writeFile: join(dir, `w-${++n}`), policy: 'strict' });
      assert.equal(kh.verify(c.host, c.port, key).ok, c.ok);
    });
  }

  test('a changed key is refused, naming both fingerprints, the line and the fix', () => {
    const path = file(`# header\n${line('[127.0.1.9]:2222', other)}\n${line('[127.0.1.2]:2201', other)}\n`);
    for (const policy of ['strict', 'accept-new'] as const) {
      const kh = new KnownHosts({ files: [path], writeFile: join(dir, `w-${++n}`), policy });
      const r = kh.verify('127.0.1.2', 2201, key, 'n1');
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.kind, 'host-key');
      assert.equal(r.error.retryable, false);
      assert.equal(
        r.error.message,
        `host key for [127.0.1.2]:2201 (node n1) changed: expected ${fingerprint(other)} (known_hosts line 3 in ${path}), got ${fingerprint(key)}. ` +
          'If the node was reinstalled, run `cluster-router hosts forget n1` then retry.',
      );
    }
  });

  test('a revoked key is refused even when also listed as known', () => {
    const kh = new KnownHosts({
      files: [file(`@revoked * ${keyTypeOf(key)} ${key.toString('base64')}\n${line('h', key)}`)],
      writeFile: join(dir, `w-${++n}`),
      policy: 'accept-new',
    });
    const r = kh.verify('h', 22, key);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error.message, /revoked/);
  });

  test('strict refuses an unknown host with its fingerprint and how to trust it', () => {
    const write = join(dir, `w-${++n}`);
    const kh = new KnownHosts({ files: [], writeFile: write, policy: 'strict' });
    const r = kh.verify('127.0.1.2', 2201, key, 'n1');
    assert.equal(r.ok, false);
    const msg = r.ok ? '' : r.error.message;
    assert.ok(msg.includes(fingerprint(key)), msg);
    assert.match(msg, /not known.*strict.*cluster-router hosts trust n1/s);
    assert.throws(() => readFileSync(write)); // nothing recorded
  });

  test('accept-new records the first key once (dirs created, mode 600), then holds it', () => {
    const write = join(dir, `state-${++n}`, 'sub', 'known_hosts');
    const kh = new KnownHosts({ files: [], writeFile: write, policy: 'accept-new' });
    const results = [kh.verify('127.0.1.2', 2201, key), kh.verify('127.0.1.2', 2201, key)];
    assert.deepEqual(results, [{ ok: true, added: true }, { ok: true }]);
    assert.equal(readFileSync(write, 'utf8'), `${line('[127.0.1.2]:2201', key)}\n`);
    assert.equal(statSync(write).mode & 0o777, 0o600);
    assert.equal(kh.verify('127.0.1.2', 2201, other).ok, false);
    // A second instance (another process's view) reads the recorded key from the file.
    const again = new KnownHosts({ files: [], writeFile: write, policy: 'strict' });
    assert.deepEqual(again.verify('127.0.1.2', 2201, key), { ok: true });
  });

  test('an entry under the configured name vouches for the resolved address too', () => {
    const byName = file(line('builder1.local', key));
    const kh = new KnownHosts({ files: [byName], writeFile: join(dir, `w-${++n}`), policy: 'strict' });
    assert.deepEqual(kh.verify(['127.0.1.7', 'builder1.local'], 22, key), { ok: true });
    assert.equal(kh.verify(['127.0.1.7', 'builder1.local'], 22, other).ok, false);
    assert.equal(kh.verify('127.0.1.7', 22, key).ok, false); // the address alone is unknown
    const write = join(dir, `w-${++n}`);
    const fresh = new KnownHosts({ files: [], writeFile: write, policy: 'accept-new' });
    assert.deepEqual(fresh.verify(['127.0.1.7', 'builder1.local'], 2201, key), { ok: true, added: true });
    assert.equal(readFileSync(write, 'utf8'), `${line('[127.0.1.7]:2201,[builder1.local]:2201', key)}\n`);
  });

  test('re-reads a file that changed on disk', () => {
    const path = file(line('h', other));
    const kh = new KnownHosts({ files: [path], writeFile: join(dir, `w-${++n}`), policy: 'strict' });
    assert.equal(kh.verify('h', 22, key).ok, false);
    writeFileSync(path, `${line('h', key)}\n# now a longer file\n`);
    assert.equal(kh.verify('h', 22, key).ok, true);
  });
});

describe('KnownHosts list / trust / forget', () => {
  test('fingerprints match ssh-keygen -l for a real key', () => {
    const keyPath = join(dir, 'real_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath]);
    const pub = readFileSync(`${keyPath}.pub`, 'utf8').split(' ');
    const expected = execFileSync('ssh-keygen', ['-l', '-f', `${keyPath}.pub`], { encoding: 'utf8' }).split(' ')[1];
    const realKey = Buffer.from(pub[1]!, 'base64');
    assert.equal(fingerprint(realKey), expected);
    const kh = new KnownHosts({ files: [file(`[127.0.1.2]:2201 ${pub[0]} ${pub[1]}\n`)], writeFile: join(dir, `w-${++n}`), policy: 'strict' });
    assert.deepEqual(
      kh.list().map((r) => [r.host, r.port, r.keyType, r.fingerprint]),
      [['127.0.1.2', 2201, 'ssh-ed25519', expected]],
    );
  });

  test('trust then forget, per port and for all ports, hashed lines included', () => {
    const a = blob();
    const b = blob('ecdsa-sha2-nistp256');
    const user = file(
      [line('[127.0.1.2]:2201', a), line(hashed('127.0.1.2'), a), line('keep.me', a), `@revoked [127.0.1.2]:2201 ${keyTypeOf(b)} ${b.toString('base64')}`].join(
        '\n',
      ) + '\n',
    );
    const write = join(dir, `w-${++n}`);
    const kh = new KnownHosts({ files: [user], writeFile: write, policy: 'strict' });
    kh.trust('127.0.1.2', 2202, b);
    assert.deepEqual(kh.verify('127.0.1.2', 2202, b), { ok: true });
    assert.deepEqual(kh.knownKeyTypes('127.0.1.2', 2202), ['ecdsa-sha2-nistp256']);
    assert.equal(kh.list().length, 4);

    assert.equal(kh.forget('127.0.1.2', 2201), 1);
    assert.equal(kh.verify('127.0.1.2', 2201, a).ok, false);
    assert.equal(kh.verify('127.0.1.2', 22, a).ok, true);
    assert.equal(kh.forget('127.0.1.2'), 2); // the hashed port-22 line and the trusted 2202 line
    assert.equal(kh.verify('127.0.1.2', 22, a).ok, false);
    assert.equal(kh.verify('keep.me', 22, a).ok, true);
    assert.match(readFileSync(user, 'utf8'), /^@revoked/m); // revocations stay
    assert.ok(readFileSync(`${user}.old`, 'utf8').includes('[127.0.1.2]:2201'));
    assert.equal(kh.forget('nobody'), 0);
  });
});
