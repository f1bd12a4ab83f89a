// Host key checking in OpenSSH known_hosts format. ssh2 checks nothing unless given a
// hostVerifier, so every connection goes through KnownHosts.verify. Everything is
// synchronous on purpose: ssh2 calls the verifier synchronously, and a synchronous
// check-then-append cannot race with another verify in the same process.

import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SshError } from './errors.js';

export type HostKeyPolicyName = 'accept-new' | 'strict';

interface Entry {
  file: string;
  line: number; // 1-based
  marker?: string; // 'revoked', 'cert-authority', ... (without '@')
  patterns: string[];
  keyType: string;
  key: Buffer;
}

interface CachedFile {
  stamp: string; // mtime + size + inode: re-read when it changes
  entries: Entry[];
}

export type VerifyResult = { ok: true; added?: boolean } | { ok: false; error: SshError };

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The key type named inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  return len > 0 && len < 64 && 4 + len <= key.length ? key.subarray(4, 4 + len).toString('latin1') : 'unknown';
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  if (/[*?]/.test(pattern)) return globToRegExp(pattern).test(name);
  return pattern.toLowerCase() === name;
}

/** OpenSSH semantics: a line matches when some pattern matches and no negated one does. */
function entryMatches(entry: Entry, name: string): boolean {
  let hit = false;
  for (const p of entry.patterns) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), name)) return false;
    } else if (patternMatches(p, name)) hit = true;
  }
  return hit;
}

function parseLine(text: string, file: string, line: number): Entry | undefined {
  const tokens = text.trim().split(/\s+/);
  if (tokens[0] === '' || tokens[0]!.startsWith('#')) return undefined;
  const marker = tokens[0]!.startsWith('@') ? tokens.shift()!.slice(1) : undefined;
  const [hosts, keyType, b64] = tokens;
  if (!hosts || !keyType || !b64) return undefined;
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0) return undefined;
  return { file, line, marker, patterns: hosts.split(','), keyType, key };
}

/** Split a plain pattern into host and port (`[h]:p` → h, p; `h` → h, 22). */
function splitHostPattern(pattern: string): { host: string; port: number } {
  const m = /^\[(.*)\]:(\d+)$/.exec(pattern);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: pattern, port: 22 };
}

function parseFile(file: string, content: string): Entry[] {
  const entries: Entry[] = [];
  content.split('\n').forEach((text, i) => {
    const e = parseLine(text, file, i + 1);
    if (e) entries.push(e);
  });
  return entries;
}

export class KnownHosts {
  private readonly cache = new Map<string, CachedFile>();
  private readonly files: string[];

  constructor(private readonly opts: { files: string[]; writeFile: string; policy: HostKeyPolicyName }) {
    // The file accept-new writes to is always read too, or we would record a key twice.
    this.files = [...new Set([...opts.files, opts.writeFile])];
  }

  private entries(): Entry[] {
    const all: Entry[] = [];
    for (const file of this.files) {
      let stamp = 'absent';
      try {
        const st = statSync(file);
        stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      } catch {
        // a missing file holds no keys
      }
      let cached = this.cache.get(file);
      if (!cached || cached.stamp !== stamp) {
        cached = { stamp, entries: stamp === 'absent' ? [] : parseFile(file, readFileSync(file, 'utf8')) };
        this.cache.set(file, cached);
      }
      all.push(...cached.entries);
    }
    return all;
  }

