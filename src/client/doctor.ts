// `cluster-router doctor`: everything a task needs, checked one by one, each with the fix when
// it fails. It looks and never changes anything: no key is recorded (host keys are checked
// against known_hosts under the strict policy), no server or worker is started.
import { loadConfig } from '../cluster/config.js';
import { createServices } from '../runtime/services.js';
import type { ClusterConfig, NodeConfig } from '../shared.js';
import { checkNode } from './doctorNode.js';
import { checkTemporal } from './doctorTemporal.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** config, address, host-key, login, clock, disk, temporal, namespace, search-attributes, worker */
  check: string;
  /** A node id, a queue, or the file checked. */
  target: string;
  status: CheckStatus;
  detail: string;
  /** What to do, when the status is not ok. */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
}

const NODE_TIMEOUT_MS = 15_000;

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  stateDir: string;
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const env = opts.env ?? process.env;
  const checks: Check[] = [];
  let config: ClusterConfig | undefined;
  try {
    config = loadConfig({ env, stateDir: opts.stateDir });
    const local = config.nodes.find((n) => n.local);
    checks.push({
      check: 'config',
      target: config.source,
      status: 'ok',
      detail: `${config.nodes.length} node(s): ${config.nodes.map((n) => n.id).join(', ')}; local node: ${local ? `${local.id}${local.localReason ? ` (${local.localReason})` : ''}` : 'none'}`,
    });
    for (const w of config.warnings ?? [])
      checks.push({ check: 'config', target: config.source, status: 'warn', detail: w.replace(/; fix: .*$/, ''), fix: /; fix: (.*)$/.exec(w)?.[1] });
  } catch (err) {
    checks.push({
      check: 'config',
      target: env.CLUSTER_CONFIG ?? 'cluster.yaml',
      status: 'fail',
      detail: (err as Error).message.replace(/; fix: .*$/s, ''),
      fix: /; fix: (.*)$/.exec((err as Error).message)?.[1] ?? 'correct the config file',
    });
  }
  if (config) {
    const rt = createServices(config, opts.stateDir);
    try {
      const perNode = await Promise.all(config.nodes.map((n) => withTimeout(checkNode(rt, n), NODE_TIMEOUT_MS, n)));
      checks.push(...perNode.flat());
    } finally {
      await rt.pool.close();
    }
  }
  checks.push(...(await checkTemporal(env, opts.stateDir, config)));
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

async function withTimeout(work: Promise<Check[]>, ms: number, node: NodeConfig): Promise<Check[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Check[]>((resolve) => {
    timer = setTimeout(
      () =>
        resolve([
          {
            check: 'node',
            target: node.id,
            status: 'fail',
            detail: `no answer within ${ms / 1000} s`,
            fix: `check that ${node.host ?? node.ip} is up and answers SSH on port ${node.port}`,
          },
        ]),
      ms,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
