// Results that must fit one Temporal payload: JSON sizes counted as JSON.stringify writes them,
// and inline output cut (head and tail, with a note) only as far as the budget needs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitResults, jsonBytes, RESULTS_PAYLOAD_BUDGET } from '../../src/cluster/resultFit.js';
import type { CommandResult } from '../../src/shared.js';

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
const result = (i: number, stdout = '', stderr = ''): CommandResult => ({
  task_id: `par-x/${i}`,
  success: true,
  executed_on: 'n1',
  stdout,
  stderr,
  return_code: 0,
  auto_routed: true,
  error: null,
  duration_ms: 3,
  route_reason: 'fan-out spread by load and capacity',
  truncated: false,
  workflow_url: '',
  state: 'completed',
});

describe('jsonBytes', () => {
  const cases: Array<[string, string]> = [
    ['empty', ''],
    ['ascii', 'hello world'],
    ['escapes', 'a"b\\c\nd\te\rf\bg\fh'],
    ['control characters', '\x00\x01\x1f\x7f'],
    ['two- and three-byte characters', 'é ü ñ — 漢字'],
    ['astral (a surrogate pair)', 'x😀y'],
    ['lone surrogates', '\ud800a\udc00'],
  ];
  for (const [name, s] of cases) it(`counts ${name} as JSON.stringify writes them`, () => assert.equal(jsonBytes(s), bytes(s)));
});

describe('fitResults', () => {
  it('returns results that fit as they are (the same array)', () => {
    const rs = Array.from({ length: 300 }, (_, i) => result(i, `line ${i}\n`));
    assert.equal(fitResults(rs), rs);
  });

  it('cuts the inline output of a batch whose control characters would pass the payload limit, keeping head, tail and small streams', () => {
    // 1,000 commands with 256 control characters on each stream: 3 MB of JSON (6 bytes each).
    const big = '\x01'.repeat(100) + 'MIDDLE' + '\x02'.repeat(150);
    const rs = Array.from({ length: 1000 }, (_, i) => (i === 7 ? result(i, 'small\n') : result(i, big, big)));
    assert.ok(bytes(rs) > 2 * 1024 * 1024, 'the case passes Temporal’s limit uncut');
    const fitted = fitResults(rs);
    assert.ok(bytes(fitted) <= RESULTS_PAYLOAD_BUDGET, `${bytes(fitted)} bytes`);
    assert.ok(bytes(fitted) > RESULTS_PAYLOAD_BUDGET * 0.8, 'cut no further than needed');
    assert.deepEqual([fitted[7]!.stdout, fitted[7]!.truncated], ['small\n', false]);
    const one = fitted[0]!;
    assert.equal(one.truncated, true);
    assert.match(one.stdout, /^\x01+\n\[\.\.\. \d+ characters omitted to fit Temporal's payload limit; read them with task_output \.\.\.\]\n\x02+$/);
    assert.deepEqual(
      fitted.map((r) => r.task_id),
      rs.map((r) => r.task_id),
    );
  });

  it('never splits a surrogate pair', () => {
    const rs = Array.from({ length: 40 }, (_, i) => result(i, '😀'.repeat(20_000)));
    const fitted = fitResults(rs, 200_000);
    assert.ok(bytes(fitted) <= 200_000);
    for (const r of fitted) assert.doesNotMatch(r.stdout, /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });
});
