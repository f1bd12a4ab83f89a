// Fault: serve launches a fan-out's batches itself while the workflow starts (the head start),
// and is SIGKILLed while they run: the MCP server, its hub and node workers and the launches all
// die at once. Then one node's sshd dies too (with the commands under it) and comes back only
// once the worker started afterwards has found it unreachable. That worker's runBatch knows the
// batches were head-started (the input says so; the dead attempt's heartbeats, if it got that
// far, say what was sent), so it reports the node's connection lost (retried, to re-attach
// there), never unreachable (which would place those commands on the other node and run them
// a second time; test/unit/runBatchSent.test.ts covers the attempt that never heartbeated). Every command runs exactly once (each
// appends one "start" line to its own count file, per node); those of the surviving node
// complete, those of the node whose sshd died end as lost, on that node.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ParallelResult } from '../../src/shared.js';
import { restartNodeSshd, stopNodeSshd } from '../../src/testcluster/localCluster.js';
import { faultSummary, spawnWorker, startFaultHarness, temporalClient, waitFor, type FaultHarness } from '../helpers/faults.js';
import { structured } from '../helpers/harness.js';

const COMMANDS = 8;

describe('faults: serve SIGKILLed while its head-started fan-out runs', () => {
  let h: FaultHarness;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  const tag = randomBytes(4).toString('hex');
  const homes: string[] = [];
  before(async () => {
    // No local node: every command goes over SSH to a node user (its own home, its own count files).
    h = await startFaultHarness({ nodes: 2, includeLocal: false });
    temporal = await temporalClient(h);
    homes.push(...h.cluster.nodes.map((n) => (userInfo().username === n.user ? userInfo().homedir : `/home/${n.user}`)));
  });
  after(async () => {
    await temporal?.close();
    for (const home of homes) for (let i = 0; i < COMMANDS; i++) await rm(path.join(home, `count-${tag}-${i}`), { force: true });
    await h?.close();
  });

  it(`${COMMANDS} commands over 2 nodes, serve and then one node's sshd killed: each runs once, on the node serve launched it on`, async () => {
    const starts = async (i: number) => {
      const lines = await Promise.all(homes.map((home) => readFile(path.join(home, `count-${tag}-${i}`), 'utf8').catch(() => '')));
      return lines.map((l) => l.split('\n').filter((x) => x === 'start').length);
    };
    const commands = Array.from({ length: COMMANDS }, (_, i) => `echo start >> ~/count-${tag}-${i}; sleep 3; echo done ${i}`);
    const answer = structured<{ task_id: string; state: string }>(await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands, wait_s: 0 } }));
    assert.equal(answer.state, 'running', JSON.stringify(answer));
    const parentId = answer.task_id;
    await waitFor(
      'every command to start on its node',
      async () => (await Promise.all(commands.map((_, i) => starts(i)))).every((s) => s[0]! + s[1]! > 0),
      20_000,
    );
    const sentTo = (await Promise.all(commands.map((_, i) => starts(i)))).map((s) => (s[0] ? 'n1' : 'n2'));
    const started = await temporal.client.workflow.getHandle(parentId).fetchHistory();
    const input = (await temporal.decode(started.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!, parentId)) as {
      headStart?: string[];
    };
    assert.deepEqual(input.headStart?.sort(), [...new Set(sentTo)].sort(), 'serve launched the batch of every node it placed commands on');

    const victim = sentTo[0]!;
    process.kill(h.servePid, 'SIGKILL');
    await stopNodeSshd(h.cluster.dir, victim);
    const killedAt = Date.now();
    spawnWorker(h);
    // The dead serve's runBatch attempt times out (heartbeats), the next one finds the victim down.
    const handle = temporal.client.workflow.getHandle(parentId);
    let failure = '';
    await waitFor(
      `a runBatch attempt to fail on ${victim}`,
      async () => {
        // Failure messages are encrypted (failure converter); the type says what the attempt concluded.
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        failure = pending.map((a) => a.lastFailure?.applicationFailureInfo?.type ?? '').find((t) => t === 'ConnectionLost' || t === 'NodeUnreachable') ?? '';
        return failure !== '';
      },
      80_000,
    );
    assert.equal(failure, 'ConnectionLost', 'a head-started batch counts as sent: its node is never given up for another');
    await restartNodeSshd(h.cluster.dir, victim);
    const result = (await handle.result()) as ParallelResult;
    const tookMs = Date.now() - killedAt;

    const runs = await Promise.all(commands.map((_, i) => starts(i)));
    const duplicated = runs.filter((s) => s[0]! + s[1]! > 1).length;
    const lost = result.results.filter((r, i) => !r.success && sentTo[i] !== victim).length;
    faultSummary('fanout-head-start', { tasks: COMMANDS, lost, duplicated, stray: 0 });
    result.results.forEach((r, i) => {
      assert.equal(r.executed_on, sentTo[i], `command ${i} stays on the node it was launched on: ${JSON.stringify(r)}`);
      assert.deepEqual(runs[i], sentTo[i] === 'n1' ? [1, 0] : [0, 1], `command ${i} ran once`);
      if (sentTo[i] === victim) assert.equal(r.success, false, `command ${i} died with its sshd: ${JSON.stringify(r)}`);
      else assert.equal(r.stdout, `done ${i}\n`, `command ${i}: ${JSON.stringify(r)}`);
    });
    assert.ok(tookMs < 120_000, `the worker finished the fan-out ${tookMs} ms after serve died`);
  });
});
