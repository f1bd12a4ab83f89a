// The owner's window onto encrypted Temporal data. serve runs one HTTP server on loopback that
//   - answers Temporal's remote codec protocol (POST …/encode, …/decode) for the `temporal` CLI
//     (--codec-endpoint, --codec-auth "Bearer <token>") and the Web UI;
//   - proxies the Temporal Web UI, so the UI loaded from here calls the codec on its own origin
//     with the owner's cookie (the embedded server is started with --ui-codec-endpoint pointing
//     here). The UI's own port shows only ciphertext.
// Every request needs the token of <state dir>/ui-token (0600): as `Authorization: Bearer`, or
// as the HttpOnly cookie that GET /login?token=… sets (`cluster-router ui` prints that link).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { log } from '../log.js';

export const UI_TOKEN_FILE = 'ui-token';
const COOKIE = 'clusterflow_ui';
const MAX_BODY = 8 * 1024 * 1024;
/** Another serve of this state dir holds the port: try again this often, to take over when it exits. */
const RETRY_BIND_MS = 5000;

export interface CodecServerOptions {
  codec: PayloadCodec;
  token: string;
  port: number;
  /** The Temporal Web UI to proxy (http://127.0.0.1:8233), when there is one on this machine. */
  uiUpstream?: string;
}

export interface CodecServer {
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** The UI token of this state dir, created (0600) on first use. */
export function uiToken(stateDir: string): string {
  const file = path.join(stateDir, UI_TOKEN_FILE);
  if (!existsSync(file)) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, randomBytes(24).toString('base64url'));
      closeSync(fd);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return readFileSync(file, 'utf8').trim();
}

/** Serve on 127.0.0.1:port; when the port is taken (another serve of this state dir has it), keep trying in the background. */
export function startCodecServer(opts: CodecServerOptions): CodecServer {
  const server = http.createServer((req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      log.warn({ err: String(err) }, 'codec server request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const listen = () => server.listen(opts.port, '127.0.0.1');
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE' || closed) return void log.warn({ err: String(err) }, 'codec server error');
    retry = setTimeout(listen, RETRY_BIND_MS);
    retry.unref();
  });
  server.on('listening', () => log.info({ url: `http://127.0.0.1:${opts.port}` }, 'codec endpoint and Web UI proxy'));
  listen();
  return {
    url: `http://127.0.0.1:${opts.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        clearTimeout(retry);
        if (!server.listening) return resolve();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(opts: CodecServerOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (url.pathname === '/login') return login(opts, url, res);
  if (req.method === 'OPTIONS') return void res.writeHead(204, corsHeaders(req)).end();
  if (!authorized(opts.token, req)) {
    res.writeHead(401, { 'content-type': 'text/plain', ...corsHeaders(req) });
    return void res.end(
      'clusterflow: not authorized. Send "Authorization: Bearer <token>" (the token is in the state dir, file ui-token), or open the link `cluster-router ui` prints.\n',
    );
  }
  const last = url.pathname.split('/').filter(Boolean).pop();
  if (req.method === 'POST' && (last === 'encode' || last === 'decode')) return codecCall(opts.codec, last, req, res);
  if (!opts.uiUpstream) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no Temporal Web UI on this machine to show\n');
  return proxy(opts.uiUpstream, req, res);
}

function login(opts: CodecServerOptions, url: URL, res: http.ServerResponse): void {
  if (!sameToken(opts.token, url.searchParams.get('token') ?? ''))
    return void res.writeHead(401, { 'content-type': 'text/plain' }).end('clusterflow: wrong token\n');
  const next = url.searchParams.get('next') ?? '/';
  res.writeHead(302, {
    'set-cookie': `${COOKIE}=${opts.token}; HttpOnly; SameSite=Strict; Path=/`,
    // Only paths of this server: never an open redirect.
    location: next.startsWith('/') && !next.startsWith('//') ? next : '/',
  });
  res.end();
}

function authorized(token: string, req: http.IncomingMessage): boolean {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (bearer !== undefined) return sameToken(token, bearer);
  const cookie = (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim().split('='))
    .find(([k]) => k === COOKIE)?.[1];
  return cookie !== undefined && sameToken(token, cookie);
}

function sameToken(want: string, got: string): boolean {
  const a = Buffer.from(want);
  const b = Buffer.from(got);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The Web UI calls the codec from its own origin; the `temporal` CLI sends no Origin. */
function corsHeaders(req: http.IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(origin)) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-allow-headers': 'content-type, x-namespace, authorization',
    'access-control-allow-methods': 'POST, OPTIONS',
    vary: 'origin',
  };
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

async function codecCall(codec: PayloadCodec, op: 'encode' | 'decode', req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return void res.writeHead(413, corsHeaders(req)).end();
    chunks.push(chunk as Buffer);
  }
  let body: { payloads?: JsonPayload[] };
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
  } catch {
    return void res.writeHead(400, { 'content-type': 'text/plain', ...corsHeaders(req) }).end('body is not JSON\n');
  }
  const payloads: Payload[] = (body.payloads ?? []).map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  }));
  const out = op === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
  const json = out.map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  }));
  res.writeHead(200, { 'content-type': 'application/json', ...corsHeaders(req) });
  res.end(JSON.stringify({ payloads: json }));
}

function proxy(upstream: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const target = new URL(req.url ?? '/', upstream);
  const headers = { ...req.headers, host: target.host };
  // The upstream sees no credentials of ours.
  delete headers.cookie;
  delete headers.authorization;
  const up = http.request(target, { method: req.method, headers }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`clusterflow: the Temporal Web UI at ${upstream} did not answer (${err.message})\n`);
  });
  req.pipe(up);
}
