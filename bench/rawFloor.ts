// The raw floor of a fan-out: the same commands over the product's own transport with no
// Temporal, no MCP, no output store. An SshPool (the product's defaults) per bench, the
// detached-run chunk scripts of src/ssh/detachedRun.ts, and the engine's lane/chunk split
// (src/engine/chunkSize.ts, as attempt.ts uses it): per node `lanes` lanes, each taking its fair
// share of what is left (or more, once commands prove short), at most CHUNK_MAX (64) commands per
// exec, one exec after another. Commands go to the nodes round-robin, as placement spreads identical light
// commands. What clusterflow adds on top of this is the cost of durability (workflows,
// activities, results recorded).
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CHUNK_BYTES, chunkWant, RunTimes } from '../src/engine/chunkSize.js';
import { ChunkReader, chunkScript, newNonce } from '../src/ssh/detachedRun.js';
import { KnownHosts } from '../src/ssh/hostKeys.js';
import { SshPool, type SshTarget } from '../src/ssh/pool.js';
import type { LocalCluster } from '../src/testcluster/localCluster.js';
import type { PeerCase } from './fanoutPeers.js';

export interface RawFloor extends PeerCase {
  close(): Promise<void>;
}

export function rawFloorCase(cluster: LocalCluster, dir: string, lanes: number, label: string): RawFloor {
  const pool = new SshPool({
    knownHosts: new KnownHosts({ files: [cluster.knownHostsPath], writeFile: path.join(dir, 'rawfloor_known_hosts'), policy: 'strict' }),
  });
  const targets: SshTarget[] = cluster.nodes.map((n) => ({
    nodeId: n.id,
    host: n.host,
    port: n.port,
    user: n.user,
    identityFile: n.identityFile,
    connectTimeoutMs: 10_000,
  }));
  let seq = 0;
  const runPrefix = `rawfloor-${process.pid}`;

  /** One node's commands: `lanes` lanes, each running chunks (one exec per chunk) until none are left. */
  async function onNode(t: SshTarget, commands: string[]): Promise<void> {
    let next = 0;
    const runTimes = new RunTimes();
    const lane = async () => {
      while (next < commands.length) {
        const want = chunkWant(commands.length - next, lanes, runTimes.mean);
        const runs: Array<{ runId: string; command: string }> = [];
        let bytes = 0;
        while (runs.length < want && next < commands.length && bytes < CHUNK_BYTES) {
          const command = commands[next++]!;
          runs.push({ runId: `${runPrefix}-${seq++}`, command });
          bytes += command.length + 64;
        }
        const nonce = newNonce();
        let failed = 0;
        const startedAt: number[] = [];
        const reader = new ChunkReader(nonce, runs.length, {
          onStart: (i) => {
            startedAt[i] = Date.now();
          },
          onData: () => undefined,
          onRun: (i, r) => {
            if (r.state !== 'done' || r.returnCode !== 0) failed++;
            runTimes.add(Date.now() - (startedAt[i] ?? Date.now()));
          },
        });
        const exit = await pool.exec(t, chunkScript(runs, { nonce }), {
          onStdout: (b) => reader.push('stdout', b),
          onStderr: (b) => reader.push('stderr', b),
        });
        const missing = reader.runs.filter((r) => r === undefined).length;
        if (exit.code !== 0 || failed + missing > 0)
          throw new Error(`raw floor on ${t.nodeId}: exit ${exit.code}, ${failed} failed, ${missing} without a result`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(lanes, commands.length) }, lane));
  }

  return {
    name: label,
    async run(commands) {
      const per = targets.map(() => [] as string[]);
      commands.forEach((c, i) => per[i % targets.length]!.push(c));
      const t0 = performance.now();
      await Promise.all(targets.map((t, k) => onNode(t, per[k]!)));
      return performance.now() - t0;
    },
    /** Removes the run files the commands left (ours only) and closes the pool. */
    async close() {
      await Promise.all(
        targets.map((t) => pool.exec(t, `find "$HOME"/.cache/clusterflow/runs -maxdepth 1 -name '${runPrefix}-*' -delete`).catch(() => undefined)),
      );
      await pool.close();
    },
  };
}
