// doctor's checks of Temporal: the server (TEMPORAL_ADDRESS or the embedded one, never started
// here), the namespace, the search attributes, and a live worker on each queue.
import { Connection } from '@temporalio/client';
import { HUB_QUEUE, nodeQueue, SEARCH_ATTRIBUTES, type ClusterConfig } from '../shared.js';
import { embeddedServerState } from '../temporal/embedded.js';
import { tlsFromEnv, transportCause } from '../temporal/connection.js';
import type { Check } from './doctor.js';

/** A poller seen within this long counts as a live worker (Temporal keeps pollers ~1 min). */
const POLLER_FRESH_MS = 70_000;

/** The Temporal server (reachable, namespace, search attributes) and whether workers poll each queue. */
export async function checkTemporal(env: NodeJS.ProcessEnv, stateDir: string, config: ClusterConfig | undefined): Promise<Check[]> {
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  let address = env.TEMPORAL_ADDRESS;
  const named = address ? 'TEMPORAL_ADDRESS' : 'embedded dev server';
  if (!address) {
    const st = embeddedServerState(stateDir);
    if (!st || !st.alive) {
      return [
        {
          check: 'temporal',
          target: 'embedded',
          status: 'fail',
          detail: `the embedded dev server of ${stateDir} is not running`,
          fix: 'start it with cluster-router serve (or any task command), or set TEMPORAL_ADDRESS to a running server',
        },
      ];
    }
    address = st.address;
  }
  let conn: Connection;
  try {
    const tls = address === env.TEMPORAL_ADDRESS ? tlsFromEnv(env) : undefined;
    conn = await Connection.connect({
      address,
      connectTimeout: 5000,
      ...(tls ? { tls } : {}),
      ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
    });
  } catch (err) {
    return [
      {
        check: 'temporal',
        target: address,
        status: 'fail',
        detail: `cannot reach ${address} (${named}): ${transportCause(err)}`,
        fix:
          address === env.TEMPORAL_ADDRESS
            ? 'start that server, correct TEMPORAL_ADDRESS, or unset it to use the embedded dev server'
            : 'see <state dir>/temporal/server.log',
      },
    ];
  }
  const out: Check[] = [];
  try {
    try {
      await conn.workflowService.describeNamespace({ namespace });
      out.push({ check: 'temporal', target: address, status: 'ok', detail: `reachable (${named})` });
      out.push({ check: 'namespace', target: namespace, status: 'ok', detail: 'exists' });
    } catch (err) {
      out.push({ check: 'temporal', target: address, status: 'ok', detail: `reachable (${named})` });
      out.push({
        check: 'namespace',
        target: namespace,
        status: 'fail',
        detail: transportCause(err),
        fix: `create it (temporal operator namespace create --namespace ${namespace}) or correct TEMPORAL_NAMESPACE`,
      });
      return out;
    }
    try {
      const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace });
      const missing = Object.entries(SEARCH_ATTRIBUTES)
        .filter(([k]) => !customAttributes || !(k in customAttributes))
        .map(([k, t]) => `${k} (${t})`);
      out.push(
        missing.length === 0
          ? { check: 'search-attributes', target: namespace, status: 'ok', detail: Object.keys(SEARCH_ATTRIBUTES).join(', ') }
          : {
              check: 'search-attributes',
              target: namespace,
              status: 'fail',
              detail: `not registered: ${missing.join(', ')}`,
              fix: 'run deploy/register-search-attributes.sh against this server',
            },
      );
    } catch (err) {
      out.push({
        check: 'search-attributes',
        target: namespace,
        status: 'warn',
        detail: `cannot list them: ${transportCause(err)}`,
        fix: 'check that this client may call the operator API',
      });
    }
    const queues: Array<[string, number, string]> = [
      [HUB_QUEUE, 1, 'workflows and placement'],
      ...(config?.nodes ?? []).map((n): [string, number, string] => [nodeQueue(n.id), 2, `commands on ${n.id}`]),
    ];
    for (const [queue, type, what] of queues) {
      try {
        const res = await conn.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue }, taskQueueType: type });
        const fresh = (res.pollers ?? []).filter((p) => p.lastAccessTime?.seconds && Date.now() - Number(p.lastAccessTime.seconds) * 1000 < POLLER_FRESH_MS);
        out.push(
          fresh.length > 0
            ? {
                check: 'worker',
                target: queue,
                status: 'ok',
                detail: `${fresh.length} poller(s): ${[...new Set(fresh.map((p) => p.identity ?? '?'))].join(', ')}`,
              }
            : {
                check: 'worker',
                target: queue,
                status: 'fail',
                detail: `no worker polls it (${what} would wait)`,
                fix: `run cluster-router serve, or cluster-router worker${queue === HUB_QUEUE ? '' : ` --nodes ${queue.slice(nodeQueue('').length)}`}`,
              },
        );
      } catch (err) {
        out.push({ check: 'worker', target: queue, status: 'fail', detail: transportCause(err), fix: 'check the Temporal server' });
      }
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
  return out;
}
