// PlacementBook's shared counts: written in place (never truncated or renamed over), so the file
// must read as the latest counts alone, whatever was written before, and as JSON a reader parses.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PlacementBook } from '../../src/runtime/placementBook.js';
import { waitFor } from '../helpers/wait.js';

/** What other processes read of ours (published at most SHARE_MS after a change), once it is `expected`. */
async function publishedAs(dir: string, expected: (counts: Record<string, number>) => boolean): Promise<Record<string, number>> {
  const read = () => (JSON.parse(readFileSync(path.join(dir, `${process.pid}.json`), 'utf8')) as { counts: Record<string, number> }).counts;
  return waitFor(
    'the counts to be published',
    () => {
      try {
        const counts = read();
        return expected(counts) && counts;
      } catch {
        return false;
      }
    },
    5000,
  );
}

describe('PlacementBook: counts shared with the other processes of a state dir', () => {
  it('the file holds the latest counts only, after longer and shorter ones', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'cf-book-')), 'reservations');
    const book = new PlacementBook(Date.now, dir);
    // Enough nodes that the JSON outgrows the first padded size.
    for (let i = 0; i < 40; i++) book.reserve(`par-a/${i}`, `node-with-a-long-name-${i}`, 60_000);
    await publishedAs(dir, (c) => Object.keys(c).length === 40);
    book.release('par-a');
    book.reserve('cmd-b', 'n1', 60_000);
    await publishedAs(dir, (c) => JSON.stringify(c) === '{"n1":1}');
    book.releaseOne('cmd-b');
    await publishedAs(dir, (c) => JSON.stringify(c) === '{}');
  });
});

describe('PlacementBook: counts per node', () => {
  it('reserve, re-reserve, release one, release a fan-out, and expiry', () => {
    let now = 1000;
    const book = new PlacementBook(() => now);
    book.reserve('cmd-1', 'a', 10_000);
    book.reserve('cmd-2', 'a', 10_000);
    book.reserve('par-1/0', 'b', 10_000);
    book.reserve('par-1/1', 'a', 10_000);
    book.reserve('par-10/0', 'b', 60_000);
    assert.deepEqual(book.counts(), { a: 3, b: 2 });
    // The same task placed again (a re-placement) moves, it does not count twice.
    book.reserve('cmd-2', 'b', 10_000);
    assert.deepEqual(book.counts(), { a: 2, b: 3 });
    book.releaseOne('cmd-1');
    book.releaseOne('cmd-1');
    assert.deepEqual(book.counts(), { a: 1, b: 3 });
    // A fan-out's release takes its commands, not those of another fan-out whose id starts alike.
    book.release('par-1');
    assert.deepEqual(book.counts(), { b: 2 });
    // Entries expire (a release lost with its worker), each at its own time.
    now += 10_001;
    assert.deepEqual(book.counts(), { b: 1 });
    book.reserve('cmd-3', 'c', 5_000);
    assert.deepEqual(book.counts(), { b: 1, c: 1 });
    now += 5_001;
    assert.deepEqual(book.counts(), { b: 1 });
    now += 60_000;
    assert.deepEqual(book.counts(), {});
  });
});
