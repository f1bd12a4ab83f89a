// The command field's checks (every problem a command has is named, as four separate refines named them), and the tool schemas as the MCP SDK checks them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { toolOutput } from '../../src/mcp/schemaParse.js';
import { commandField, parallelInput, parallelResultShape } from '../../src/mcp/schemas.js';

const messages = (value: unknown) => {
  const r = commandField.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => i.message);
};

describe('commandField', () => {
  const cases: Array<[string, string, string[]]> = [
    ['a plain command', 'make -j8', []],
    ['tabs and newlines', 'for f in *; do\n\techo "$f"\ndone', []],
    ['empty', '', ['command is empty', 'command is only whitespace']],
    ['spaces only', '   ', ['command is only whitespace']],
    [
      'a NUL byte (also a control character)',
      'ls\0x',
      ['command contains a NUL byte', 'command contains control characters (only tab and newline are allowed)'],
    ],
    ['an escape sequence', 'ls \x1b[2J', ['command contains control characters (only tab and newline are allowed)']],
    ['a lone surrogate', 'ls \ud800', ['command contains invalid Unicode (a lone surrogate, or U+FFFD from bytes that were not UTF-8)']],
    ['U+FFFD', 'ls \ufffd', ['command contains invalid Unicode (a lone surrogate, or U+FFFD from bytes that were not UTF-8)']],
    ['a surrogate pair', 'echo \ud83d\ude00', []],
    ['over 64 KiB', 'x'.repeat(64 * 1024 + 1), ['command is longer than 65536 characters']],
  ];
  for (const [name, command, want] of cases) it(name, () => assert.deepEqual(messages(command), want));

  it('a fan-out names the index of each bad command', async () => {
    const r = await parallelInput.safeParseAsync({ commands: ['true', '', 'ok', 'a\x07'] });
    assert.equal(r.success, false);
    assert.deepEqual(
      r.error!.issues.map((i) => [i.path.join('.'), i.message]),
      [
        ['commands.1', 'command is empty'],
        ['commands.1', 'command is only whitespace'],
        ['commands.3', 'command contains control characters (only tab and newline are allowed)'],
      ],
    );
  });
});

describe('the schemas the MCP SDK checks with safeParseAsync', () => {
  const result = (i: number) => ({
    success: true,
    executed_on: 'n1',
    stdout: '',
    stderr: '',
    return_code: 0,
    auto_routed: true,
    task_id: `par-x/${i}`,
    error: null,
    duration_ms: 3,
    route_reason: 'fan-out spread by load and capacity',
    truncated: false,
    workflow_url: 'http://127.0.0.1:1/namespaces/default/workflows/par-x',
    state: 'completed',
  });
  const answer = {
    task_id: 'par-x',
    state: 'completed',
    summary: { total: 300, succeeded: 300, failed: 0, cancelled: 0, by_node: { n1: { succeeded: 300, failed: 0 } } },
    duration_ms: 40,
    workflow_url: 'http://127.0.0.1:1/namespaces/default/workflows/par-x',
    results: Array.from({ length: 300 }, (_, i) => result(i)),
  };
  const output = toolOutput(parallelResultShape);
  const plain = z.object(parallelResultShape);

  // zod's async parse lists the issues as its promises settle; the same issues in field order here.
  const sorted = (issues: z.ZodIssue[] | undefined) => issues?.map((i) => JSON.stringify(i)).sort();

  it("give the verdict and the issues of zod's own async parse, for answers and for arguments", async () => {
    const bad = { ...answer, results: answer.results.map((r, i) => (i === 7 ? { ...r, return_code: 'zero' } : i === 9 ? { ...r, state: undefined } : r)) };
    for (const value of [answer, bad, { ...answer, summary: null }]) {
      const ours = await output.safeParseAsync(value);
      const zods = await plain.safeParseAsync(value);
      assert.equal(ours.success, zods.success);
      assert.deepEqual(sorted(ours.error?.issues), sorted(zods.error?.issues));
    }
    assert.equal((await output.safeParseAsync(bad)).error!.issues.length, 2);
    // Arguments: a superRefine of the command field, a min length, a strict object's unknown key.
    const args = { commands: ['true', '', 'a\x07'], timeout: 5 };
    const ours = await parallelInput.safeParseAsync(args);
    const zods = await z.object(parallelInput.shape).strict().safeParseAsync(args);
    assert.deepEqual(sorted(ours.error?.issues), sorted(zods.error?.issues));
    assert.deepEqual(
      ours.error!.issues.map((i) => [i.code, i.path.join('.')]),
      [
        ['too_small', 'commands.1'],
        ['custom', 'commands.1'],
        ['custom', 'commands.2'],
        ['unrecognized_keys', ''],
      ],
    );
  });

  it("check a 300-command answer faster than zod's async parse", async () => {
    const time = async (parse: () => Promise<unknown>) => {
      for (let i = 0; i < 5; i++) await parse();
      const t = performance.now();
      for (let i = 0; i < 20; i++) await parse();
      return performance.now() - t;
    };
    // Alternating, best of three: a shared host's noise hits both alike.
    const ours: number[] = [];
    const zods: number[] = [];
    for (let round = 0; round < 3; round++) {
      ours.push(await time(() => output.safeParseAsync(answer)));
      zods.push(await time(() => plain.safeParseAsync(answer)));
    }
    assert.ok(Math.min(...ours) < Math.min(...zods), `ours ${Math.min(...ours).toFixed(1)} ms, zod's ${Math.min(...zods).toFixed(1)} ms per 20`);
  });
});
