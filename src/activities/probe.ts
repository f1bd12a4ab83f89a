// probeNode: one round trip per node for live figures (hub queue, called by the monitor).
import { Context } from '@temporalio/activity';
import { parseProbeOutput, probeScript } from '../cluster/probe.js';
import { cleanupScript } from '../ssh/detachedRun.js';
import { shq } from '../ssh/quote.js';
import { LOAD_THRESHOLD_REFERENCE_CORES } from '../cluster/placement.js';
import { findNode } from '../cluster/nodes.js';
import type { Services } from '../runtime/services.js';
import type { NodeHealth, NodeMetrics, NodeState, Settings } from '../shared.js';
import { execFor } from '../engine/exec.js';

/** Finished detached runs are kept this long on a node (re-attach window), then swept by the probe. */
const RUN_RETENTION_MIN = 24 * 60;
/**
 * A probe sweeps a node at most this often (per process): the sweep lists the whole run directory
 * and stats every claim in it (tens of thousands after a big fan-out), which is no work to repeat
 * on every probe (10 s) for a retention of a day.
 */
export const SWEEP_EVERY_MS = 60 * 60_000;

/** When each node was last swept by a probe that got through; a node never swept is due. */
export class SweepSchedule {
  private readonly sweptAt = new Map<string, number>();

  due(nodeId: string, now = Date.now()): boolean {
    const last = this.sweptAt.get(nodeId);
    return last === undefined || now - last >= SWEEP_EVERY_MS;
  }

  swept(nodeId: string, now = Date.now()): void {
    this.sweptAt.set(nodeId, now);
  }
}

export function createProbeActivities(rt: Services) {
  const sweeps = new SweepSchedule();
  return {
    async probeNode(input: { nodeId: string }): Promise<NodeState> {
      const node = findNode(rt.config, input.nodeId);
      const base = { id: input.nodeId, in_flight: rt.book.counts()[input.nodeId] ?? 0, capabilities: node?.capabilities ?? [] };
      if (!node) return { ...base, status: 'unreachable', reason: 'not in the cluster config' };
      const timeoutMs = rt.config.settings.statusTimeoutS * 1000;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), timeoutMs);
      try {
        const exec = await withTimeout(execFor(rt, node), timeoutMs, 'resolving / connecting');
        let out = '';
        let err = '';
        const sweep = sweeps.due(node.id) ? `\n(${cleanupScript(RUN_RETENTION_MIN, node.local ? rt.localRunsDir : undefined)}) >/dev/null 2>&1 &` : '';
        const script = `${probeScript(node.metricsCommand)}${sweep}`;
        const res = await exec(`sh -c ${shq(script)}`, {
          onStdout: (b) => {
            out += b.toString();
          },
          onStderr: (b) => {
            err += b.toString();
          },
          signal: ac.signal,
        });
        if (res.code !== 0 && !out.includes('@@cf:end')) throw new Error(`probe exited ${res.code}: ${err.trim().slice(0, 300)}`);
        const m = parseProbeOutput(out, node.id);
        if (sweep) sweeps.swept(node.id);
        return {
          ...base,
          status: health(m, rt.config.settings),
          os: m.os,
          arch: m.arch,
          cpu_percent: round(m.cpu_percent),
          memory_percent: round(m.memory_percent),
          load_avg: m.load_avg,
          cores: m.cores,
          last_seen: new Date().toISOString(),
        };
      } catch (err) {
        const reason = ac.signal.aborted ? `no answer within CLUSTER_STATUS_TIMEOUT (${rt.config.settings.statusTimeoutS} s)` : (err as Error).message;
        Context.current().log.info('probe failed', { node: node.id, reason });
        return { ...base, status: 'unreachable', reason };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** busy = over one of the original tool's thresholds (still usable, ranked last). */
export function health(m: NodeMetrics, s: Settings): NodeHealth {
  const loadPerCoreLimit = s.loadThreshold / LOAD_THRESHOLD_REFERENCE_CORES;
  const over = m.cpu_percent > s.cpuThreshold || m.memory_percent > s.memoryThreshold || m.load_avg[0] / Math.max(1, m.cores) > loadPerCoreLimit;
  return over ? 'busy' : 'healthy';
}

const round = (n: number) => Math.round(n * 10) / 10;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out ${what} after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
