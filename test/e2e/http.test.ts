// Issue E.1/E.4: MCP over Streamable HTTP, guarded by Host/Origin checks and a bearer token,
// driven by the real SDK client and by raw requests; and the cluster:// resources.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { hostAllowed, isLoopback, originAllowed, resolveToken, tokenMatches } from '../../src/mcp/http.js';
import { CLI, startHarness, structured, type Harness } from '../helpers/harness.js';

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** The SDK client's StreamableHTTPError carries the HTTP status as `code`. */
const httpStatus = (status: number) => (err: unknown) => (err as { code?: number }).code === status;

/** Raw request with full control of the Host header (fetch does not allow setting it). */
function rawPost(port: number, headers: Record<string, string>, body: unknown): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { ...MCP_HEADERS, ...headers } }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => {
        text += b.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      // An accepted initialize opens an SSE stream: the status is all we need.
      if (res.statusCode === 200) {
        res.destroy();
        resolve({ status: 200, headers: res.headers, body: '' });
      }
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('HTTP guards (pure functions)', () => {
  it('accepts only loopback Host values on the right port', () => {
    const table: Array<[string | undefined, string, boolean]> = [
      ['127.0.0.1:8080', '127.0.0.1', true],
      ['localhost:8080', '127.0.0.1', true],
      ['[::1]:8080', '127.0.0.1', true],
      ['LOCALHOST:8080', '127.0.0.1', true],
      ['127.0.0.1:8081', '127.0.0.1', false],
      ['127.0.0.1', '127.0.0.1', false],
      ['evil.example:8080', '127.0.0.1', false],
      [undefined, '127.0.0.1', false],
      ['localhost.evil.example:8080', '127.0.0.1', false],
      ['myhost.lan:8080', 'myhost.lan', true],
      ['myhost.lan:8080', '0.0.0.0', false],
      ['[fd00::5]:8080', 'fd00::5', true],
    ];
    for (const [host, bind, ok] of table) assert.equal(hostAllowed(host, 8080, bind), ok, `${host} bound to ${bind}`);
  });

  it('accepts no Origin or a loopback page, nothing else', () => {
    const table: Array<[string | undefined, boolean]> = [
      [undefined, true],
      ['http://localhost', true],
      ['http://localhost:5173', true],
      ['https://127.0.0.1:8443', true],
      ['http://[::1]:3000', true],
      ['http://evil.example', false],
      ['null', false],
      ['http://localhost.evil.example', false],
      ['file://localhost', false],
      ['http://127.0.0.1.nip.io', false],
      ['http://user@localhost', false],
      ['http://localhost/path', false],
      ['', false],
    ];
    for (const [origin, ok] of table) assert.equal(originAllowed(origin), ok, String(origin));
  });

  it('isLoopback and the constant-time token compare', () => {
    for (const h of ['127.0.0.1', '127.3.4.5', 'localhost', '::1', '[::1]']) assert.equal(isLoopback(h), true, h);
    for (const h of ['0.0.0.0', '::', '192.0.2.1', 'example.org']) assert.equal(isLoopback(h), false, h);
    assert.equal(tokenMatches('abc', 'abc'), true);
    assert.equal(tokenMatches('abd', 'abc'), false);
    assert.equal(tokenMatches('abc', 'abcd'), false);
  });

  it('generates a 32-byte token into <state>/http-token (mode 600) and reuses it; flag and env win', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-token-'));
    try {
      const first = resolveToken(dir, undefined, {});
      assert.equal(first.source, path.join(dir, 'http-token'));
      assert.equal(Buffer.from(first.token, 'base64url').length, 32);
      assert.equal(statSync(first.source).mode & 0o777, 0o600);
      assert.equal(resolveToken(dir, undefined, {}).token, first.token);
      assert.deepEqual(resolveToken(dir, undefined, { CLUSTERFLOW_HTTP_TOKEN: 'from-env-0123456789' }), {
        token: 'from-env-0123456789',
        source: 'CLUSTERFLOW_HTTP_TOKEN',
      });
      assert.deepEqual(resolveToken(dir, 'from-flag-0123456789', { CLUSTERFLOW_HTTP_TOKEN: 'x' }), { token: 'from-flag-0123456789', source: '--token' });
      writeFileSync(first.source, 'short\n', { mode: 0o644 }); // a truncated file is replaced, not trusted
      const fresh = resolveToken(dir, undefined, {});
      assert.notEqual(fresh.token, 'short');
      assert.equal(statSync(first.source).mode & 0o777, 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('serve --http: Streamable HTTP MCP server', () => {
  let h: Harness;
  let server: ChildProcess;
  let stdout = '';
  let stderr = '';
  let port = 0;
  let url = '';
  let token = '';
  const clients: Client[] = [];

  const connect = async (headers: Record<string, string>) => {
    const client = new Client({ name: 'http-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
    clients.push(client);
    return client;
  };

  before(async () => {
    h = await startHarness({ nodes: 1, mcp: false });
    server = spawn(process.execPath, [CLI, 'serve', '--http', '0'], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`serve --http did not start in 90 s:\n${stderr}`)), 90_000);
      server.on('exit', (code) => reject(new Error(`serve --http exited (${code}):\n${stderr}`)));
      server.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /MCP Streamable HTTP on (http:\/\/127\.0\.0\.1:(\d+)\/mcp)/.exec(stderr);
        if (m) {
          url = m[1]!;
          port = Number(m[2]);
          clearTimeout(t);
          resolve();
        }
      });
    });
    token = readFileSync(path.join(h.stateDir, 'http-token'), 'utf8').trim();
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      const t = setTimeout(() => server.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    await h?.close();
  });

  it('keeps the token in a mode-600 file and off stdout and stderr', () => {
    assert.equal(Buffer.from(token, 'base64url').length, 32);
    assert.equal(statSync(path.join(h.stateDir, 'http-token')).mode & 0o777, 0o600);
    assert.match(stderr, new RegExp(`bearer token from ${path.join(h.stateDir, 'http-token').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.ok(!stdout.includes(token) && !stderr.includes(token), 'token leaked to the output');
  });

  it('no token: 401 with WWW-Authenticate: Bearer (raw fetch and SDK client)', async () => {
    const res = await fetch(url, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify(INIT) });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
    await assert.rejects(connect({}), httpStatus(401));
    const basic = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` },
      body: JSON.stringify(INIT),
    });
    assert.equal(basic.status, 401);
  });

  it('wrong token: 401 invalid_token (raw fetch and SDK client)', async () => {
    for (const wrong of [token.slice(0, -1), `${token}x`, 'a', token.toUpperCase()]) {
      const res = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${wrong}` }, body: JSON.stringify(INIT) });
      assert.equal(res.status, 401, wrong);
      assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
    }
    await assert.rejects(connect({ authorization: 'Bearer not-the-token' }), httpStatus(401));
  });

  it('a foreign Origin is 403 even with the right token', async () => {
    for (const origin of ['http://evil.example', 'null', `http://localhost.evil.example:${port}`]) {
      const res = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, origin }, body: JSON.stringify(INIT) });
      assert.equal(res.status, 403, origin);
      assert.match(await res.text(), /Origin/);
    }
    await assert.rejects(connect({ authorization: `Bearer ${token}`, origin: 'http://evil.example' }), httpStatus(403));
  });

  it('a foreign Host is 403 even with the right token (DNS rebinding)', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1:${port + 1}`, `localhost.evil.example:${port}`]) {
      const res = await rawPost(port, { authorization: `Bearer ${token}`, host }, INIT);
      assert.equal(res.status, 403, host);
    }
    // The same request with loopback names is accepted: the 403s above are the Host check.
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      assert.equal((await rawPost(port, { authorization: `Bearer ${token}`, host }, INIT)).status, 200, host);
    }
  });

  it('healthz answers without a token; other paths and methods are refused', async () => {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok\n');
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`, { headers: { authorization: `Bearer ${token}` } })).status, 404);
    assert.equal((await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${token}` } })).status, 405);
    const notJson = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: '{not json' });
    assert.equal(notJson.status, 400);
    const noSession = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    assert.equal(noSession.status, 400);
    const unknownSession = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, 'mcp-session-id': 'nope' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    assert.equal(unknownSession.status, 404);
  });

  it('with the token, the SDK client runs offload_to on n1, in its own session', async () => {
    const a = await connect({ authorization: `Bearer ${token}` });
    const b = await connect({ authorization: `Bearer ${token}`, origin: `http://localhost:${port}` });
    const r = structured<{ success: boolean; stdout: string; executed_on: string }>(
      await a.callTool({ name: 'offload_to', arguments: { command: 'id -un', node_id: 'n1' } }),
    );
    assert.equal(r.success, true);
    assert.equal(r.executed_on, 'n1');
    assert.equal(r.stdout.trim(), h.cluster.nodes[0]!.user);
    const tools = await b.listTools();
    assert.ok(tools.tools.some((t) => t.name === 'cluster_bash'));
    const ta = a.transport as StreamableHTTPClientTransport;
    const tb = b.transport as StreamableHTTPClientTransport;
    assert.ok(ta.sessionId && tb.sessionId && ta.sessionId !== tb.sessionId);
    // Ending one session leaves the other working; the ended id is then unknown.
    const ended = ta.sessionId!;
    await ta.terminateSession();
    const gone = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, 'mcp-session-id': ended },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }),
    });
    assert.equal(gone.status, 404);
    assert.ok((await b.listTools()).tools.length > 0);
  });

  it('resources: cluster://nodes and cluster://tasks/{task_id}', async () => {
    const c = await connect({ authorization: `Bearer ${token}` });
    const ran = structured<{ task_id: string }>(await c.callTool({ name: 'offload_to', arguments: { command: 'echo resource-check', node_id: 'n1' } }));
    const listed = await c.listResources();
    assert.ok(listed.resources.some((r) => r.uri === 'cluster://nodes'));
    assert.ok(
      listed.resources.some((r) => r.uri === `cluster://tasks/${ran.task_id}`),
      'recent task not listed',
    );
    const templates = await c.listResourceTemplates();
    assert.ok(templates.resourceTemplates.some((t) => t.uriTemplate === 'cluster://tasks/{task_id}'));

    const nodes = await c.readResource({ uri: 'cluster://nodes' });
    const status = JSON.parse((nodes.contents[0] as { text: string }).text) as { local_node: string; nodes: Record<string, { status: string }> };
    assert.equal(status.local_node, 'local');
    assert.deepEqual(Object.keys(status.nodes).sort(), ['local', 'n1']);
    assert.equal(nodes.contents[0]!.mimeType, 'application/json');

    const task = await c.readResource({ uri: `cluster://tasks/${ran.task_id}` });
    const t = JSON.parse((task.contents[0] as { text: string }).text) as { task_id: string; state: string; stdout: string };
    assert.equal(t.task_id, ran.task_id);
    assert.equal(t.state, 'completed');
    assert.equal(t.stdout, 'resource-check\n');
    await assert.rejects(c.readResource({ uri: 'cluster://tasks/cmd-0000000000aaaaaaaaaaaaaaaa' }), /no task with id/);
    await assert.rejects(c.readResource({ uri: 'cluster://tasks/..%2F..%2Fetc' }), /not a task id/);
  });

  it('SIGTERM closes the sessions and exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000).unref())]);
    assert.equal(code, 0, stderr.slice(-2000));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });
});
