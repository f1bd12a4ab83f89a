// runBatch (MockActivityEnvironment, a node on a loopback port nothing listens on): whether an
// attempt that cannot reach its node reports it unreachable (the fan-out may place the batch
// elsewhere) or its connection lost (re-attach there, never run elsewhere). A batch the starting
// process launched itself (headStart) counts as sent unless an attempt that knew what that
// launch sent said otherwise; a launch of this process is taken instead of a second exec.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBatchActivities } from '../../src/activities/batch.js';
import { parseConfig } from '../../src/cluster/config.js';
import type { BatchLaunch } from '../../src/fastpath/fanoutHeadStart.js';
import { createServices } from '../../src/runtime/services.js';
import type { Services } from '../../src/runtime/services.js';
import type { BatchInput, CommandResult } from '../../src/shared.js';
import { ensureKeyPair } from '../../src/testcluster/sshdNode.js';

/** A loopback port that was free a moment ago and that nothing listens on now. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const batch = (over: Partial<BatchInput> = {}): BatchInput => ({
  parentId: 'par-test',
  nodeId: 'n1',
  routeReason: 'least loaded: n1',
  items: [{ index: 0, command: 'true' }],
  concurrency: 1,
  timeoutS: 10,
  streamCap: 1024,
  sshRetries: 3,
  ...over,
});

const ran = (b: BatchInput): CommandResult[] =>
  b.items.map((it) => ({
    task_id: `${b.parentId}/${it.index}`,
    success: true,
    executed_on: b.nodeId,
    stdout: 'from the launch\n',
    stderr: '',
    return_code: 0,
    auto_routed: true,
    error: null,
    duration_ms: 1,
    route_reason: b.routeReason,
    truncated: false,
    workflow_url: '',
    state: 'completed',
  }));

function launchOf(b: BatchInput, outcome: Promise<CommandResult[]>, sent: boolean): BatchLaunch {
  outcome.catch(() => undefined);
  return { batch: b, outcome, progress: () => ({ sent, done: 0, bytes: 0 }), cancel: () => undefined };
}

describe('runBatch: sent or not, when the node cannot be reached', () => {
  let rt: Services;
  before(async () => {
    const port = await closedPort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-runbatch-'));
    await ensureKeyPair(path.join(dir, 'id'), 'clusterflow-test');
    const yaml = `nodes:\n  - id: n1\n    host: 127.0.0.1\n    port: ${port}\n    identity_file: ${path.join(dir, 'id')}\n`;
    rt = createServices(parseConfig(yaml, 'test.yaml'), dir);
  });
  after(async () => {
    await rt?.pool.close();
  });

  /** Run runBatch as attempt 1 with these heartbeat details and this process's launch (if any): its failure type and heartbeats. */
  async function attempt(input: BatchInput, details: unknown, launch?: BatchLaunch) {
    const client = { workflow: { getHandle: () => ({ query: async () => ({ all: false, taskIds: [] }) }) } };
    const { runBatch } = createBatchActivities({ services: rt, client: client as never, headStarts: { take: () => launch } as never });
    const env = new MockActivityEnvironment({ attempt: 1, heartbeatDetails: details });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    try {
      return { results: await env.run(runBatch, input), beats };
    } catch (err) {
      assert.ok(err instanceof ApplicationFailure, String(err));
      return { type: err.type, beats };
    }
  }

  const cases: Array<[string, Partial<BatchInput>, unknown, string]> = [
    ['an ordinary batch, nothing sent yet', {}, undefined, 'NodeUnreachable'],
    ['an ordinary batch an earlier attempt sent', {}, { sent: true }, 'ConnectionLost'],
    ['a head-started batch nobody here can vouch for', { headStart: true }, undefined, 'ConnectionLost'],
    [
      'a head-started batch whose launch an earlier attempt found sent nothing',
      { headStart: true },
      { sent: false, headStartSettled: true },
      'NodeUnreachable',
    ],
    ['a head-started batch whose launch an earlier attempt found sent', { headStart: true }, { sent: true, headStartSettled: true }, 'ConnectionLost'],
  ];
  for (const [what, over, details, type] of cases)
    it(`${what}: ${type}`, async () => {
      assert.equal((await attempt(batch(over), details)).type, type);
    });

  it("takes this process's launch: its results, no exec", async () => {
    const b = batch({ headStart: true });
    const r = await attempt(b, undefined, launchOf(b, Promise.resolve(ran(b)), true));
    assert.deepEqual(r.results, ran(b));
    assert.ok(r.beats.length >= 1, 'it heartbeats while it waits');
  });

  it('while it waits for a launch that has sent nothing yet, no heartbeat vouches for that (a later one may be throttled away)', async () => {
    const b = batch({ headStart: true });
    const r = await attempt(b, undefined, launchOf(b, Promise.resolve(ran(b)), false));
    assert.deepEqual(r.results, ran(b));
    const vouching = r.beats.filter((d) => (d as { headStartSettled?: boolean }).headStartSettled === true);
    assert.ok(r.beats.length >= 1 && vouching.length === 0, JSON.stringify(r.beats));
  });

  it('a launch of this process that failed having sent nothing: its own attempt, and the next one will know', async () => {
    const b = batch({ headStart: true });
    const r = await attempt(b, undefined, launchOf(b, Promise.reject(new Error('connect ECONNREFUSED')), false));
    assert.equal(r.type, 'NodeUnreachable');
    assert.ok(
      r.beats.some((d) => (d as { headStartSettled?: boolean; sent?: boolean }).headStartSettled === true && (d as { sent?: boolean }).sent === false),
      JSON.stringify(r.beats),
    );
  });

  it('a launch of this process that failed after sending: re-attach there', async () => {
    const b = batch({ headStart: true });
    const r = await attempt(b, undefined, launchOf(b, Promise.reject(new Error('connection lost')), true));
    assert.equal(r.type, 'ConnectionLost');
  });

  it('a launch of other commands than the batch asks for is not taken: re-attach', async () => {
    const b = batch({ headStart: true });
    const other = batch({ headStart: true, items: [{ index: 1, command: 'true' }] });
    const r = await attempt(b, undefined, launchOf(other, Promise.resolve(ran(other)), true));
    assert.equal(r.type, 'ConnectionLost');
  });
});
