import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkPolicy, type PolicyInput, type PolicyVerdict } from '../../src/cluster/policy.js';
import { workerRefusal } from '../../src/cluster/policyGate.js';

// Compiled to dist/test/unit/, fixtures stay in the source tree. Line format (see the files):
// `[refuse|confirm:] [@cwd DIR] [@env NAME=VALUE]... command`, ⏎ for a newline.
interface Case {
  line: number;
  verdict?: PolicyVerdict;
  input: PolicyInput;
}

function corpus(name: string): Case[] {
  const text = readFileSync(new URL(`../../../test/fixtures/policy/${name}`, import.meta.url), 'utf8');
  const cases: Case[] = [];
  text.split('\n').forEach((raw, i) => {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let verdict: PolicyVerdict | undefined;
    const v = /^(refuse|confirm):\s*/.exec(line);
    if (v) {
      verdict = v[1] as PolicyVerdict;
      line = line.slice(v[0].length);
    }
    const input: PolicyInput = { command: '' };
    for (let m = /^@(cwd|env) (\S+)\s+/.exec(line); m; m = /^@(cwd|env) (\S+)\s+/.exec(line)) {
      if (m[1] === 'cwd') input.cwd = m[2]!;
      else {
        const eq = m[2]!.indexOf('=');
        input.env = { ...input.env, [m[2]!.slice(0, eq)]: m[2]!.slice(eq + 1) };
      }
      line = line.slice(m[0].length);
    }
    input.command = line.replace(/⏎/g, '\n');
    cases.push(verdict ? { line: i + 1, verdict, input } : { line: i + 1, input });
  });
  return cases;
}

test('every destructive shape yields a finding, with the verdict its line expects', (t) => {
  const cases = corpus('destructive.txt');
  assert.ok(cases.length >= 160, `only ${cases.length} destructive shapes`);
  const missed: string[] = [];
  let refused = 0;
  let confirm = 0;
  for (const c of cases) {
    const [first] = checkPolicy(c.input);
    if (!first) missed.push(`line ${c.line}: ${c.input.command} passed unasked`);
    else if (c.verdict && first.verdict !== c.verdict)
      missed.push(`line ${c.line}: ${c.input.command} → ${first.verdict} (${first.message}), expected ${c.verdict}`);
    if (first?.verdict === 'refuse') refused++;
    if (first?.verdict === 'confirm') confirm++;
  }
  t.diagnostic(`destructive corpus: ${cases.length} shapes, ${refused} refused, ${confirm} need confirmation, ${cases.length - refused - confirm} passed`);
  assert.deepEqual(missed, []);
});

test('no everyday command is flagged', (t) => {
  const cases = corpus('everyday.txt');
  assert.ok(cases.length >= 160, `only ${cases.length} everyday commands`);
  const flagged = cases.flatMap((c) => checkPolicy(c.input).map((f) => `line ${c.line}: ${f.message}`));
  t.diagnostic(`everyday corpus: ${cases.length} commands, ${flagged.length} flagged`);
  assert.deepEqual(flagged, []);
});

test("the worker's gate (policyGate.workerRefusal, what runCommand and runBatch call) runs none of the destructive shapes and all of the everyday ones", () => {
  const node = { id: 'n1' };
  const ran = corpus('destructive.txt').filter((c) => workerRefusal({ ...c.input, node }) === undefined);
  assert.deepEqual(
    ran.map((c) => `line ${c.line}: ${c.input.command}`),
    [],
  );
  const refused = corpus('everyday.txt').filter((c) => workerRefusal({ ...c.input, node }) !== undefined);
  assert.deepEqual(
    refused.map((c) => `line ${c.line}: ${c.input.command} → ${workerRefusal({ ...c.input, node })}`),
    [],
  );
  // An approved confirm-level finding passes the worker; a refusal never does.
  const confirm = corpus('destructive.txt').find((c) => c.verdict === 'confirm')!;
  const rules = checkPolicy(confirm.input).map((f) => f.rule);
  assert.equal(workerRefusal({ ...confirm.input, node, approved: rules }), undefined);
  const refuse = corpus('destructive.txt').find((c) => c.verdict === 'refuse')!;
  assert.notEqual(workerRefusal({ ...refuse.input, node, approved: checkPolicy(refuse.input).map((f) => f.rule) }), undefined);
});
