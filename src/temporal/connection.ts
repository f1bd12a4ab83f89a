// Which Temporal server to use: TEMPORAL_ADDRESS (a real cluster) or the embedded dev server.
import { readFileSync } from 'node:fs';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { ensureEmbeddedServer, type EmbeddedServer } from './embedded.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Web UI base, for workflow deep links. */
  uiUrl: string;
  tls?: NativeConnectionOptions['tls'];
  apiKey?: string;
  embedded?: EmbeddedServer;
}

export async function resolveTemporal(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<TemporalTarget> {
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  if (env.TEMPORAL_ADDRESS) {
    const host = env.TEMPORAL_ADDRESS.replace(/:\d+$/, '');
    return {
      address: env.TEMPORAL_ADDRESS,
      namespace,
      uiUrl: (env.TEMPORAL_UI_URL || `http://${host}:8233`).replace(/\/$/, ''),
      tls: tlsFromEnv(env),
      apiKey: env.TEMPORAL_API_KEY || undefined,
    };
  }
  const embedded = await ensureEmbeddedServer(stateDir, env);
  return { address: embedded.address, namespace, uiUrl: embedded.uiUrl, embedded };
}

/** TEMPORAL_TLS_CERT / _KEY (mTLS), TEMPORAL_TLS_CA, or TEMPORAL_TLS=true for system roots. */
function tlsFromEnv(env: NodeJS.ProcessEnv): NativeConnectionOptions['tls'] {
  const cert = env.TEMPORAL_TLS_CERT;
  const key = env.TEMPORAL_TLS_KEY;
  const ca = env.TEMPORAL_TLS_CA;
  if (!cert && !ca && env.TEMPORAL_TLS !== 'true' && !env.TEMPORAL_API_KEY) return undefined;
  return {
    ...(cert && key ? { clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) } } : {}),
    ...(ca ? { serverRootCACertificate: readFileSync(ca) } : {}),
  };
}

/** One NativeConnection serves the worker and the client (so eager workflow start can work). */
export function connect(target: TemporalTarget): Promise<NativeConnection> {
  return NativeConnection.connect({ address: target.address, tls: target.tls, apiKey: target.apiKey });
}

export function workflowUrl(target: Pick<TemporalTarget, 'uiUrl' | 'namespace'>, workflowId: string): string {
  return `${target.uiUrl}/namespaces/${encodeURIComponent(target.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
