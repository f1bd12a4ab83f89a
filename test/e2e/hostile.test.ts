// Issue E.2: hostile input. Malformed tool calls through the real MCP server over stdio (SDK
// client), raw JSON-RPC junk written to a second `serve` process's stdin, and the dangerous-
// command policy. Every malformed call must be an error; none may crash the server or start a
// command: every command below would leave a file in a marker dir if it ran, and the number of
// command workflows in Temporal must not move.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, startHarness, structured, type Harness } from '../helpers/harness.js';

type Args = Record<string, unknown> | undefined;
interface Outcome {
  channel: 'sdk' | 'raw';
  label: string;
  outcome: string;
}

const KiB = 1024;

/** Tool calls the schemas (or the tool) must refuse; `M` is the marker dir, filled in later. */
function sdkCases(M: string): Array<[label: string, tool: string, args: Args]> {
  const ok = { command: `touch ${M}/ran`, node_id: 'n1' };
  const off = (label: string, patch: Record<string, unknown>): [string, string, Args] => [label, 'offload_to', { ...ok, ...patch }];
  const bash = (label: string, patch: Record<string, unknown>): [string, string, Args] => [label, 'cluster_bash', { command: `touch ${M}/ran`, ...patch }];
  const cases: Array<[string, string, Args]> = [
    ['offload_to: no arguments at all', 'offload_to', undefined],
    ['offload_to: empty arguments', 'offload_to', {}],
    ['offload_to: missing command', 'offload_to', { node_id: 'n1' }],
    ['offload_to: missing node_id', 'offload_to', { command: `touch ${M}/ran` }],
    ['cluster_bash: missing command', 'cluster_bash', { requires_os: 'linux' }],
  ];
  const commands: Array<[string, unknown]> = [
    ['number', 123],
    ['boolean', true],
    ['null', null],
    ['empty array', []],
    ['array of strings', ['touch', `${M}/ran`]],
    ['object', { cmd: 'ls' }],
    ['float', 1.5],
    ['empty string', ''],
    ['spaces only', '   '],
    ['newlines only', '\n\n\t'],
    ['100 KiB', `touch ${M}/ran #${'a'.repeat(100 * KiB)}`],
    ['64 KiB + 1', `touch ${M}/ran #`.padEnd(64 * KiB + 1, 'b')],
    ['NUL byte', `touch ${M}/ran\0x`],
    ['ESC sequence', `touch ${M}/ran \x1b[2J`],
    ['BEL', `touch ${M}/ran\x07`],
    ['DEL', `touch ${M}/ran\x7f`],
    ['carriage return', `touch ${M}/ran\r`],
    ['vertical tab', `touch ${M}/ran\x0b`],
    ['OSC title', `\x1b]0;owned\x07touch ${M}/ran`],
    ['lone high surrogate', `touch ${M}/ran\ud800`],
    ['lone low surrogate', `touch ${M}/\udc00ran`],
    ['U+FFFD (bytes that were not UTF-8)', `touch ${M}/ran\ufffd`],
  ];
  for (const [label, command] of commands) cases.push(off(`offload_to: command ${label}`, { command }));
  for (const [label, command] of commands.slice(0, 12)) cases.push(bash(`cluster_bash: command ${label}`, { command }));
  const nodeIds: Array<[string, unknown]> = [
    ['../x', '../x'],
    ['n1;rm', 'n1;rm'],
    ['empty', ''],
    ['64 chars', 'n'.repeat(64)],
    ['trailing space', 'n1 '],
    ['leading space', ' n1'],
    ['newline', 'n1\n'],
    ['leading dash', '-n1'],
    ['leading underscore', '_n1'],
    ['n1/..', 'n1/..'],
    ['$(id)', '$(id)'],
    ['backticks', '`id`'],
    ['n1&&id', 'n1&&id'],
    ['fullwidth digit', 'n\uff11'],
    ['NUL', 'n1\0'],
    ['glob *', '*'],
    ['dot', '.'],
    ['list n1,n2', 'n1,n2'],
    ['number', 1],
    ['null', null],
    ['array', ['n1']],
    ['object', { id: 'n1' }],
    ['unknown node', 'nope'],
    ['wrong case', 'N1'],
    ['the local node by path', '/local'],
  ];
  for (const [label, node_id] of nodeIds) cases.push(off(`offload_to: node_id ${label}`, { node_id }));
  const envs: Array<[string, unknown]> = [
    ['name starting with a digit', { '1BAD': 'x' }],
    ['name with dash', { 'A-B': 'x' }],
    ['empty name', { '': 'x' }],
    ['name with space', { 'A B': 'x' }],
    ['name with ;', { 'PATH;rm': 'x' }],
    ['name with =', { 'A=B': 'x' }],
    ['value with NUL', { A: 'x\0y' }],
    ['number value', { A: 1 }],
    ['null value', { A: null }],
    ['65 variables', Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, 'x']))],
    ['string', 'A=1'],
    ['array', ['A=1']],
    ['33 KiB value', { A: 'x'.repeat(33 * KiB) }],
    ['129-char name', { ['A'.repeat(129)]: 'x' }],
    ['lone surrogate value', { A: '\ud800' }],
  ];
  for (const [label, env] of envs) cases.push(off(`offload_to: env ${label}`, { env }));
  const numbers: Array<[string, string, unknown]> = [
    ['timeout_s', 'negative', -1],
    ['timeout_s', 'zero', 0],
    ['timeout_s', 'tiny negative', -0.0001],
    ['timeout_s', 'huge', 1e12],
    ['timeout_s', 'a week + 1 s', 7 * 24 * 3600 + 1],
    ['timeout_s', 'string', '10'],
    ['timeout_s', 'null', null],
    ['timeout_s', 'boolean', true],
    ['wait_s', 'negative', -5],
    ['wait_s', 'huge', 1e9],
    ['wait_s', '601', 601],
    ['wait_s', 'string', 'x'],
    ['wait_s', 'array', [1]],
  ];
  for (const [field, label, value] of numbers) cases.push(off(`offload_to: ${field} ${label}`, { [field]: value }));
  const cwds: Array<[string, unknown]> = [
    ['empty', ''],
    ['newline', 'a\nb'],
    ['NUL', 'a\0b'],
    ['5000 chars', 'd'.repeat(5000)],
    ['number', 5],
    ['lone surrogate', '/tmp/\udfff'],
  ];
  for (const [label, cwd] of cwds) cases.push(off(`offload_to: cwd ${label}`, { cwd }));
  cases.push(
    off('offload_to: unknown field', { bogus: 1 }),
    off('offload_to: misspelt option timeout', { timeout: 5 }),
    off('offload_to: unknown field "constructor"', { constructor: 'x' }),
    bash('cluster_bash: unknown field', { node: 'n1' }),
    bash('cluster_bash: requires_os windows', { requires_os: 'windows' }),
    // The original's spellings in any case (Linux, x86-64) are accepted now (issue I); these are not OS/arch names at all.
    bash('cluster_bash: requires_os with a version', { requires_os: 'Linux 6.1' }),
    bash('cluster_bash: requires_os number', { requires_os: 1 }),
    bash('cluster_bash: requires_arch mips', { requires_arch: 'mips' }),
    bash('cluster_bash: requires_arch i686 (32-bit)', { requires_arch: 'i686' }),
    bash('cluster_bash: capabilities as a string', { requires_capabilities: 'docker' }),
    bash('cluster_bash: empty capability', { requires_capabilities: [''] }),
    bash('cluster_bash: capability with space', { requires_capabilities: ['a b'] }),
    bash('cluster_bash: capability number', { requires_capabilities: [1] }),
    bash('cluster_bash: 33 capabilities', { requires_capabilities: Array.from({ length: 33 }, (_, i) => `c${i}`) }),
    bash('cluster_bash: 65-char capability', { requires_capabilities: ['c'.repeat(65)] }),
    bash('cluster_bash: auto_route string', { auto_route: 'yes' }),
    bash('cluster_bash: auto_route number', { auto_route: 1 }),
    bash('cluster_bash: auto_route null', { auto_route: null }),
    ['unknown tool rm_rf', 'rm_rf', { command: 'touch x' }],
    ['unknown tool ""', '', {}],
    ['unknown tool with trailing space', 'offload_to ', ok],
    ['unknown tool ../offload_to', '../offload_to', ok],
    ['unknown tool OFFLOAD_TO', 'OFFLOAD_TO', ok],
    ['unknown tool 10 000 chars', 'x'.repeat(10_000), {}],
    ['task_status: ../../etc/passwd', 'task_status', { task_id: '../../etc/passwd' }],
    ['task_status: empty', 'task_status', { task_id: '' }],
    ['task_status: 201 chars', 'task_status', { task_id: 'c'.repeat(201) }],
    ['task_status: number', 'task_status', { task_id: 123 }],
    ['task_status: unknown id', 'task_status', { task_id: 'cmd-00000000000000000000000000' }],
    ['task_output: negative offset', 'task_output', { task_id: 'cmd-x', offset: -1 }],
    ['task_output: stream stdin', 'task_output', { task_id: 'cmd-x', stream: 'stdin' }],
    ['task_output: 2 MiB limit', 'task_output', { task_id: 'cmd-x', limit: 2 * KiB * KiB }],
    ['task_output: unknown task', 'task_output', { task_id: 'cmd-nope' }],
    ['task_cancel: unknown task', 'task_cancel', { task_id: 'cmd-nope' }],
    ['task_list: bad state', 'task_list', { state: 'bogus' }],
    ['task_list: limit 0', 'task_list', { limit: 0 }],
    ['parallel_execute: empty list', 'parallel_execute', { commands: [] }],
    ['parallel_execute: string', 'parallel_execute', { commands: `touch ${M}/ran` }],
    ['parallel_execute: one NUL command', 'parallel_execute', { commands: [`touch ${M}/ran`, 'a\0b'] }],
    ['parallel_execute: max_parallel 0', 'parallel_execute', { commands: [`touch ${M}/ran`], max_parallel: 0 }],
    ['parallel_execute: unknown field', 'parallel_execute', { commands: [`touch ${M}/ran`], node_id: 'n1' }],
    ['cluster_status: refresh string', 'cluster_status', { refresh: 'yes' }],
  );
  return cases;
}

