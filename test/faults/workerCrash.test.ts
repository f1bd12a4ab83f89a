// Fault: the worker running a command is SIGKILLed mid-command, 20 times in a row. The
// attempt's heartbeats stop, Temporal retries it on the next worker, and the retry re-attaches
// to the detached command on the node: every task completes exactly once, none is lost and
// none runs twice (each command appends one "start" line to its own count file).
// Two processes play "the worker": H polls the hub queue (workflows), N polls n1's queue
// (runCommand). Most rounds kill N; every 10th kills both, as when a whole `cluster-router
// worker` dies: then the workflow task also waits out the dead worker's sticky queue (~10 s).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandResult } from '../../src/shared.js';
import {
  faultSummary,
  lastAttempt,
  resultOf,
  spawnWorker,
  startFaultHarness,
  startTask,
  temporalClient,
  waitFor,
  type FaultHarness,
  type SpawnedWorker,
} from '../helpers/faults.js';

const ROUNDS = 20;
/** Short, so a dead worker's attempt is retried ~3 s after its last heartbeat, not 20 s. */
const HEARTBEAT_TIMEOUT_S = 3;
const HUB_ONLY = ['--nodes', ''];
const N1_ONLY = ['--no-hub', '--nodes', 'n1'];

describe('faults: worker SIGKILLed mid-command', () => {
  let h: FaultHarness;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let hub: SpawnedWorker | undefined;
  let node: SpawnedWorker | undefined;
  const tag = randomBytes(4).toString('hex');
  let home = '';
  before(async () => {
    h = await startFaultHarness({ nodes: 1, worker: false, env: { CLUSTERFLOW_HEARTBEAT_TIMEOUT_S: String(HEARTBEAT_TIMEOUT_S) } });
    temporal = await temporalClient(h);
    const user = h.cluster.nodes[0]!.user;
    home = userInfo().username === user ? userInfo().homedir : `/home/${user}`;
  });
  after(async () => {
    await Promise.all([hub?.kill9(), node?.kill9()]);
    await temporal?.close();
    for (let i = 0; i < ROUNDS; i++) await rm(path.join(home, `count-${tag}-${i}`), { force: true });
    await h?.close();
  });

  it(`${ROUNDS} kills: every task completes exactly once`, async (t) => {
    const countFile = (i: number) => path.join(home, `count-${tag}-${i}`);
    const starts = async (i: number) => (await readFile(countFile(i), 'utf8').catch(() => '')).split('\n').filter((l) => l === 'start').length;
    let lost = 0;
    let duplicated = 0;
    let retried = 0;
    const rounds: string[] = [];
    const timings: Record<'node' | 'whole', number[]> = { node: [], whole: [] };
    hub = spawnWorker(h, HUB_ONLY);
    node = spawnWorker(h, N1_ONLY);
    for (let i = 0; i < ROUNDS; i++) {
      const kind = i % 10 === 9 ? 'whole' : 'node';
      const taskId = await startTask(h, 'offload_to', { node_id: 'n1', command: `echo start >> ~/count-${tag}-${i}; sleep 2; echo done` });
      await waitFor(`task ${i} to start on n1`, async () => (await starts(i)) > 0, 30_000);
      const killedAt = Date.now();
      await Promise.all([node.kill9(), kind === 'whole' ? hub.kill9() : undefined]);
      node = spawnWorker(h, N1_ONLY);
      if (kind === 'whole') hub = spawnWorker(h, HUB_ONLY);

      let r: CommandResult | undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        r = await Promise.race([
          resultOf(temporal.client, taskId),
          new Promise<undefined>((res) => {
            timer = setTimeout(() => res(undefined), 60_000);
          }),
        ]);
      } catch (err) {
        t.diagnostic(`task ${i} (${taskId}) failed: ${String(err)}`);
      } finally {
        clearTimeout(timer);
      }
      timings[kind].push(Date.now() - killedAt);
      rounds.push(`${i}:${kind}:${Date.now() - killedAt}`);
      const n = await starts(i);
      if (!r || !r.success || r.stdout !== 'done\n') lost++;
      if (n > 1) duplicated++;
      if ((await lastAttempt(temporal.client, taskId)) > 1) retried++;
      assert.ok(r, `task ${i} (${taskId}) has no result after 60 s`);
      assert.equal(r.success, true, JSON.stringify(r));
      assert.equal(r.stdout, 'done\n');
      assert.equal(r.executed_on, 'n1');
      assert.equal(n, 1, `task ${i}: the command ran ${n} times`);
    }
    for (const [kind, list] of Object.entries(timings)) {
      list.sort((a, b) => a - b);
      t.diagnostic(`${kind} worker killed → result: median ${list[list.length >> 1]} ms, max ${list[list.length - 1]} ms (${list.length} rounds)`);
    }
    t.diagnostic(`${retried}/${ROUNDS} tasks finished by a retried attempt; round:kind:ms ${rounds.join(' ')}`);
    faultSummary('worker-crash', { tasks: ROUNDS, lost, duplicated, stray: 0, retried });
    // Proof that every kill hit a running attempt (else the test proves nothing).
    assert.equal(retried, ROUNDS);
  });
});
