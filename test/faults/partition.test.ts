// Fault: a network partition. Node n1's sshd runs in a network namespace of our own, reached
// over a veth pair on link-local addresses; the partition is an iptables DROP inside the
// namespace, so packets vanish silently (no RST, unlike a dead sshd): only timeouts and SSH
// keepalives can notice. A short partition must be invisible; a long one must end the task
// with a reason and without running the command a second time (it keeps running on n1).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { CommandResult } from '../../src/shared.js';
import { faultSummary, lastAttempt, resultOf, sleep, startFaultHarness, startTask, temporalClient, waitFor, type FaultHarness } from '../helpers/faults.js';

const run = promisify(execFile);
const tag = randomBytes(3).toString('hex');
const NS = `cfpart-${tag}`;
const VETH_HOST = `cfp${tag}h`;
const VETH_NS = `cfp${tag}n`;
const SUBNET = randomInt(1, 255);
const NODE_ADDR = `169.254.${SUBNET}.2`;
const dropRule = ['netns', 'exec', NS, 'iptables', '-w', '-I', 'INPUT', '-i', VETH_NS, '-j', 'DROP'];

async function ip(args: string[]): Promise<void> {
  await run('ip', args);
}

// Namespaces and iptables need root (and iproute2); elsewhere the file skips.
const canPartition = process.getuid?.() === 0 && existsSync('/usr/sbin/ip') && existsSync('/usr/sbin/iptables');

describe('faults: network partition (netns + veth, silent drops)', { skip: !canPartition && 'needs root, ip and iptables' }, () => {
  let h: FaultHarness;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let sshd: ChildProcess | undefined;
  let home = '';
  const counts = { tasks: 0, lost: 0, duplicated: 0, stray: 0 };

  before(async () => {
    await ip(['netns', 'add', NS]);
    await ip(['link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS]);
    await ip(['link', 'set', VETH_NS, 'netns', NS]);
    await ip(['addr', 'add', `169.254.${SUBNET}.1/30`, 'dev', VETH_HOST]);
    await ip(['link', 'set', VETH_HOST, 'up']);
    await ip(['netns', 'exec', NS, 'ip', 'addr', 'add', `${NODE_ADDR}/30`, 'dev', VETH_NS]);
    await ip(['netns', 'exec', NS, 'ip', 'link', 'set', VETH_NS, 'up']);
    await ip(['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    h = await startFaultHarness({ nodes: 1, extraNodeYaml: { n1: { host: NODE_ADDR, port: 22 } } });
    // n1's own sshd config (user, keys), listening inside the namespace instead.
    const nodeDir = path.join(h.cluster.dir, 'n1');
    const config = (await readFile(path.join(nodeDir, 'sshd_config'), 'utf8'))
      .replace(/^ListenAddress .*$/m, `ListenAddress ${NODE_ADDR}:22`)
      .replace(/^PidFile .*$/m, `PidFile ${path.join(nodeDir, 'netns-sshd.pid')}`);
    const configPath = path.join(nodeDir, 'netns_sshd_config');
    await writeFile(configPath, config, { mode: 0o644 });
    const log = path.join(nodeDir, 'netns-sshd.log');
    sshd = spawn('ip', ['netns', 'exec', NS, '/usr/sbin/sshd', '-D', '-f', configPath, '-E', log], { stdio: 'ignore' });
    await waitFor('sshd in the namespace to listen', async () => (await readFile(log, 'utf8').catch(() => '')).includes('Server listening'), 10_000);
    temporal = await temporalClient(h);
    const user = h.cluster.nodes[0]!.user;
    home = userInfo().username === user ? userInfo().homedir : `/home/${user}`;
    // Warm the pool: the partition must hit an established connection.
    const warm = await h.mcp.callTool({ name: 'offload_to', arguments: { node_id: 'n1', command: 'echo warm', wait_s: 30 } });
    assert.equal((warm.structuredContent as { stdout?: string }).stdout, 'warm\n', JSON.stringify(warm));
  });

  after(async () => {
    faultSummary('partition', counts);
    await temporal?.close();
    for (const f of ['short', 'long']) await rm(path.join(home, `part-${tag}-${f}`), { force: true });
    await h?.close();
    sshd?.kill('SIGTERM');
    await ip(['netns', 'del', NS]).catch(() => undefined); // takes the veth pair with it
  });

  const starts = async (name: string) =>
    (await readFile(path.join(home, `part-${tag}-${name}`), 'utf8').catch(() => '')).split('\n').filter((l) => l === 'start').length;

  async function partitioned<T>(ms: number, during: () => Promise<T>): Promise<T> {
    await run('ip', dropRule);
    try {
      const [r] = await Promise.all([during(), sleep(ms)]);
      return r;
    } finally {
      await run(
        'ip',
        dropRule.map((a) => (a === '-I' ? '-D' : a)),
      );
    }
  }

  it('a 4 s partition mid-command is invisible: same attempt, one run', async (t) => {
    counts.tasks++;
    const id = await startTask(h, 'offload_to', { node_id: 'n1', command: `echo start >> ~/part-${tag}-short; sleep 3; echo done` });
    await waitFor('the command to start', async () => (await starts('short')) > 0, 15_000);
    const t0 = Date.now();
    await partitioned(4000, async () => undefined);
    const r = await resultOf(temporal.client, id);
    t.diagnostic(`short partition: ${r.state} ${Date.now() - t0} ms after it began`);
    if (r.state !== 'completed') counts.lost++;
    assert.equal(r.state, 'completed', JSON.stringify(r));
    assert.equal(r.stdout, 'done\n');
    assert.equal(await starts('short'), 1);
    assert.equal(await lastAttempt(temporal.client, id), 1, 'the partition should not have cost an attempt');
  });

  it('a long partition fails the task with a reason, never a second run; the command finishes on n1', async (t) => {
    counts.tasks++;
    // timeout_s 60: the task keeps trying to re-attach until its own timeout (the 300 s default would only make the test slower).
    // sleep 40: well past keepalive's 15-20 s. (The partition drops only what reaches the node: an
    // exit status it sends before our side gives the connection up still arrives, and completes the task.)
    const id = await startTask(h, 'offload_to', {
      node_id: 'n1',
      timeout_s: 60,
      command: `echo start >> ~/part-${tag}-long; sleep 40; echo finished >> ~/part-${tag}-long`,
    });
    await waitFor('the command to start', async () => (await starts('long')) > 0, 15_000);
    const t0 = Date.now();
    // Dropped until the task gives up: keepalive (5 s x 3) notices, then retries time out.
    const r = (await partitioned(0, () => resultOf(temporal.client, id))) as CommandResult;
    t.diagnostic(`long partition: ${r.state} after ${Date.now() - t0} ms: ${r.error}`);
    if (!r.state) counts.lost++;
    assert.equal(r.state, 'failed', JSON.stringify(r));
    assert.match(r.error ?? '', /not re-run elsewhere|lost|timed out|timeout/i);
    // The run on n1 was never killed nor repeated: it finishes there, once.
    await waitFor('the command to finish on n1', async () => (await readFile(path.join(home, `part-${tag}-long`), 'utf8')).includes('finished'), 30_000, 250);
    const n = await starts('long');
    if (n > 1) counts.duplicated++;
    assert.equal(n, 1);
  });
});
