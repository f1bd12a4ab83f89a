// Issue E.3: host keys through the CLI (hosts list / trust / forget) against real sshd nodes,
// with the real MCP server under accept-new, then under strict.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { publicKeyFingerprint } from '../../src/testcluster/clusterFiles.js';
import { restartNodeSshd } from '../../src/testcluster/localCluster.js';
import { CLI, startHarness, structured, type Harness } from '../helpers/harness.js';

interface Row {
  node: string;
  host: string;
  port: number;
  key_type: string | null;
  fingerprint: string | null;
  file: string | null;
}
interface Result {
  success: boolean;
  stdout: string;
  error: string | null;
  executed_on: string;
}

describe('hosts list / trust / forget', () => {
  let h: Harness;
  let strict: Client | undefined;
  let knownHosts: string;

  const list = async (): Promise<Row[]> => {
    const r = await h.cli(['hosts', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Row[];
  };
  const n1Rows = async () => (await list()).filter((r) => r.node === 'n1');
  const run = async (client: Client, command: string) =>
    structured<Result>(await client.callTool({ name: 'offload_to', arguments: { command, node_id: 'n1' } }));
  /** A reinstalled node: new host key, sshd restarted (which also drops pooled connections). */
  const changeHostKey = async (): Promise<string> => {
    const key = path.join(h.cluster.dir, 'n1', 'ssh_host_ed25519_key');
    rmSync(key, { force: true });
    rmSync(`${key}.pub`, { force: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    await restartNodeSshd(h.cluster.dir, 'n1');
    return publicKeyFingerprint(readFileSync(`${key}.pub`, 'utf8'));
  };

  before(async () => {
    h = await startHarness({ nodes: 1 });
    knownHosts = path.join(h.stateDir, 'known_hosts');
  });
  after(async () => {
    await strict?.close().catch(() => undefined);
    await h?.close();
  });

  it('accept-new records n1 on the first command, and hosts list shows it', async () => {
    const first = await run(h.mcp, 'id -un');
    assert.equal(first.success, true, first.error ?? '');
    const rows = await n1Rows();
    assert.equal(rows.length, 1, JSON.stringify(rows));
    const n1 = h.cluster.nodes[0]!;
    assert.deepEqual(rows[0], { node: 'n1', host: n1.host, port: n1.port, key_type: 'ssh-ed25519', fingerprint: n1.hostKeyFingerprint, file: knownHosts });
    const human = await h.cli(['hosts', 'list']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      new RegExp(`n1.*\\[${n1.host.replace(/\./g, '\\.')}\\]:${n1.port}.*ssh-ed25519.*${n1.hostKeyFingerprint.replace(/[+/]/g, '\\$&')}`),
    );
    assert.match(human.stdout, /host key policy: accept-new/);
  });

  it('a changed key is refused; hosts forget n1 lets the next command record the new key', async () => {
    const old = h.cluster.nodes[0]!.hostKeyFingerprint;
    const fresh = await changeHostKey();
    const refused = await run(h.mcp, 'echo should-not-run');
    assert.equal(refused.success, false);
    assert.equal(refused.stdout, '');
    assert.ok(refused.error?.includes(old) && refused.error.includes(fresh), refused.error ?? '');
    assert.match(refused.error ?? '', /cluster-router hosts forget n1/);

    const forget = await h.cli(['hosts', 'forget', 'n1']);
    assert.equal(forget.code, 0, forget.stderr);
    assert.match(forget.stdout, /n1: removed 1 key line/);
    assert.doesNotMatch(readFileSync(knownHosts, 'utf8'), new RegExp(`:${h.cluster.nodes[0]!.port} `));
    const again = await run(h.mcp, 'echo accepted');
    assert.equal(again.success, true, again.error ?? '');
    assert.equal(again.stdout, 'accepted\n');
    assert.deepEqual(
      (await n1Rows()).map((r) => r.fingerprint),
      [fresh],
    );
  });

  it('strict: an unknown node is refused with how to trust it; hosts trust n1 lets it in', async () => {
    const forget = await h.cli(['hosts', 'forget', 'n1']);
    assert.equal(forget.code, 0, forget.stderr);
    assert.deepEqual(
      (await n1Rows()).map((r) => r.fingerprint),
      [null],
    );
    // One worker at a time on these queues: stop the accept-new server, start a strict one.
    await h.mcp.close();
    strict = new Client({ name: 'hosts-e2e-strict', version: '1.0.0' });
    await strict.connect(
      new StdioClientTransport({ command: process.execPath, args: [CLI, 'serve'], env: { ...h.env, CLUSTER_HOST_KEY_POLICY: 'strict' }, stderr: 'ignore' }),
    );

    const refused = await run(strict, 'echo should-not-run');
    assert.equal(refused.success, false);
    assert.equal(refused.stdout, '');
    assert.match(refused.error ?? '', /not known and the host key policy is strict/);
    assert.match(refused.error ?? '', /cluster-router hosts trust n1/);
    assert.deepEqual(
      (await n1Rows()).map((r) => r.fingerprint),
      [null],
      'strict must not record the key',
    );

    const current = publicKeyFingerprint(readFileSync(path.join(h.cluster.dir, 'n1', 'ssh_host_ed25519_key.pub'), 'utf8'));
    const trust = await h.cli(['hosts', 'trust', 'n1']);
    assert.equal(trust.code, 0, trust.stderr);
    assert.match(trust.stdout, /previous key: none/);
    assert.ok(trust.stdout.includes(`now trusted: ssh-ed25519 ${current}`), trust.stdout);
    const ok = await run(strict, 'echo trusted');
    assert.equal(ok.success, true, ok.error ?? '');
    assert.equal(ok.stdout, 'trusted\n');

    const twice = await h.cli(['hosts', 'trust', 'n1']);
    assert.equal(twice.code, 0, twice.stderr);
    assert.match(twice.stdout, /already trusted; nothing changed/);
    assert.equal((await n1Rows()).length, 1);
  });

  it('strict: hosts trust replaces a changed key and prints both fingerprints', async () => {
    assert.ok(strict, 'needs the strict server of the previous test');
    const [before] = await n1Rows();
    const fresh = await changeHostKey();
    const refused = await run(strict, 'echo should-not-run');
    assert.equal(refused.success, false);
    assert.match(refused.error ?? '', /changed/);
    const trust = await h.cli(['hosts', 'trust', 'n1']);
    assert.equal(trust.code, 0, trust.stderr);
    assert.ok(trust.stdout.includes(`previous key: ssh-ed25519 ${before!.fingerprint}`), trust.stdout);
    assert.ok(trust.stdout.includes(`now trusted: ssh-ed25519 ${fresh}`), trust.stdout);
    assert.deepEqual(
      (await n1Rows()).map((r) => r.fingerprint),
      [fresh],
    );
    const ok = await run(strict, 'echo again');
    assert.equal(ok.success, true, ok.error ?? '');
  });

  it('refuses unknown and local nodes with a clear error', async () => {
    const table: Array<[string[], RegExp]> = [
      [['hosts', 'trust', 'nope'], /unknown node "nope"; known nodes: local, n1/],
      [['hosts', 'forget', 'nope'], /unknown node "nope"/],
      [['hosts', 'trust', 'local'], /local node: it runs without SSH/],
      [['hosts', 'forget', 'local'], /local node/],
    ];
    for (const [args, message] of table) {
      const r = await h.cli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace on stderr');
    }
  });
});
