// The payload codec's keys: AES-256 keys, the first one active (encrypts), the others accepted
// for decryption only (rotation). From CLUSTERFLOW_CODEC_KEY (base64, several separated by
// commas or newlines), CLUSTERFLOW_CODEC_KEY_FILE (one base64 key per line), or else
// <state dir>/codec.key, created on first use (mode 600). Several hosts sharing one Temporal
// must share the key: give them the same file or value.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../cluster/configSchema.js';
import type { ClusterflowEnv } from '../env.js';

export interface CodecKey {
  /** First 8 hex digits of the key's sha256: names the key in each payload's metadata. */
  id: string;
  key: Buffer;
}

export interface CodecKeys {
  active: CodecKey;
  all: CodecKey[];
  /** Where they came from, for messages. */
  source: string;
}

export const KEY_FILE = 'codec.key';

export function loadCodecKeys(stateDir: string, env: Pick<ClusterflowEnv, 'codecKey' | 'codecKeyFile'>): CodecKeys {
  if (env.codecKey) return parseKeys(env.codecKey, 'CLUSTERFLOW_CODEC_KEY');
  if (env.codecKeyFile) return readKeyFile(env.codecKeyFile, 'CLUSTERFLOW_CODEC_KEY_FILE');
  const file = path.join(stateDir, KEY_FILE);
  if (!existsSync(file)) createKeyFile(file);
  return readKeyFile(file, file);
}

/** A new random key, as a line for a key file (what `cluster-router key new` prints). */
export function newKeyLine(): string {
  return randomBytes(32).toString('base64');
}

function createKeyFile(file: string): void {
  try {
    // wx: two processes starting at once must not both write a key (the second one reads the first's).
    const fd = openSync(file, 'wx', 0o600);
    writeSync(fd, `${newKeyLine()}\n`);
    closeSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

function readKeyFile(file: string, source: string): CodecKeys {
  let text: string;
  try {
    const st = statSync(file);
    // Like ssh with a private key: a key others can read protects nothing.
    if ((st.mode & 0o077) !== 0) {
      if (st.uid === process.getuid?.()) chmodSync(file, 0o600);
      else throw new ConfigError(`${source}: the codec key file is readable by others (mode ${(st.mode & 0o777).toString(8)}); fix: chmod 600 ${file}`);
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `${source}: cannot read the codec key file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix: point it at a readable file with one base64 key per line`,
    );
  }
  return parseKeys(text, source);
}

function parseKeys(text: string, source: string): CodecKeys {
  const words = text
    .split(/[\s,]+/)
    .map((w) => w.trim())
    .filter((w) => w && !w.startsWith('#'));
  if (words.length === 0) throw new ConfigError(`${source}: no codec key found; fix: put a 32-byte key in base64 there (\`openssl rand -base64 32\`)`);
  const all = words.map((w, i) => {
    const key = Buffer.from(w, 'base64');
    if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== w.replace(/=+$/, '')) {
      throw new ConfigError(`${source}: key ${i + 1} is not 32 bytes of base64; fix: use \`openssl rand -base64 32\``);
    }
    return { id: createHash('sha256').update(key).digest('hex').slice(0, 8), key };
  });
  return { active: all[0]!, all, source };
}