/** Raw lines for the stdio transport: [label, bytes, id whose answer must be an error, or `ok:<id>` for a normal answer]. */
function rawCases(M: string): Array<[label: string, line: Buffer, expectId?: string | number]> {
  const call = (id: string, args: unknown, name = 'offload_to') =>
    JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
  const b = (s: string) => Buffer.from(s, 'utf8');
  let deep = '0';
  for (let i = 0; i < 50_000; i++) deep = `[${deep}]`;
  return [
    ['not JSON', b('hello, is this thing on?')],
    ['lone {', b('{')],
    ['lone }', b('}')],
    ['empty line', b('')],
    ['spaces', b('    ')],
    ['JSON null', b('null')],
    ['JSON number', b('42')],
    ['JSON string', b('"tools/call"')],
    ['empty array', b('[]')],
    ['array of numbers', b('[1,2,3]')],
    ['batch array', b(`[${call('r-batch', { command: `touch ${M}/ran`, node_id: 'n1' })}]`)],
    [
      'missing jsonrpc',
      b(JSON.stringify({ id: 'r-nojsonrpc', method: 'tools/call', params: { name: 'offload_to', arguments: { command: `touch ${M}/ran`, node_id: 'n1' } } })),
    ],
    ['jsonrpc 1.0', b(JSON.stringify({ jsonrpc: '1.0', id: 'r-v1', method: 'ping' }))],
    ['unknown method', b(JSON.stringify({ jsonrpc: '2.0', id: 'r-method', method: 'no/such/method' })), 'r-method'],
    ['method of wrong type', b(JSON.stringify({ jsonrpc: '2.0', id: 'r-method-type', method: 42 }))],
    ['tools/call without params', b(JSON.stringify({ jsonrpc: '2.0', id: 'r-noparams', method: 'tools/call' })), 'r-noparams'],
    ['id 1e400 (Infinity)', b('{"jsonrpc":"2.0","id":1e400,"method":"ping"}')],
    ['id beyond 2^53 (not a safe integer)', b('{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}')],
    ['id 2^53-1', b('{"jsonrpc":"2.0","id":9007199254740991,"method":"ping"}'), 'ok:9007199254740991'],
    ['id -2^53+1', b('{"jsonrpc":"2.0","id":-9007199254740991,"method":"ping"}'), 'ok:-9007199254740991'],
    ['id of 10 000 chars', b(JSON.stringify({ jsonrpc: '2.0', id: 'i'.repeat(10_000), method: 'ping' })), `ok:${'i'.repeat(10_000)}`],
    ['id object', b('{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}')],
    ['id null', b('{"jsonrpc":"2.0","id":null,"method":"ping"}')],
    ['params string', b(JSON.stringify({ jsonrpc: '2.0', id: 'r-pstr', method: 'tools/call', params: 'offload_to' }))],
    ['params array', b(JSON.stringify({ jsonrpc: '2.0', id: 'r-parr', method: 'tools/call', params: ['offload_to', `touch ${M}/ran`] }))],
    ['tool name number', b(JSON.stringify({ jsonrpc: '2.0', id: 'r-name', method: 'tools/call', params: { name: 5 } })), 'r-name'],
    ['arguments string', b(call('r-argstr', `touch ${M}/ran`)), 'r-argstr'],
    ['bad node id', b(call('r-node', { command: `touch ${M}/ran`, node_id: 'n1;rm' })), 'r-node'],
    [
      '__proto__ in arguments',
      b(
        `{"jsonrpc":"2.0","id":"r-proto","method":"tools/call","params":{"name":"offload_to","arguments":{"__proto__":{"node_id":"n1"},"command":"touch ${M}/ran"}}}`,
      ),
      'r-proto',
    ],
    ['1 MiB command', b(call('r-huge', { command: `touch ${M}/ran #${'z'.repeat(KiB * KiB)}`, node_id: 'n1' })), 'r-huge'],
    ['1 MiB of garbage', b('x'.repeat(KiB * KiB))],
    [
      'invalid UTF-8 in the command',
      Buffer.concat([
        b(`{"jsonrpc":"2.0","id":"r-utf8","method":"tools/call","params":{"name":"offload_to","arguments":{"command":"touch ${M}/ran`),
        Buffer.from([0xff, 0xfe, 0xc3]),
        b('","node_id":"n1"}}}'),
      ]),
      'r-utf8',
    ],
    ['invalid UTF-8 outside strings', Buffer.concat([Buffer.from([0xc0, 0xaf, 0xff]), b('{"jsonrpc":"2.0","id":"r-utf8b","method":"ping"}')])],
    ['50 000-deep nesting', b(`{"jsonrpc":"2.0","id":"r-deep","method":"ping","params":{"x":${deep}}}`)],
    ['response to nothing', b('{"jsonrpc":"2.0","id":"r-resp","result":{}}')],
    ['cancel of an unknown request', b('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"nope"}}')],
    ['read file:///etc/passwd', b(JSON.stringify({ jsonrpc: '2.0', id: 'r-file', method: 'resources/read', params: { uri: 'file:///etc/passwd' } })), 'r-file'],
    [
      'read cluster://tasks/../../etc/passwd',
      b(JSON.stringify({ jsonrpc: '2.0', id: 'r-trav', method: 'resources/read', params: { uri: 'cluster://tasks/../../etc/passwd' } })),
      'r-trav',
    ],
    ['CRLF line with a bad call', b(`${call('r-crlf', { command: '', node_id: 'n1' })}\r`), 'r-crlf'],
  ];
}

