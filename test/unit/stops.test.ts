// Stopping single commands of an attempt (engine/stops.ts), and an attempt on the local node
// (real bash, engine/attempt.ts) whose commands are stopped before and while they run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/cluster/config.js';
import { runAttempt } from '../../src/engine/attempt.js';
import { Stops } from '../../src/engine/stops.js';
import { createServices, type Services } from '../../src/runtime/services.js';
import type { CommandResult } from '../../src/shared.js';

describe('Stops', () => {
  it('a stop reaches the listener of its command, once, and every watcher', () => {
    const stops = new Stops(3);
    const heard: string[] = [];
    stops.watch((k) => heard.push(`watch ${k}`));
    stops.on(1, () => heard.push('listener 1'));
    stops.stop(1);
    stops.stop(1);
    stops.stop(7);
    assert.deepEqual(heard, ['watch 1', 'listener 1']);
    assert.equal(stops.isStopped(1), true);
    assert.equal(stops.isStopped(0), false);
  });

  it('a listener added after the stop runs at once; a removed one never', () => {
    const stops = new Stops(2);
    stops.stop(0);
    let late = 0;
    stops.on(0, () => late++);
    assert.equal(late, 1);
    let removed = 0;
    stops.on(1, () => removed++)();
    stops.stop(1);
    assert.equal(removed, 0);
  });

  it("a chunk's view maps its items to the attempt's commands; stopAll stops each once", () => {
    const stops = new Stops(4);
    const heard: number[] = [];
    const chunk = stops.chunk([2, 3]);
    chunk.on(0, () => heard.push(2));
    chunk.on(1, () => heard.push(3));
    stops.stopAll();
    stops.stopAll();
    assert.deepEqual(heard, [2, 3]);
  });
});

describe('an attempt whose commands are stopped (local node, real bash)', () => {
  let rt: Services;
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cf-stops-'));
    rt = createServices(parseConfig('nodes: [{ id: here, local: true }]', 'test.yaml'), dir);
  });
  after(async () => {
    await rt.pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kills the running one, never starts the stopped one, runs the rest', async () => {
    const node = rt.config.nodes[0]!;
    const stops = new Stops(3);
    const items = ['sleep 30', 'echo ran', 'echo never'].map((command, k) => ({
      taskId: `stops-${process.pid}/${k}`,
      command,
      routeReason: 'test',
      autoRouted: false,
    }));
    stops.stop(2);
    const started = Date.now();
    const attempt = runAttempt(rt, node, items, {
      lanes: 1,
      timeoutS: 60,
      stops,
      onResult: (k) => {
        if (k === 2) setTimeout(() => stops.stop(0), 300);
      },
    });
    const results = (await attempt) as CommandResult[];
    assert.deepEqual(
      results.map((r) => [r.state, r.stdout]),
      [
        ['cancelled', ''],
        ['completed', 'ran\n'],
        ['cancelled', ''],
      ],
    );
    assert.match(results[0]!.error ?? '', /process group was killed/);
    assert.match(results[2]!.error ?? '', /before it started/);
    assert.ok(Date.now() - started < 10_000, 'the sleep was killed, not waited for');
  });
});
