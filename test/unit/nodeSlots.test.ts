import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { NodeSlots } from '../../src/runtime/nodeSlots.js';
import { processTag } from '../../src/runtime/processTag.js';

const slotsDir = () => mkdtempSync(path.join(tmpdir(), 'cf-slots-'));

describe('NodeSlots', () => {
  test('tryTake gives at most max slots per node; a release frees one, twice is once', () => {
    const s = new NodeSlots(slotsDir());
    const a = s.tryTake('n1', 2)!;
    const b = s.tryTake('n1', 2)!;
    assert.equal(s.tryTake('n1', 2), undefined);
    assert.ok(s.tryTake('n2', 2), 'another node has its own slots');
    a();
    a();
    assert.equal(s.count('n1'), 1);
    assert.ok(s.tryTake('n1', 2));
    assert.equal(s.tryTake('n1', 2), undefined);
    b();
  });

  test('take waits for a release, in order; an abort ends the wait without a slot', async () => {
    const s = new NodeSlots(slotsDir());
    const first = s.tryTake('n1', 1)!;
    const order: string[] = [];
    const w1 = s.take('n1', 1).then((r) => {
      order.push('w1');
      return r;
    });
    const abort = new AbortController();
    const w2 = s.take('n1', 1, abort.signal).then((r) => {
      order.push('w2');
      return r;
    });
    const w3 = s.take('n1', 1).then((r) => {
      order.push('w3');
      return r;
    });
    // A window in which nothing may happen: a few of the waiters' 25 ms polls, and no slot is free.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(order, []);
    abort.abort();
    (await w2)(); // the aborted waiter holds nothing: releasing it changes nothing
    assert.equal(s.count('n1'), 1);
    first();
    const r1 = await w1;
    assert.deepEqual(order, ['w2', 'w1']);
    r1();
    (await w3)();
    assert.deepEqual(order, ['w2', 'w1', 'w3']);
    assert.equal(s.count('n1'), 0);
  });

  test("processes of one state dir share the slots; a dead holder's slot is free again", async () => {
    const dir = slotsDir();
    // Another process takes one of n1's two slots and holds it until killed.
    const url = pathToFileURL(path.resolve('dist/src/runtime/nodeSlots.js')).href;
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { NodeSlots } = await import(${JSON.stringify(url)}); new NodeSlots(${JSON.stringify(dir)}).tryTake('n1', 2); console.log('held'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const mine = new NodeSlots(dir);
    const a = mine.tryTake('n1', 2);
    assert.ok(a, 'one slot is left');
    assert.equal(mine.tryTake('n1', 2), undefined, 'the other process holds the second slot');
    assert.equal(mine.count('n1'), 2);
    const waiting = mine.take('n1', 2);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const b = await waiting; // the dead process's slot is reclaimed
    assert.equal(mine.count('n1'), 2);
    a!();
    b();
    assert.equal(mine.count('n1'), 0);
  });

  test('a slot file naming a process that no longer exists is not honoured', () => {
    const dir = slotsDir();
    mkdirSync(path.join(dir, 'n1'));
    writeFileSync(path.join(dir, 'n1', '0'), '999999999 123');
    const s = new NodeSlots(dir);
    assert.equal(s.count('n1'), 0);
    assert.ok(s.tryTake('n1', 1));
  });

  test('a slot is a link to the holder file: no file is written per take; a removed slots dir or holder file is made again', () => {
    const dir = slotsDir();
    // A holder file of a process that is gone is removed at the first claim.
    writeFileSync(path.join(dir, '.holder-999999999-dead'), '999999999 123');
    // So is the temp file of a process that died before renaming it (nothing in it yet: its name says whose).
    writeFileSync(path.join(dir, '.tmp.holder-999999999-dead'), '');
    const s = new NodeSlots(dir);
    const releases = [s.tryTake('n1', 3)!, s.tryTake('n1', 3)!, s.tryTake('n2', 3)!];
    const holders = readdirSync(dir).filter((n) => n.startsWith('.'));
    assert.equal(holders.length, 1, `one holder file: ${holders.join(', ')}`);
    const holder = path.join(dir, holders[0]!);
    assert.equal(readFileSync(holder, 'utf8'), processTag(process.pid));
    for (const slot of ['n1/0', 'n1/1', 'n2/0']) assert.equal(statSync(path.join(dir, slot)).ino, statSync(holder).ino, slot);
    assert.equal(statSync(holder).nlink, 4);
    releases.forEach((release) => release());
    assert.equal(statSync(holder).nlink, 1, 'a release removes only the slot name');
    assert.ok(!existsSync(path.join(dir, 'n1', '0')));

    rmSync(dir, { recursive: true });
    const again = s.tryTake('n1', 1);
    assert.ok(again, 'taken after the slots dir was removed');
    assert.equal(s.count('n1'), 1);
    assert.equal(s.tryTake('n1', 1), undefined);
    again();
    assert.equal(s.count('n1'), 0);
  });

  test('the temp file of a live process, which may not have its content yet, is left alone', () => {
    const dir = slotsDir();
    const writing = path.join(dir, `.tmp.holder-${process.pid}-busy`);
    writeFileSync(writing, '');
    const release = new NodeSlots(dir).tryTake('n1', 1);
    assert.ok(release);
    assert.ok(existsSync(writing));
    release();
  });
});