describe('hostile input never crashes the server or runs a command', () => {
  let h: Harness;
  let marker: string;
  const outcomes: Outcome[] = [];
  const commandWorkflows = async () => {
    const r = await h.temporal(['workflow', 'count', '--query', "WorkflowType='commandWorkflow'"]);
    assert.equal(r.code, 0, r.stderr);
    return Number(/Total:\s*(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  };

  before(async () => {
    h = await startHarness({ nodes: 1 });
    marker = path.join(h.dir, 'marker');
    mkdirSync(marker);
    chmodSync(marker, 0o777); // node users would be able to leave a file here
  });
  after(async () => {
    if (process.env.HOSTILE_REPORT) writeFileSync(process.env.HOSTILE_REPORT, JSON.stringify(outcomes, null, 2));
    await h?.close();
  });

  it('refuses every malformed tool call from the SDK client with an error', async () => {
    const before = await commandWorkflows();
    const cases = sdkCases(marker);
    assert.ok(cases.length >= 100, `only ${cases.length} cases`);
    for (const [label, name, args] of cases) {
      let text: string;
      try {
        const res = await h.mcp.callTool({ name, arguments: args as Record<string, unknown> });
        assert.equal(res.isError, true, `${label}: accepted: ${JSON.stringify(res).slice(0, 300)}`);
        text = (res.content as Array<{ text: string }>)[0]?.text ?? '';
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        text = `JSON-RPC error: ${(err as Error).message}`; // also an error, as long as the server lives
      }
      assert.ok(text.length > 0, `${label}: error without a message`);
      outcomes.push({ channel: 'sdk', label, outcome: text.replace(/\s+/g, ' ').slice(0, 160) });
    }
    assert.equal(await commandWorkflows(), before, 'a malformed call started a command workflow');
    assert.deepEqual(readdirSync(marker), []);
  });

  it('refuses dangerous commands with the rule name, before any workflow starts', async () => {
    const before = await commandWorkflows();
    const table: Array<[string, string, Record<string, unknown>]> = [
      ['rm-root', 'offload_to', { command: 'rm -rf /', node_id: 'n1' }],
      ['rm-root', 'cluster_bash', { command: 'rm -rf /' }],
      ['rm-root', 'cluster_bash', { command: `touch ${marker}/ran; sudo rm -rf /*` }],
      ['fork-bomb', 'offload_to', { command: ':(){ :|:& };:', node_id: 'n1' }],
      ['mkfs', 'cluster_bash', { command: 'mkfs.ext4 /dev/sda' }],
      ['dd-block-device', 'offload_to', { command: 'dd if=/dev/zero of=/dev/sda', node_id: 'n1' }],
      ['power', 'offload_to', { command: `touch ${marker}/ran && shutdown -h now`, node_id: 'n1' }],
    ];
    for (const [rule, name, args] of table) {
      const res = await h.mcp.callTool({ name, arguments: args });
      assert.equal(res.isError, true, `${args.command} was accepted`);
      const text = (res.content as Array<{ text: string }>)[0]!.text;
      assert.match(text, new RegExp(`refused by rule ${rule}`), text);
      outcomes.push({ channel: 'sdk', label: `dangerous: ${name} ${String(args.command)}`, outcome: text.slice(0, 160) });
    }
    assert.equal(await commandWorkflows(), before, 'a refused command started a workflow');
    assert.deepEqual(readdirSync(marker), []);
  });

  it("survives raw JSON-RPC junk on a serve process's stdin, answering errors where there is an id", async () => {
    const before = await commandWorkflows();
    // --no-worker: the harness's server already runs one; this process only speaks MCP.
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [CLI, 'serve', '--no-worker'], { env: h.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const replies = new Map<unknown, Record<string, unknown>>();
    const badStdout: string[] = [];
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const msg = JSON.parse(line) as Record<string, unknown>;
          if (msg.jsonrpc !== '2.0') badStdout.push(line.slice(0, 200));
          if ('id' in msg) replies.set(msg.id, msg);
        } catch {
          badStdout.push(line.slice(0, 200)); // stdout belongs to the protocol: nothing else may appear there
        }
      }
    });
    const send = (line: Buffer | string) => child.stdin.write(Buffer.concat([Buffer.from(line), Buffer.from('\n')]));
    const reply = async (id: unknown, timeoutMs = 60_000) => {
      for (const end = Date.now() + timeoutMs; Date.now() < end;) {
        if (replies.has(id)) return replies.get(id)!;
        if (child.exitCode !== null) throw new Error(`serve exited (${child.exitCode}) waiting for ${String(id)}:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no reply to ${String(id)} in ${timeoutMs} ms:\n${stderr.slice(-2000)}`);
    };
    try {
      send(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 'init',
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
        }),
      );
      await reply('init', 90_000);
      send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      const cases = rawCases(marker);
      for (const [, line] of cases) send(line);
      send(JSON.stringify({ jsonrpc: '2.0', id: 'after-junk', method: 'ping' }));
      assert.deepEqual((await reply('after-junk')).result, {});
      for (const [label, , expectId] of cases) {
        let outcome = 'no reply (dropped by the transport; server stays up)';
        if (typeof expectId === 'string' && expectId.startsWith('ok:')) {
          const raw = expectId.slice(3);
          const r = await reply(/^-?\d+$/.test(raw) ? Number(raw) : raw);
          assert.deepEqual(r.result, {}, `${label}: ${JSON.stringify(r).slice(0, 300)}`);
          outcome = 'answered normally';
        } else if (expectId !== undefined) {
          const errorId = expectId;
          const r = await reply(errorId);
          const result = r.result as { isError?: boolean; content?: Array<{ text: string }> } | undefined;
          const error = r.error as { code: number; message: string } | undefined;
          assert.ok(error || result?.isError === true, `${label}: not an error: ${JSON.stringify(r).slice(0, 300)}`);
          outcome = error ? `JSON-RPC error ${error.code}: ${error.message}` : `isError: ${result!.content?.[0]?.text}`;
        }
        outcomes.push({ channel: 'raw', label, outcome: outcome.replace(/\s+/g, ' ').slice(0, 160) });
      }
      // Still a working server: a normal call succeeds.
      send(
        JSON.stringify({ jsonrpc: '2.0', id: 'final', method: 'tools/call', params: { name: 'offload_to', arguments: { command: 'echo ok', node_id: 'n1' } } }),
      );
      const final = (await reply('final')).result as { structuredContent: { success: boolean; stdout: string } };
      assert.equal(final.structuredContent.success, true, JSON.stringify(final));
      assert.equal(final.structuredContent.stdout, 'ok\n');
      assert.equal(child.exitCode, null, 'serve exited');
      assert.deepEqual(badStdout, [], 'non-protocol output on stdout');
    } finally {
      child.stdin.end();
      if (child.exitCode === null)
        await new Promise((r) => {
          child.once('exit', r);
          setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
        });
    }
    assert.equal(await commandWorkflows(), before + 1, 'only the final, valid call may start a workflow');
    assert.deepEqual(readdirSync(marker), []);
  });

  it("the harness's server is still up and runs a normal call", async () => {
    const r = structured<{ success: boolean; stdout: string; executed_on: string }>(
      await h.mcp.callTool({ name: 'offload_to', arguments: { command: 'echo ok', node_id: 'n1' } }),
    );
    assert.equal(r.success, true);
    assert.equal(r.executed_on, 'n1');
    assert.equal(r.stdout, 'ok\n');
    assert.doesNotMatch(h.serverStderr(), /uncaught|unhandled/i);
  });
});
