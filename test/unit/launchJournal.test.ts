// The launch journal (fastpath/launchJournal.ts): what a process records before a head-started
// command runs ahead of its workflow, and which files a recovery takes.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { journalsToRecover, LaunchJournal, openIntents } from '../../src/fastpath/launchJournal.js';
import { processTag } from '../../src/runtime/processTag.js';
import type { CommandSpec } from '../../src/shared.js';

const root = mkdtempSync(join(tmpdir(), 'cf-journal-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const freshDir = () => join(root, `d${++seq}`);
const spec = (command: string): CommandSpec => ({
  command,
  nodeId: 'n1',
  requires: {},
  weight: 'light',
  classifyReason: 'test',
  timeoutS: 60,
  headStart: true,
});

describe('launch journal', () => {
  test('an intent is on disk (private) once record resolves; settled ones are not open', async () => {
    const j = new LaunchJournal(freshDir());
    assert.equal(await j.record({ taskId: 'cmd-a', spec: spec('echo a') }), true);
    assert.equal(await j.record({ taskId: 'cmd-b', spec: spec('echo b') }), true);
    assert.equal(statSync(j.file).mode & 0o777, 0o600);
    assert.equal(statSync(j.dir).mode & 0o777, 0o700);
    j.settle('cmd-a');
    assert.deepEqual(
      openIntents(j.file).map((i) => [i.taskId, i.kind === 'parallel' ? '' : i.spec.command]),
      [['cmd-b', 'echo b']],
    );
    assert.equal(j.openCount, 1);
  });

  test('close removes a journal with nothing open and keeps one with open intents', async () => {
    const done = new LaunchJournal(freshDir());
    await done.record({ taskId: 'cmd-a', spec: spec('true') });
    done.settle('cmd-a');
    done.close();
    assert.equal(existsSync(done.file), false);
    const left = new LaunchJournal(freshDir());
    await left.record({ taskId: 'cmd-b', spec: spec('true') });
    left.close();
    assert.deepEqual(
      openIntents(left.file).map((i) => i.taskId),
      ['cmd-b'],
    );
  });

  test('a torn last line (a crash mid-write) is skipped', async () => {
    const j = new LaunchJournal(freshDir());
    await j.record({ taskId: 'cmd-a', spec: spec('true') });
    j.close();
    appendFileSync(j.file, '{"open":{"taskId":"cmd-b","spe');
    assert.deepEqual(
      openIntents(j.file).map((i) => i.taskId),
      ['cmd-a'],
    );
  });

  test('with nothing open past 2000 lines the file starts over', async () => {
    const j = new LaunchJournal(freshDir());
    for (let i = 0; i < 1001; i++) {
      await j.record({ taskId: `cmd-${i}`, spec: spec('true') });
      j.settle(`cmd-${i}`);
    }
    assert.ok(readFileSync(j.file, 'utf8').split('\n').length < 10, 'the journal was not compacted');
    await j.record({ taskId: 'cmd-x', spec: spec('true') });
    assert.deepEqual(
      openIntents(j.file).map((i) => i.taskId),
      ['cmd-x'],
    );
  });

  test('an unwritable journal says false (the launch then waits for its start)', async () => {
    const blocker = freshDir();
    writeFileSync(blocker, 'a file where the directory should be');
    const j = new LaunchJournal(blocker);
    assert.equal(await j.record({ taskId: 'cmd-a', spec: spec('true') }), false);
    assert.equal(j.openCount, 0);
  });

  test("recovery takes dead processes' journals and this process's takeovers, never a live process's journal", async () => {
    const j = new LaunchJournal(freshDir());
    await j.record({ taskId: 'cmd-mine', spec: spec('true') });
    const own = j.file.replace(/\.jsonl$/, '');
    // pid 1 (init) lives: its journal is its own.
    const files = {
      dead: join(j.dir, '999999999-5.jsonl'),
      takeover: `${own}.r1.jsonl`,
      liveInit: join(j.dir, `${processTag(1).replace(' ', '-')}.jsonl`),
      stranger: join(j.dir, 'notes.txt'),
    };
    for (const f of Object.values(files)) writeFileSync(f, '');
    assert.deepEqual(journalsToRecover(j).sort(), [files.dead, files.takeover].sort());
  });
});
