// chunkWant: the fair share of what is left, but no chunk so small that the exec's own cost
// dominates once commands prove short. Table-driven, plus a simulated batch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK_MAX, chunkWant, RunTimes } from '../../src/engine/chunkSize.js';

/** Execs a batch of `n` commands of `ms` each takes over `lanes` lanes (each lane takes a chunk when free). */
function execsFor(n: number, lanes: number, ms: number, learn = true): number {
  const times = new RunTimes();
  const free = Array.from({ length: lanes }, () => 0);
  let next = 0;
  let execs = 0;
  while (next < n) {
    const lane = free.indexOf(Math.min(...free));
    const k = chunkWant(n - next, lanes, learn ? times.mean : undefined);
    next += k;
    execs++;
    free[lane]! += k * ms;
    for (let i = 0; i < k; i++) times.add(ms);
  }
  return execs;
}

describe('chunkWant', () => {
  const cases: Array<[string, number, number, number | undefined, number]> = [
    ['nothing seen yet: the fair share', 100, 8, undefined, 12],
    ['short commands seen: the tail keeps chunks of ~20 ms', 36, 8, 1.5, 14],
    ['long commands: the plain fair share', 36, 8, 200, 4],
    ['fewer left than lanes, nothing seen: one each', 5, 8, undefined, 1],
    ['fewer left than lanes, short commands: all of them', 5, 8, 1.5, 5],
    ['never more than CHUNK_MAX', 1000, 8, 1, CHUNK_MAX],
    ['instant commands are bounded too', 1000, 8, 0, CHUNK_MAX],
    ['no lanes counts as one', 10, 0, undefined, 10],
  ];
  for (const [name, left, lanes, mean, want] of cases) it(name, () => assert.equal(chunkWant(left, lanes, mean), want));

  it('a batch of 250 short commands over 8 lanes takes under half the execs the fair share alone took', () => {
    const adaptive = execsFor(250, 8, 1.5);
    const fairShare = execsFor(250, 8, 1.5, false);
    assert.ok(adaptive * 2 < fairShare, `${adaptive} execs against ${fairShare}`);
  });

  it('long commands are scheduled exactly as by the fair share alone', () => {
    assert.equal(execsFor(250, 8, 300), execsFor(250, 8, 300, false));
  });

  it('RunTimes: the mean of what ran, none before', () => {
    const t = new RunTimes();
    assert.equal(t.mean, undefined);
    t.add(2);
    t.add(4);
    assert.equal(t.mean, 3);
  });
});
