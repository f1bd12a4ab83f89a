// The original tool's env vars (CLUSTER_SSH_TIMEOUT, CLUSTER_<NODE>_HOST, ...): read,
// validated like the file (errors name the variable) and merged over cluster.yaml.
import { isIP } from 'node:net';
import type { Settings } from '../shared.js';
import { DEFAULT_LOCAL_COMMANDS, DEFAULT_OFFLOAD_COMMANDS } from './classify.js';
import { ConfigError, describeIssues, settingsSchema, type SettingsInput } from './configSchema.js';

export const DEFAULT_SETTINGS: Settings = {
  sshTimeoutS: 5,
  sshConnectTimeoutS: 2,
  sshRetries: 2,
  cpuThreshold: 40,
  loadThreshold: 4,
  memoryThreshold: 80,
  cmdTimeoutS: 300,
  statusTimeoutS: 5,
  ipCacheTtlS: 300,
  hostKeyPolicy: 'accept-new',
  offloadCommands: [...DEFAULT_OFFLOAD_COMMANDS],
  localCommands: [...DEFAULT_LOCAL_COMMANDS],
  workspaceMaxBytes: 2 * 1024 ** 3,
  workspaceMaxFiles: 200_000,
};

/** Original tool's env vars → settings keys (the snake_case file keys). */
const SETTING_ENV: Record<string, Exclude<keyof SettingsInput, 'offload_commands' | 'local_commands' | 'workspace_max_bytes' | 'workspace_max_files'>> = {
  CLUSTER_SSH_TIMEOUT: 'ssh_timeout',
  CLUSTER_SSH_CONNECT_TIMEOUT: 'ssh_connect_timeout',
  CLUSTER_SSH_RETRIES: 'ssh_retries',
  CLUSTER_CPU_THRESHOLD: 'cpu_threshold',
  CLUSTER_LOAD_THRESHOLD: 'load_threshold',
  CLUSTER_MEMORY_THRESHOLD: 'memory_threshold',
  CLUSTER_CMD_TIMEOUT: 'cmd_timeout',
  CLUSTER_STATUS_TIMEOUT: 'status_timeout',
  CLUSTER_IP_CACHE_TTL: 'ip_cache_ttl',
  CLUSTER_HOST_KEY_POLICY: 'host_key_policy',
  CLUSTER_DNS: 'dns',
  CLUSTER_GATEWAY: 'gateway',
};
/** Settings whose env value is text, not a number. */
const TEXT_SETTINGS = new Set(['host_key_policy', 'dns', 'gateway']);

/** An empty env var counts as unset, as in most shells' `${VAR:-default}`. */
export const envValue = (env: NodeJS.ProcessEnv, name: string): string | undefined => env[name]?.trim() || undefined;

/** The `<NODE>` spellings of CLUSTER_<NODE>_HOST for a node id: MAC-STUDIO → MACSTUDIO, MAC_STUDIO. */
export function nodeEnvKeys(id: string): string[] {
  const upper = id.toUpperCase();
  return [...new Set([upper.replace(/[^A-Z0-9]/g, ''), upper.replace(/-/g, '_')])];
}

export function settingsFromEnv(env: NodeJS.ProcessEnv): SettingsInput {
  const raw: Record<string, unknown> = {};
  const varOf: Record<string, string> = {};
  for (const [name, key] of Object.entries(SETTING_ENV)) {
    const value = envValue(env, name);
    if (value === undefined) continue;
    // Numbers are parsed strictly so "5s" is reported rather than half-read.
    // CLUSTER_DNS is a comma-separated list: split here so an error shows the entry at fault.
    if (key === 'dns')
      raw[key] = value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
    else raw[key] = TEXT_SETTINGS.has(key) || !/^[+-]?(\d+\.?\d*|\.\d+)$/.test(value) ? value : Number(value);
    varOf[key] = name;
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const name = (path: (string | number)[]): string => varOf[String(path[0])] ?? String(path[0]);
    throw new ConfigError(describeIssues(parsed.error.issues, raw, name, name));
  }
  return parsed.data;
}

export function mergeSettings(file: SettingsInput, fromEnv: SettingsInput, sshUser: string | undefined): Settings {
  const s = { ...file, ...fromEnv };
  const d = DEFAULT_SETTINGS;
  return {
    ...(sshUser ? { sshUser } : {}),
    sshTimeoutS: s.ssh_timeout ?? d.sshTimeoutS,
    sshConnectTimeoutS: s.ssh_connect_timeout ?? d.sshConnectTimeoutS,
    sshRetries: s.ssh_retries ?? d.sshRetries,
    cpuThreshold: s.cpu_threshold ?? d.cpuThreshold,
    loadThreshold: s.load_threshold ?? d.loadThreshold,
    memoryThreshold: s.memory_threshold ?? d.memoryThreshold,
    cmdTimeoutS: s.cmd_timeout ?? d.cmdTimeoutS,
    statusTimeoutS: s.status_timeout ?? d.statusTimeoutS,
    ipCacheTtlS: s.ip_cache_ttl ?? d.ipCacheTtlS,
    hostKeyPolicy: s.host_key_policy ?? d.hostKeyPolicy,
    offloadCommands: s.offload_commands ?? [...d.offloadCommands],
    localCommands: s.local_commands ?? [...d.localCommands],
    workspaceMaxBytes: s.workspace_max_bytes ?? d.workspaceMaxBytes,
    workspaceMaxFiles: s.workspace_max_files ?? d.workspaceMaxFiles,
    ...(s.dns ? { dnsServers: s.dns } : {}),
    ...(s.gateway ? { gateway: s.gateway } : {}),
  };
}

/** CLUSTER_<NODE>_HOST / _IP for one node, validated; errors name the variable. */
export function nodeEnvOverrides(env: NodeJS.ProcessEnv, id: string): { host?: string; ip?: string } {
  const out: { host?: string; ip?: string } = {};
  for (const key of nodeEnvKeys(id)) {
    const hostVar = `CLUSTER_${key}_HOST`;
    const ipVar = `CLUSTER_${key}_IP`;
    const host = envValue(env, hostVar);
    const ip = envValue(env, ipVar);
    if (host !== undefined && out.host === undefined) {
      if (/\s/.test(host))
        throw new ConfigError(
          `${hostVar}: expected a host name or address without spaces, got ${JSON.stringify(host)}; fix: set ${hostVar} to a name such as builder1.local`,
        );
      out.host = host;
    }
    if (ip !== undefined && out.ip === undefined) {
      if (isIP(ip) === 0)
        throw new ConfigError(`${ipVar}: expected an IPv4 or IPv6 address, got ${JSON.stringify(ip)}; fix: set ${ipVar} to the node's address`);
      out.ip = ip;
    }
  }
  return out;
}
