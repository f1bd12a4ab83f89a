// What tool inputs may hold: checks on text that reaches a shell or a Temporal id, and their messages.

export const noNul = (s: string) => !s.includes('\0');
// Commands may hold tabs and newlines (scripts); nothing else below 0x20, and no DEL.
const commandChars = (s: string) => !/[\x00-\x08\x0b-\x1f\x7f]/.test(s);
export const plainChars = (s: string) => !/[\x00-\x1f\x7f]/.test(s);
// A lone surrogate cannot be encoded (bash would get U+FFFD), and U+FFFD itself is the mark of
// bytes that were not UTF-8 on the way in (the stdio transport decodes lossily): refuse both
// rather than run something other than what the caller wrote.
export const wellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\uFFFD/.test(s);
export const NOT_UNICODE = 'contains invalid Unicode (a lone surrogate, or U+FFFD from bytes that were not UTF-8)';

/** Every problem of a command, in a fixed order (empty when it may run). */
export function commandProblems(s: string): string[] {
  const problems: string[] = [];
  if (!noNul(s)) problems.push('command contains a NUL byte');
  if (!commandChars(s)) problems.push('command contains control characters (only tab and newline are allowed)');
  if (!wellFormed(s)) problems.push(`command ${NOT_UNICODE}`);
  if (s.trim().length === 0) problems.push('command is only whitespace');
  return problems;
}
