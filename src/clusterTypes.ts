// The cluster as every module sees it: nodes after config, env vars and ~/.ssh/config are merged,
// settings, and what probes report. Types only (workflow code imports them through shared.ts).
import type { NodePolicy } from './cluster/policyTypes.js';

export type Os = 'linux' | 'macos';

export type Arch = 'x86_64' | 'arm64';

export type HostKeyPolicy = 'accept-new' | 'strict';

/** One node of the cluster, after config file, env vars and ~/.ssh/config are merged. */
export interface NodeConfig {
  id: string;
  /** Runs by child_process on the worker's machine, no SSH. */
  local: boolean;
  /** Set when `local` was found rather than written: why this node is this machine (cluster/thisMachine.ts). */
  localReason?: string;
  host?: string;
  /** Fallback address when `host` does not resolve or answer. */
  ip?: string;
  port: number;
  user?: string;
  identityFile?: string;
  os?: Os;
  arch?: Arch;
  capabilities: string[];
  specialties: string[];
  maxParallel: number;
  priority: number;
  /**
   * Extra metrics source: a shell command run on the node after the built-in probe whose
   * `key=value` lines override probed figures (e.g. `load1=9.5`). Lets a node report a
   * site-specific load (GPU queue, scheduler backlog), and lets tests make loopback nodes differ.
   */
  metricsCommand?: string;
  /** Per-node command policy from cluster.yaml `policy:` (allow / deny programs, read_only). */
  policy?: NodePolicy;
  /** Absolute paths this node sees as the origin does (NFS mounts): a cwd under one runs in place. */
  sharedPaths?: string[];
  /** Where synced workspaces live on the node (default ~/.cache/clusterflow/workspaces). */
  workspaceRoot?: string;
  /** Bytes of workspaces and blobs kept on the node before the least recently used go (default 10 GiB). */
  workspaceCacheMax?: number;
}

export interface Settings {
  sshUser?: string;
  sshTimeoutS: number;
  sshConnectTimeoutS: number;
  sshRetries: number;
  cpuThreshold: number;
  loadThreshold: number;
  memoryThreshold: number;
  cmdTimeoutS: number;
  statusTimeoutS: number;
  ipCacheTtlS: number;
  hostKeyPolicy: HostKeyPolicy;
  /** Programs that make a command heavy (offloaded). */
  offloadCommands: string[];
  /** Programs that keep a command light when it uses only these. */
  localCommands: string[];
  /** A synced workspace's limits (settings workspace_max_bytes / workspace_max_files). */
  workspaceMaxBytes: number;
  workspaceMaxFiles: number;
  /** CLUSTER_DNS: DNS servers (`addr` or `addr:port`) node names are resolved with, instead of the system's resolver. */
  dnsServers?: string[];
  /** CLUSTER_GATEWAY: the gateway whose route gives this machine's own address (local node detection). */
  gateway?: string;
}

export interface ClusterConfig {
  nodes: NodeConfig[];
  settings: Settings;
  /** Where the config came from: a file path, or "default (no config file)". */
  source: string;
  /** Things that are valid but probably not meant (e.g. `nodes: []`), one line each with the fix. */
  warnings?: string[];
}

/** Live figures for one node, from one probe round trip. */
export interface NodeMetrics {
  cpu_percent: number;
  memory_percent: number;
  load_avg: [number, number, number];
  cores: number;
  os: Os;
  arch: Arch;
  uptime_s: number;
}

export type NodeHealth = 'healthy' | 'busy' | 'unreachable' | 'unknown';

export interface NodeState {
  id: string;
  status: NodeHealth;
  os?: Os;
  arch?: Arch;
  cpu_percent?: number;
  memory_percent?: number;
  load_avg?: [number, number, number];
  cores?: number;
  in_flight: number;
  capabilities: string[];
  last_seen?: string;
  /** Why the node is unreachable, when it is. */
  reason?: string;
  /** Whether a worker serves this node's queue (its probe ran there); false: nobody does. */
  worker?: boolean;
}
