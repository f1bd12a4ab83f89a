// MCP over Streamable HTTP (SDK v1), stateful: one McpServer + transport per session.
// The server can run commands on every node, so the port is guarded like a shell: bound to
// loopback by default, Host and Origin checked before anything else (a web page must not reach
// it through DNS rebinding), then a bearer token compared in constant time.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import path from 'node:path';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { App } from '../app.js';
import { clusterflowEnv } from '../env.js';
import { log } from '../log.js';
import { buildServer } from './server.js';

export const MCP_PATH = '/mcp';
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_SESSIONS = 64;
/** A session with no open stream and no request for this long is closed (clients that never DELETE). */
const SESSION_IDLE_MS = 30 * 60_000;
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export interface HttpOptions {
  port: number;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Bearer token; default CLUSTERFLOW_HTTP_TOKEN, then <stateDir>/http-token (created when absent). */
  token?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunningHttp {
  url: string;
  port: number;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** The token to require, and where it came from (for the startup message: never the token itself). */
export function resolveToken(stateDir: string, explicit: string | undefined, env: NodeJS.ProcessEnv): { token: string; source: string } {
  if (explicit) return { token: explicit, source: '--token' };
  const fromEnv = clusterflowEnv(env).httpToken;
  if (fromEnv) return { token: fromEnv, source: 'CLUSTERFLOW_HTTP_TOKEN' };
  const file = path.join(stateDir, 'http-token');
  try {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved.length >= 32) {
      chmodSync(file, 0o600); // tighten a file someone copied in with looser bits
      return { token: saved, source: file };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing (too short) file keeps its old mode otherwise
  return { token, source: file };
}

/** Host header must name this server as a loopback client would (or the specific bind address). */
export function hostAllowed(hostHeader: string | undefined, port: number, bindHost: string): boolean {
  if (!hostHeader) return false;
  const allowed = new Set(LOOPBACK_NAMES.map((h) => `${h}:${port}`));
  const wildcard = bindHost === '0.0.0.0' || bindHost === '::' || bindHost === '[::]';
  if (!wildcard && !isLoopback(bindHost)) allowed.add(`${isIP(bindHost) === 6 ? `[${bindHost}]` : bindHost}:${port}`.toLowerCase());
  return allowed.has(hostHeader.toLowerCase());
}

/** No Origin (not a browser) or a page served from this machine's loopback names. */
export function originAllowed(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    LOOPBACK_NAMES.includes(url.hostname) &&
    url.pathname === '/' &&
    !url.username &&
    !url.password &&
    origin === url.origin
  );
}

/** Constant-time: compare digests, so neither length nor content leaks through timing. */
export function tokenMatches(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}
const rpcError = (code: number, message: string) => ({ jsonrpc: '2.0', error: { code, message }, id: null });

function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        resolve('too-large');
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  openResponses: number;
  lastActive: number;
}

export async function serveHttp(app: App, opts: HttpOptions): Promise<RunningHttp> {
  const env = opts.env ?? process.env;
  const bindHost = opts.host ?? '127.0.0.1';
  const { token, source } = resolveToken(app.stateDir, opts.token, env);
  if (token.length < 16) log.warn('the HTTP bearer token is shorter than 16 characters: easy to guess');
  if (!isLoopback(bindHost)) {
    log.warn(
      { host: bindHost },
      'MCP HTTP server bound to a non-loopback address: anyone who can reach it and has the token can run commands on every node; prefer an SSH tunnel or a reverse proxy with TLS. Clients must send Host: 127.0.0.1/localhost/[::1] or the --host address, with the port',
    );
  }
  const sessions = new Map<string, Session>();
  let port = opts.port;

  const track = (s: Session, res: ServerResponse) => {
    s.openResponses++;
    s.lastActive = Date.now();
    res.once('close', () => {
      s.openResponses--;
      s.lastActive = Date.now();
    });
  };

  async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    const session = typeof sid === 'string' ? sessions.get(sid) : undefined;
    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req);
      if (raw === 'too-large') return sendJson(res, 413, rpcError(-32600, `request body larger than ${MAX_BODY_BYTES} bytes`), { connection: 'close' });
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return sendJson(res, 400, rpcError(-32700, 'Parse error: the body is not JSON'));
      }
    }
    if (session) {
      track(session, res);
      return session.transport.handleRequest(req, res, body);
    }
    if (sid !== undefined) return sendJson(res, 404, rpcError(-32001, 'Session not found: start a new one with initialize'));
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return sendJson(res, 400, rpcError(-32000, 'Bad Request: no valid session id (send initialize first)'));
    }
    if (sessions.size >= MAX_SESSIONS) return sendJson(res, 503, rpcError(-32000, 'Too many open sessions'));
    const server = buildServer(app);
    const created: Session = { transport: undefined as never, server, openResponses: 0, lastActive: Date.now() };
    created.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, created);
      },
    });
    created.transport.onclose = () => {
      const id = created.transport.sessionId;
      if (id) sessions.delete(id);
    };
    await server.connect(created.transport);
    track(created, res);
    await created.transport.handleRequest(req, res, body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: refuse before authentication, so a rebinding page learns nothing.
    if (!hostAllowed(req.headers.host, port, bindHost)) return sendJson(res, 403, rpcError(-32000, 'Forbidden: Host header not allowed'));
    if (!originAllowed(req.headers.origin)) return sendJson(res, 403, rpcError(-32000, 'Forbidden: Origin not allowed'));
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz' && req.method === 'GET') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (url.pathname !== MCP_PATH) return sendJson(res, 404, { error: `not found; the MCP endpoint is ${MCP_PATH}` });
    const auth = req.headers.authorization ?? '';
    const given = /^Bearer +(\S+)\s*$/i.exec(auth)?.[1];
    if (!given) return sendJson(res, 401, { error: 'missing bearer token' }, { 'www-authenticate': 'Bearer realm="clusterflow"' });
    if (!tokenMatches(given, token)) {
      return sendJson(res, 401, { error: 'invalid bearer token' }, { 'www-authenticate': 'Bearer realm="clusterflow", error="invalid_token"' });
    }
    if (!['POST', 'GET', 'DELETE'].includes(req.method ?? ''))
      return sendJson(res, 405, rpcError(-32000, 'Method not allowed'), { allow: 'GET, POST, DELETE' });
    await handleMcp(req, res);
  }

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: String(err) }, 'MCP HTTP request failed');
      sendJson(res, 500, rpcError(-32603, 'Internal server error'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, bindHost, () => {
      http.off('error', reject);
      resolve();
    });
  });
  port = (http.address() as { port: number }).port;
  const shownHost = isIP(bindHost) === 6 ? `[${bindHost}]` : bindHost;
  const endpoint = `http://${shownHost}:${port}${MCP_PATH}`;

  const sweeper = setInterval(() => {
    const cutoff = Date.now() - SESSION_IDLE_MS;
    for (const s of sessions.values()) if (s.openResponses === 0 && s.lastActive < cutoff) void s.transport.close();
  }, 60_000);
  sweeper.unref();

  // The token stays off stdout and out of logs: say only where it comes from.
  process.stderr.write(`clusterflow: MCP Streamable HTTP on ${endpoint} (bearer token from ${source})\n`);
  return {
    url: endpoint,
    port,
    async close() {
      clearInterval(sweeper);
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections(); // open SSE streams would hold close() forever
      await closed;
    },
  };
}
