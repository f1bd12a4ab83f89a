// Long-lived, per-process dependencies of the worker side: config, SSH pool, host keys, address
// cache, output store, placement book, node slots, the result bus, the lane handoff of chained batches and
// workspace pruning. Built once, complete at construction (nothing is assigned afterwards); passed
// explicitly to whatever needs it.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { resolverFor, type AddressResolver } from '../cluster/resolve.js';
import type { ClusterConfig } from '../shared.js';
import { log } from '../log.js';
import { KnownHosts } from '../ssh/hostKeys.js';
import { SshPool } from '../ssh/pool.js';
import { LaneHandoff } from './laneHandoff.js';
import { NodeSlots } from './nodeSlots.js';
import { OutputStore } from './outputStore.js';
import { PlacementBook } from './placementBook.js';
import { PruneScheduler } from './pruneScheduler.js';
import { ResultBus } from './resultBus.js';

export interface Services {
  config: ClusterConfig;
  stateDir: string;
  knownHosts: KnownHosts;
  pool: SshPool;
  resolver: AddressResolver;
  outputs: OutputStore;
  book: PlacementBook;
  /** Each node's max_parallel, shared by every launch of this process (activities and the fast path). */
  slots: NodeSlots;
  /** Final results as soon as this process has them, before their workflow records them. */
  results: ResultBus;
  /** A fan-out's next batch on a node takes over the lanes of the batch before as they run dry. */
  handoff: LaneHandoff;
  /** Where local-node runs keep their detached state (pid, output, exit code). */
  localRunsDir: string;
  /** Workspace cache pruning, in the background and throttled per node. */
  prunes: PruneScheduler;
}

/** `maxOutputBytes`: CLUSTERFLOW_MAX_OUTPUT, bytes of each stream stored per task. */
/** The pool's events: trouble (lost, timed out, failed) is a warning, the rest (connected, retries) detail. */
function poolLog(msg: string, extra?: object): void {
  if (/lost|timed out|failed|error/.test(msg)) log.warn(extra ?? {}, msg);
  else log.debug(extra ?? {}, msg);
}

export function createServices(config: ClusterConfig, stateDir: string, maxOutputBytes?: number): Services {
  const knownHosts = new KnownHosts({
    files: [path.join(os.homedir(), '.ssh', 'known_hosts'), path.join(stateDir, 'known_hosts')],
    writeFile: path.join(stateDir, 'known_hosts'),
    policy: config.settings.hostKeyPolicy,
  });
  return {
    config,
    stateDir,
    knownHosts,
    // Connection events (lost, re-opened, session timeouts) are what explains a retried attempt.
    pool: new SshPool({ knownHosts, sessionTimeoutMs: config.settings.sshTimeoutS * 1000, log: poolLog }),
    resolver: resolverFor(config.settings),
    outputs: new OutputStore(path.join(stateDir, 'output'), maxOutputBytes),
    book: new PlacementBook(Date.now, path.join(stateDir, 'reservations')),
    slots: new NodeSlots(path.join(stateDir, 'slots')),
    results: new ResultBus(),
    handoff: new LaneHandoff(),
    localRunsDir: path.join(stateDir, 'runs'),
    prunes: new PruneScheduler(),
  };
}

/**
 * The origin id of a state dir on this host: its workers serve `clusterflow-origin-<id>`, where
 * workspaces are synced from (two state dirs or two hosts never share one).
 */
export function originIdOf(stateDir: string): string {
  const host =
    os
      .hostname()
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 40) || 'host';
  return `${host}-${createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 8)}`;
}
