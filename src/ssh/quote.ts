// The one shell-quoting helper for every string we put into a POSIX shell script.
// Single quotes are the only quoting with no special characters inside, so the result is
// the same under sh, dash, bash and zsh; shell-quote's `quote` was not used because it
// backslash-escapes unquoted words, which is harder to read in generated scripts.

/** Quote one value as a single POSIX shell word. */
export function shq(value: string): string {
  if (value.includes('\0')) throw new Error('a shell word cannot contain a NUL byte');
  if (value !== '' && /^[A-Za-z0-9_/.,:+@%-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quote each value and join them with spaces: a ready-to-run argument list. */
export function shqArgs(values: readonly string[]): string {
  return values.map(shq).join(' ');
}

/**
 * A POSIX script as one command any common login shell runs the same way (sshd hands the
 * command to the user's shell, which may be fish or zsh): `exec sh -c '<script>'`.
 * Costs one exec (~0.3-0.7 ms); csh-family shells remain unsupported (no multi-line quotes).
 */
export function inPosixSh(script: string): string {
  return `exec sh -c ${shq(script)}`;
}

/**
 * Quote one value as a single bash word with no newline in the script text: `$'...'` with
 * control characters escaped. Bash only (the chunk runner, which must stay on one line).
 */
export function bashq(value: string): string {
  if (value.includes('\0')) throw new Error('a shell word cannot contain a NUL byte');
  if (value !== '' && /^[A-Za-z0-9_/.,:+@%=-]+$/.test(value)) return value;
  const escaped = value.replace(/[\\'\x01-\x1f\x7f]/g, (c) => {
    if (c === '\\' || c === "'") return `\\${c}`;
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `$'${escaped}'`;
}

/** bashq each value and join them with spaces. */
export function bashqArgs(values: readonly string[]): string {
  return values.map(bashq).join(' ');
}
