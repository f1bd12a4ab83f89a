// The command field's checks: every problem a command has is named, as four separate refines named them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commandField, parallelInput } from '../../src/mcp/schemas.js';

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
