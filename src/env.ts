// Every CLUSTERFLOW_* variable is read here, and only here: one place that names them, their
// defaults and what a bad value says. (The original tool's CLUSTER_* variables belong to the
// cluster config: src/cluster/configEnv.ts.)
import { ConfigError } from './cluster/configSchema.js';

export interface ClusterflowEnv {
  /** CLUSTERFLOW_HOME: the state dir (else ~/.local/state/clusterflow). */
  home?: string;
  /** CLUSTERFLOW_LOG_LEVEL: pino level (default info for serve/worker, warn for the CLI). */
  logLevel?: string;
  /** CLUSTERFLOW_TEMPORAL_LOG_LEVEL: the Temporal SDK's own level (WARN). */
  temporalLogLevel: string;
  /** CLUSTERFLOW_HEAD_START=0 turns the fast path off (every launch waits for the workflow's activity). */
  headStart: boolean;
  /** CLUSTERFLOW_START_DEFER_MS: how long a journaled head start's workflow start waits for the command to answer (50; tests lengthen it). */
  startDeferMs?: number;
  /** CLUSTERFLOW_HEARTBEAT_TIMEOUT_S: runCommand's heartbeat timeout (fault tests shorten it). */
  heartbeatTimeoutS?: number;
  /** CLUSTERFLOW_MONITOR_INTERVAL_S: how often the cluster monitor probes (10). */
  monitorIntervalS: number;
  /** CLUSTERFLOW_TEMPORAL_PORT / _UI_PORT: embedded server ports ("0": any free port). */
  temporalPort?: string;
  temporalUiPort?: string;
  /** CLUSTERFLOW_CODEC_PORT: serve's codec endpoint and Web UI proxy ("0": any free port). */
  codecPort?: string;
  /** CLUSTERFLOW_HTTP_TOKEN: bearer token for `serve --http`. */
  httpToken?: string;
  /** CLUSTERFLOW_DEBUG: stack traces on CLI errors. */
  debug: boolean;
  /** CLUSTERFLOW_MAX_OUTPUT: bytes of each stream stored per task, on the node and locally (256 MiB; k/M/G suffixes). */
  maxOutputBytes: number;
  /** CLUSTERFLOW_CODEC_KEY: the payload codec's key(s), base64 (several: first encrypts, all decrypt). */
  codecKey?: string;
  /** CLUSTERFLOW_CODEC_KEY_FILE: a file with one base64 key per line (else <state dir>/codec.key). */
  codecKeyFile?: string;
}

const value = (env: NodeJS.ProcessEnv, name: string): string | undefined => env[name]?.trim() || undefined;

/** A number in [min, max]; `unit` says which (milliseconds must be whole). */
function ranged(env: NodeJS.ProcessEnv, name: string, min: number, max: number, unit: 'seconds' | 'milliseconds'): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const whole = unit === 'milliseconds';
  if (!(whole ? Number.isInteger(n) : Number.isFinite(n)) || n < min || n > max)
    throw new ConfigError(`${name} must be a ${whole ? 'whole number' : 'number'} of ${unit} from ${min} to ${max}, got "${raw}"`);
  return n;
}

function bytes(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?$/i.exec(raw);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m?.[2] ?? '').charAt(0).toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  const n = m ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(n) || n < 1024) throw new ConfigError(`${name} must be a size of at least 1024 bytes (e.g. 256M, 1G), got "${raw}"`);
  return n;
}

export function clusterflowEnv(env: NodeJS.ProcessEnv = process.env): ClusterflowEnv {
  return {
    home: value(env, 'CLUSTERFLOW_HOME'),
    logLevel: value(env, 'CLUSTERFLOW_LOG_LEVEL'),
    temporalLogLevel: value(env, 'CLUSTERFLOW_TEMPORAL_LOG_LEVEL') ?? 'WARN',
    headStart: value(env, 'CLUSTERFLOW_HEAD_START') !== '0',
    heartbeatTimeoutS: ranged(env, 'CLUSTERFLOW_HEARTBEAT_TIMEOUT_S', 1, 3600, 'seconds'),
    startDeferMs: ranged(env, 'CLUSTERFLOW_START_DEFER_MS', 0, 600_000, 'milliseconds'),
    monitorIntervalS: ranged(env, 'CLUSTERFLOW_MONITOR_INTERVAL_S', 0.1, 3600, 'seconds') ?? 10,
    temporalPort: value(env, 'CLUSTERFLOW_TEMPORAL_PORT'),
    temporalUiPort: value(env, 'CLUSTERFLOW_TEMPORAL_UI_PORT'),
    codecPort: value(env, 'CLUSTERFLOW_CODEC_PORT'),
    httpToken: value(env, 'CLUSTERFLOW_HTTP_TOKEN'),
    debug: value(env, 'CLUSTERFLOW_DEBUG') !== undefined,
    maxOutputBytes: bytes(env, 'CLUSTERFLOW_MAX_OUTPUT') ?? 256 * 1024 * 1024,
    codecKey: value(env, 'CLUSTERFLOW_CODEC_KEY'),
    codecKeyFile: value(env, 'CLUSTERFLOW_CODEC_KEY_FILE'),
  };
}

/**
 * CLUSTERFLOW_LAUNCH_TUNABLES, set (maybe empty) by bin/cluster-router: it started this process,
 * and these are the GLIBC_TUNABLES entries it added. Both are taken back out of `env`, so the
 * processes this one starts (commands run on the local node among them) inherit the
 * environment they would have without the launcher. Whether it was there: the first call's answer.
 */
export function takeLaunchMark(env: NodeJS.ProcessEnv = process.env): boolean {
  const added = env.CLUSTERFLOW_LAUNCH_TUNABLES;
  if (added === undefined) return false;
  delete env.CLUSTERFLOW_LAUNCH_TUNABLES;
  const ours = new Set(added.split(':').filter(Boolean));
  const rest = (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t && !ours.has(t));
  if (rest.length > 0) env.GLIBC_TUNABLES = rest.join(':');
  else delete env.GLIBC_TUNABLES;
  return true;
}
