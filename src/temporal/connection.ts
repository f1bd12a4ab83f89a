// Which Temporal server to use: TEMPORAL_ADDRESS (a real cluster) or the embedded dev server.
import { readFileSync } from 'node:fs';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { ensureEmbeddedServer, type EmbeddedServer } from './embedded.js';
import { codecPortOf } from './codecPort.js';
import { TemporalSetupError } from './errors.js';

export { TemporalSetupError } from './errors.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Web UI base for workflow deep links: for the embedded server, serve's proxy that decodes payloads for the owner. */
  uiUrl: string;
  /** The Temporal Web UI itself (shows payloads encrypted), when known. */
  rawUiUrl?: string;
  /** Where serve answers the codec protocol (and proxies the embedded server's UI). */
  codecPort: number;
  tls?: NativeConnectionOptions['tls'];
  apiKey?: string;
  embedded?: EmbeddedServer;
}

export async function resolveTemporal(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<TemporalTarget> {
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  if (env.TEMPORAL_ADDRESS) {
    const host = env.TEMPORAL_ADDRESS.replace(/:\d+$/, '');
    const uiUrl = (env.TEMPORAL_UI_URL || `http://${host}:8233`).replace(/\/$/, '');
    return {
      address: env.TEMPORAL_ADDRESS,
      namespace,
      uiUrl,
      rawUiUrl: uiUrl,
      codecPort: await codecPortOf(stateDir, env),
      tls: tlsFromEnv(env),
      apiKey: env.TEMPORAL_API_KEY || undefined,
    };
  }
  const embedded = await ensureEmbeddedServer(stateDir, env);
  const uiUrl = (env.TEMPORAL_UI_URL || `http://127.0.0.1:${embedded.codecPort}`).replace(/\/$/, '');
  return { address: embedded.address, namespace, uiUrl, rawUiUrl: embedded.uiUrl, codecPort: embedded.codecPort, embedded };
}

/** TEMPORAL_TLS_CERT / _KEY (mTLS), TEMPORAL_TLS_CA, or TEMPORAL_TLS=true for system roots. */
export function tlsFromEnv(env: NodeJS.ProcessEnv): NativeConnectionOptions['tls'] {
  const cert = env.TEMPORAL_TLS_CERT;
  const key = env.TEMPORAL_TLS_KEY;
  const ca = env.TEMPORAL_TLS_CA;
  if (!cert && !ca && env.TEMPORAL_TLS !== 'true' && !env.TEMPORAL_API_KEY) return undefined;
  return {
    ...(cert && key ? { clientCertPair: { crt: readFileSync(cert), key: readFileSync(key) } } : {}),
    ...(ca ? { serverRootCACertificate: readFileSync(ca) } : {}),
  };
}

/** "Connection refused" out of tonic's `ConnectError("tcp connect error", ..., Os { ... message: "Connection refused" })`. */
export function transportCause(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const os = /message: "([^"]+)"/.exec(text)?.[1];
  if (os) return os.toLowerCase();
  if (/dns error|failed to lookup/i.test(text)) return 'the host name does not resolve';
  if (/timed? ?out|deadline/i.test(text)) return 'no answer (timed out)';
  if (/tls|certificate|handshake/i.test(text)) return `TLS handshake failed (${text.slice(0, 160)})`;
  return text.split('\n')[0]!.slice(0, 200);
}

/** One NativeConnection serves the worker and the client (so eager workflow start can work). */
export async function connect(target: TemporalTarget): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ address: target.address, tls: target.tls, apiKey: target.apiKey });
  } catch (err) {
    const where = target.embedded ? 'the embedded Temporal server' : 'the Temporal server named by TEMPORAL_ADDRESS';
    const fix = target.embedded
      ? `fix: see ${target.embedded.logFile}; if the server died, the next command starts it again`
      : 'fix: start that server, correct TEMPORAL_ADDRESS (host:port of its frontend, usually port 7233), or unset TEMPORAL_ADDRESS to use the embedded dev server';
    throw new TemporalSetupError(`cannot reach ${where} at ${target.address}: ${transportCause(err)}; ${fix}`, { cause: err });
  }
}

export function workflowUrl(target: Pick<TemporalTarget, 'uiUrl' | 'namespace'>, workflowId: string): string {
  return `${target.uiUrl}/namespaces/${encodeURIComponent(target.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