  /**
   * Check the key a server offered. `host` may list several names for the same server (its
   * address first, then the configured name): an entry under any of them counts, as with
   * OpenSSH's CheckHostIP. accept-new records the key under all of them.
   */
  verify(host: string | readonly string[], port: number, key: Buffer, nodeId?: string): VerifyResult {
    const hosts = typeof host === 'string' ? [host] : [...new Set(host)];
    const names = hosts.map((h) => knownHostsName(h, port));
    const name = names[0]!;
    const who = nodeId ? `${name} (node ${nodeId})` : name;
    const got = fingerprint(key);
    const matching = this.entries().filter((e) => names.some((n) => entryMatches(e, n)));
    const fail = (message: string): VerifyResult => ({
      ok: false,
      error: new SshError(message, 'host-key', false, nodeId ?? hosts[0]!),
    });

    const revoked = matching.find((e) => e.marker === 'revoked' && e.key.equals(key));
    if (revoked) return fail(`host key for ${who} is revoked (${got}, known_hosts line ${revoked.line} in ${revoked.file}); refusing to connect.`);
    // Certificate authorities are not supported: such lines neither allow nor refuse a key.
    const plain = matching.filter((e) => e.marker === undefined);
    if (plain.some((e) => e.key.equals(key))) return { ok: true };

    if (plain.length > 0) {
      // Prefer the entry of the same key type: that is the key the server replaced.
      const type = keyTypeOf(key);
      const expected = plain.find((e) => e.keyType === type) ?? plain[0]!;
      const forget = `cluster-router hosts forget ${nodeId ?? hosts[0]}`;
      return fail(
        `host key for ${who} changed: expected ${fingerprint(expected.key)} (known_hosts line ${expected.line} in ${expected.file}), got ${got}. ` +
          `If the node was reinstalled, run \`${forget}\` then retry.`,
      );
    }
    if (this.opts.policy === 'strict') {
      const trust = nodeId ? `\`cluster-router hosts trust ${nodeId}\`` : `a line "${name} ${keyTypeOf(key)} <key>"`;
      return fail(
        `host key for ${who} is not known and the host key policy is strict: the server offered ${got} (${keyTypeOf(key)}). ` +
          `Check that fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add it with ${trust} in ${this.opts.writeFile}, or set CLUSTER_HOST_KEY_POLICY=accept-new.`,
      );
    }
    this.trust(hosts, port, key);
    return { ok: true, added: true };
  }

  /** Key types known for a host, so the client can offer those host key algorithms first. */
  knownKeyTypes(host: string | readonly string[], port: number): string[] {
    const names = (typeof host === 'string' ? [host] : host).map((h) => knownHostsName(h, port));
    const types = this.entries()
      .filter((e) => e.marker === undefined && names.some((n) => entryMatches(e, n)))
      .map((e) => e.keyType);
    return [...new Set(types)];
  }

  /** Every key in every file; hashed names are shown as stored, with port 0 (unknown). */
  list(): Array<{ host: string; port: number; keyType: string; fingerprint: string; file: string }> {
    const rows: Array<{ host: string; port: number; keyType: string; fingerprint: string; file: string }> = [];
    for (const e of this.entries()) {
      if (e.marker !== undefined) continue;
      for (const p of e.patterns) {
        if (p.startsWith('!')) continue;
        const { host, port } = p.startsWith('|') ? { host: p, port: 0 } : splitHostPattern(p);
        rows.push({ host, port, keyType: e.keyType, fingerprint: fingerprint(e.key), file: e.file });
      }
    }
    return rows;
  }

  /** Record `key` for host:port (one name or several) in writeFile (dirs created, mode 600). */
  trust(host: string | readonly string[], port: number, key: Buffer): void {
    const file = this.opts.writeFile;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const names = (typeof host === 'string' ? [host] : [...new Set(host)]).map((h) => knownHostsName(h, port));
    const line = `${names.join(',')} ${keyTypeOf(key)} ${key.toString('base64')}\n`;
    appendFileSync(file, line, { mode: 0o600 });
    chmodSync(file, 0o600);
  }

  /**
   * Remove the lines naming host (on `port`, or on any port when omitted) from every file
   * we read, keeping a `.old` copy like `ssh-keygen -R`. Hashed lines can only be checked
   * against a known port, so without one they are checked for port 22. Marker lines
   * (@revoked, @cert-authority) are deliberate and left alone. Returns the lines removed.
   */
  forget(host: string, port?: number): number {
    const h = host.toLowerCase();
    const names = port === undefined ? [h] : [knownHostsName(h, port)];
    const removes = (e: Entry): boolean =>
      e.marker === undefined &&
      e.patterns.some((p) => {
        if (p.startsWith('!')) return false;
        if (p.startsWith('|')) return names.some((n) => patternMatches(p, n));
        if (/[*?]/.test(p)) return false;
        const parsed = splitHostPattern(p.toLowerCase());
        return parsed.host === h && (port === undefined || parsed.port === port);
      });
    let removed = 0;
    for (const file of this.files) {
      let content: string;
      try {
        content = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const lines = content.split('\n');
      const kept = lines.filter((text, i) => {
        const e = parseLine(text, file, i + 1);
        return !(e && removes(e));
      });
      if (kept.length === lines.length) continue;
      removed += lines.length - kept.length;
      copyFileSync(file, `${file}.old`);
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, kept.join('\n'), { mode: statSync(file).mode & 0o777 });
      renameSync(tmp, file);
      this.cache.delete(file);
    }
    return removed;
  }
}
