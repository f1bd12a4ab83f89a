// The output store on a real temp dir: layout, files only for streams that printed, paging.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { OutputStore } from '../../src/runtime/outputStore.js';

const root = mkdtempSync(join(tmpdir(), 'cf-outputs-'));
after(() => rmSync(root, { recursive: true, force: true }));

function store(taskId: string, stdout: string, stderr: string, cap?: number) {
  const s = new OutputStore(root);
  const c = s.open(taskId, cap);
  c.stdout.write(Buffer.from(stdout));
  c.stderr.write(Buffer.from(stderr));
  c.stdout.close();
  c.stderr.close();
  s.saveResult(taskId, { ok: true });
  s.flush();
  return { s, c };
}

test('results reach the disk after the current turn (one write per file), and before any read of the store', async () => {
  const s = new OutputStore(root);
  s.saveResult('cmd-soon', { ok: 1 });
  s.saveResult('par-soon/0', { ok: 2 });
  s.saveResult('par-soon/1', { ok: 3 });
  assert.equal(existsSync(join(root, 'cmd-soon', 'result.json')), false, 'not written during the turn that saved it');
  // A read of this store writes them first.
  assert.deepEqual(s.loadResult('par-soon/1'), { ok: 3 });
  assert.equal(existsSync(join(root, 'cmd-soon', 'result.json')), true);
  s.saveResult('par-soon/2', { ok: 4 });
  await new Promise((resolve) => setImmediate(resolve));
  // Another process (a new store over the same dir) sees every line.
  assert.equal(new OutputStore(root).countResults('par-soon'), 3);
});

test("a task keeps its own directory; fan-out commands share their fan-out's", () => {
  store('cmd-1', 'out', 'err');
  store('par-1/0', 'a', '');
  store('par-1/1', '', '');
  assert.deepEqual(readdirSync(join(root, 'cmd-1')).sort(), ['result.json', 'stderr', 'stdout']);
  // Only streams that printed something get a file.
  assert.deepEqual(readdirSync(join(root, 'par-1')).sort(), ['0.stdout', 'results.jsonl']);
  const s = new OutputStore(root);
  assert.deepEqual([s.loadResult('par-1/0'), s.loadResult('par-1/1'), s.loadResult('par-1/2')], [{ ok: true }, { ok: true }, null]);
  assert.equal(s.countResults('par-1'), 2);
});

test('a result whose directory went away meanwhile makes it again (flush never throws)', () => {
  const s = new OutputStore(root);
  s.saveResult('cmd-gone', { n: 1 });
  s.flush();
  rmSync(join(root, 'cmd-gone'), { recursive: true });
  s.saveResult('cmd-gone', { n: 2 });
  s.flush();
  assert.deepEqual(s.loadResult('cmd-gone'), { n: 2 });
});

test('a command reported again (a retried batch) counts once; its latest result wins', () => {
  const s = new OutputStore(root);
  s.saveResult('par-3/0', { attempt: 1 });
  s.saveResult('par-3/1', { attempt: 1 });
  s.saveResult('par-3/0', { attempt: 2 });
  assert.equal(s.countResults('par-3'), 2);
  assert.deepEqual(s.loadResult('par-3/0'), { attempt: 2 });
  assert.equal(s.countResults('par-none'), 0);
});

test('an empty stream of a finished command reads as empty; an unknown task is an error', () => {
  const { s } = store('par-2/3', '', 'x');
  assert.deepEqual([s.read('par-2/3', 'stdout', 0, 100).data, s.read('par-2/3', 'stdout', 0, 100).eof], ['', true]);
  assert.equal(s.read('par-2/3', 'stderr', 0, 100).data, 'x');
  assert.equal(s.has('par-2/3'), true);
  assert.equal(s.has('par-2/4'), false);
  assert.throws(() => s.read('par-2/4', 'stdout', 0, 10), /no stdout stored/);
  assert.deepEqual(s.loadResult('par-2/3'), { ok: true });
});

test('the result carries head and tail within the cap; the file keeps everything', () => {
  const text = Array.from({ length: 1000 }, (_, i) => `line ${i}`).join('\n');
  const { s, c } = store('cmd-big', text, '', 200);
  assert.equal(c.stdout.truncated, true);
  const shown = c.stdout.text();
  assert.ok(shown.startsWith(text.slice(0, 100)) && shown.endsWith(text.slice(-100)), shown);
  assert.match(shown, /bytes omitted; read them with task_output/);
  assert.equal(s.read('cmd-big', 'stdout', 0, 1 << 20).data, text);
});

test('task ids cannot leave the store', () => {
  const s = new OutputStore(root);
  for (const id of ['../x', 'a/../b', '/abs', 'a//b', '.hidden', 'a/.', 'a b', 'a/']) {
    assert.throws(() => s.saveResult(id, {}), /invalid task id/, id);
  }
  assert.equal(existsSync(join(root, '..', 'x')), false);
});
