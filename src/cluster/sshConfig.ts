// ~/.ssh/config lookups for cluster nodes, so a node reachable as `ssh builder1` from a shell
// is reachable the same way here (ssh2 does not read ssh_config itself).
import { readFileSync } from 'node:fs';
import SSHConfig from 'ssh-config';
import { ConfigError } from './configSchema.js';

/** What an ssh_config lookup contributes to a node. */
export interface SshHostSettings {
  hostName?: string;
  port?: number;
  user?: string;
  identityFile?: string;
}

/**
 * Values from `Host` entries naming this host (`specific`) are kept apart from those that
 * apply to every host (`Host *`, top-level lines, `Match` blocks: `generic`): a catch-all
 * `User` in ~/.ssh/config must not beat the `defaults.user` written in cluster.yaml, while
 * an entry written for this very host should.
 */
export interface SshLookup {
  /** A Host entry other than `*` matched the alias. */
  matched: boolean;
  specific: SshHostSettings;
  generic: SshHostSettings;
}

export interface SshConfigFile {
  path: string;
  specific: SSHConfig;
  generic: SSHConfig;
}

const isCatchAllHost = (line: SSHConfig[number]): boolean => {
  if (!('param' in line) || !/^host$/i.test(line.param)) return false;
  const patterns = Array.isArray(line.value) ? line.value.map((v) => v.val) : line.value.split(/\s+/);
  return patterns.every((p) => p === '*');
};

/** Parse an ssh_config file; a missing file is no config (undefined). Include is not followed. */
export function readSshConfig(path: string): SshConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${path}: cannot read ssh config (${(err as Error).message}); fix: make it readable or point to another file`);
  }
  return parseSshConfig(text, path);
}

function dropCanonicalize(cfg: SSHConfig): void {
  for (let i = cfg.length - 1; i >= 0; i--) {
    const line = cfg[i]!;
    if ('config' in line) dropCanonicalize(line.config);
    else if ('param' in line && /^CanonicalizeHostName$/i.test(line.param)) cfg.splice(i, 1);
  }
}

export function parseSshConfig(text: string, path: string): SshConfigFile {
  let generic: SSHConfig;
  let specific: SSHConfig;
  try {
    generic = SSHConfig.parse(text);
    specific = SSHConfig.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: cannot parse ssh config (${(err as Error).message}); fix: correct that line`);
  }
  // CanonicalizeHostName makes compute() spawn nslookup: config loading stays free of I/O.
  for (const cfg of [generic, specific]) dropCanonicalize(cfg);
  // Keep only Host sections that name particular hosts; everything else is generic.
  for (let i = specific.length - 1; i >= 0; i--) {
    const line = specific[i]!;
    const isHost = 'param' in line && /^host$/i.test(line.param);
    if (!isHost || isCatchAllHost(line)) specific.splice(i, 1);
  }
  return { path, specific, generic };
}

/** Expand ssh_config tokens we can know without connecting: ~, %d (home), %h (host), %u (local user), %%. */
export function expandSshTokens(s: string, ctx: { home: string; host: string; localUser: string }): string {
  const tilde = s === '~' ? ctx.home : s.startsWith('~/') ? `${ctx.home}${s.slice(1)}` : s;
  return tilde.replace(/%([dhu%])/g, (_, t: string) => (t === 'd' ? ctx.home : t === 'h' ? ctx.host : t === 'u' ? ctx.localUser : '%'));
}

function settingsFrom(computed: Record<string, string | string[]>, file: string, ctx: { home: string; host: string; localUser: string }): SshHostSettings {
  const first = (k: string): string | undefined => {
    const v = computed[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const out: SshHostSettings = {};
  const hostName = first('hostname');
  if (hostName) out.hostName = expandSshTokens(hostName, ctx);
  const port = first('port');
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new ConfigError(`${file}: Host ${ctx.host}: Port expected an integer 1-65535, got ${JSON.stringify(port)}; fix: correct the Port line`);
    }
    out.port = n;
  }
  const user = first('user');
  if (user) out.user = user;
  const identity = first('identityfile');
  if (identity && identity.toLowerCase() !== 'none') out.identityFile = expandSshTokens(identity, ctx);
  return out;
}

/** Look `alias` up as `ssh alias` would. `matchExec: false`: reading config must never run commands. */
export function lookupSshHost(file: SshConfigFile | undefined, alias: string, ctx: { home: string; localUser: string }): SshLookup {
  if (!file) return { matched: false, specific: {}, generic: {} };
  const opts = { ignoreCase: true, matchExec: false };
  const specific = file.specific.compute(alias, opts);
  const full = { ...ctx, host: alias };
  return {
    matched: 'host' in specific,
    specific: settingsFrom(specific, file.path, full),
    generic: settingsFrom(file.generic.compute(alias, opts), file.path, full),
  };
}
