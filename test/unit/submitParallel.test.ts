// TaskClient.submitParallel with a stubbed Temporal client and fast path: a fan-out placed by
// the starting process carries its placement in the workflow input, unless that would push the
// input over the payload limit (then the workflow places it), and a failed start gives the
// reservations back. The batches launched before the start (the head start) are named in the
// input, let run once the start succeeded, and shut (nothing runs) when it failed.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/cluster/config.js';
import type { FanoutPlacement } from '../../src/cluster/fanoutPlan.js';
import { TaskClient } from '../../src/client/tasks.js';
import { OutputStore } from '../../src/runtime/outputStore.js';
import type { ParallelSpec } from '../../src/shared.js';

const config = parseConfig('nodes:\n  - id: n1\n    host: 127.0.0.1\n', 'test.yaml');

function world(opts: { startFails?: boolean } = {}) {
  const started: ParallelSpec[] = [];
  const unplaced: string[] = [];
  /** Head starts prepared: the fan-out, and how its gate was decided (undefined: not yet). */
  const launched: Array<{ id: string; placed: boolean; go?: boolean; startedBefore: number }> = [];
  const client = {
    workflow: {
      start: async (_type: string, o: { args: [ParallelSpec] }) => {
        if (opts.startFails) throw new Error('server says no');
        started.push(o.args[0]);
        return {};
      },
    },
  };
  const fastPath = {
    placeFanout: async (_id: string, spec: ParallelSpec): Promise<FanoutPlacement> => ({
      nodes: spec.commands.map(() => 'n1'),
      reasons: { n1: 'least loaded: n1' },
      capacity: { n1: 8 },
    }),
    unplaceFanout: (id: string) => unplaced.push(id),
    fanouts: {
      prepare: (id: string, spec: ParallelSpec, placement: FanoutPlacement) => {
        const l: (typeof launched)[number] = { id, placed: placement.nodes.length === spec.commands.length, startedBefore: started.length };
        launched.push(l);
        // As FanoutHeadStart.prepare: the workflow input names the launched nodes.
        return {
          nodeIds: ['n1'],
          everyNode: true,
          answered: Promise.resolve(true),
          spec: { ...spec, placement, headStart: ['n1'] },
          started: (ok: boolean) => (l.go = ok),
        };
      },
    },
  };
  const tasks = new TaskClient({
    client: client as never,
    target: { address: '127.0.0.1:7233', namespace: 'default', uiUrl: 'http://127.0.0.1:8233', codecPort: 0 },
    config,
    outputs: new OutputStore(mkdtempSync(path.join(os.tmpdir(), 'cf-submit-'))),
    fastPath: fastPath as never,
    origin: { queue: 'clusterflow-origin-test', host: 'here' },
    readOutput: async () => {
      throw new Error('not used');
    },
  });
  return { tasks, started, unplaced, launched };
}

describe('submitParallel: the placement made before the start, and the head start', () => {
  it('goes into the workflow input', async () => {
    const w = world();
    const id = await w.tasks.submitParallel({ commands: ['true', 'true', 'echo hi'] });
    assert.equal(w.started.length, 1);
    assert.deepEqual(w.started[0]!.placement?.nodes, ['n1', 'n1', 'n1']);
    assert.deepEqual(w.unplaced, []);
    assert.match(id, /^par-/);
    // Launched before the start, named in the input, let run once the workflow exists.
    assert.deepEqual(w.launched, [{ id, placed: true, startedBefore: 0, go: true }]);
    assert.deepEqual(w.started[0]!.headStart, ['n1']);
  });

  it('stays out of an input it would push over the payload limit (the workflow places it then), and its reservations are given back', async () => {
    const w = world();
    // ~1.3 MiB of commands alone; a node id per command would take the input past 1.5 MiB.
    const commands = Array.from({ length: 170_000 }, () => 'true');
    const id = await w.tasks.submitParallel({ commands });
    assert.equal(w.started.length, 1);
    assert.equal(w.started[0]!.placement, undefined);
    assert.equal(w.started[0]!.commands.length, commands.length);
    assert.deepEqual(w.unplaced, [id]);
    // Nothing launched: the input does not say where its commands go.
    assert.deepEqual(w.launched, []);
    assert.equal(w.started[0]!.headStart, undefined);
  });

  it('is given back when the start fails', async () => {
    const w = world({ startFails: true });
    await assert.rejects(w.tasks.submitParallel({ commands: ['true'] }), /server says no/);
    assert.equal(w.unplaced.length, 1);
    assert.match(w.unplaced[0]!, /^par-/);
    // The launch's gate shuts: its commands never start.
    assert.deepEqual(
      w.launched.map((l) => l.go),
      [false],
    );
  });
});
