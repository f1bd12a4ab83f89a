// Long-lived, per-process dependencies of the activities: config, SSH pool, host keys,
// address cache, output store, placement book. Built once by the worker entry point.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import path from 'node:path';
import { NodeSlots } from './activities/nodeSlots.js';
import { PlacementBook } from './activities/placementBook.js';
import { OutputStore } from './activities/outputStore.js';
import { AddressResolver } from './cluster/resolve.js';
import type { ClusterConfig, CommandResult } from './shared.js';
import { KnownHosts } from './ssh/hostKeys.js';
import { SshPool } from './ssh/pool.js';

export interface Runtime {
  config: ClusterConfig;
  stateDir: string;
  knownHosts: KnownHosts;
  pool: SshPool;
  resolver: AddressResolver;
  outputs: OutputStore;
  book: PlacementBook;
  /** Where local-node runs keep their detached state (pid, output, exit code). */
  localRunsDir: string;
  /** Set by the app once connected: batch activities query their workflow for stop requests. */
  client?: Client;
  /** runCommand emits (taskId, result) here when a command's final result is in: see TaskClient.wait. */
  completions: EventEmitter;
  /** Final results of head-started runs (activities/headStart.ts), for runCommand to take instead of re-attaching. */
  headStartResults: Map<string, CommandResult>;
  /** Each node's max_parallel, shared by runCommand attempts and head starts of this process. */
  slots: NodeSlots;
  /** Task ids whose command a head start of this process is running (it holds their slot). */
  headStarted: Set<string>;
}

export function createRuntime(config: ClusterConfig, stateDir: string): Runtime {
  const knownHosts = new KnownHosts({
    files: [path.join(os.homedir(), '.ssh', 'known_hosts'), path.join(stateDir, 'known_hosts')],
    writeFile: path.join(stateDir, 'known_hosts'),
    policy: config.settings.hostKeyPolicy,
  });
  return {
    config,
    stateDir,
    knownHosts,
    pool: new SshPool({ knownHosts }),
    resolver: new AddressResolver({ ttlS: config.settings.ipCacheTtlS }),
    outputs: new OutputStore(path.join(stateDir, 'output')),
    book: new PlacementBook(),
    localRunsDir: path.join(stateDir, 'runs'),
    completions: new EventEmitter().setMaxListeners(0),
    headStartResults: new Map(),
    slots: new NodeSlots(),
    headStarted: new Set(),
  };
}
