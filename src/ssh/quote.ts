// The one shell-quoting helper for every string we put into a POSIX shell script.
// Single quotes are the only quoting with no special characters inside, so the result is
// the same under sh, dash, bash and zsh; shell-quote's `quote` was not used because it
// backslash-escapes unquoted words, which is harder to read in generated scripts.

/** Quote one value as a single POSIX shell word. */
export function shq(value: string): string {
  if (value.includes('\0')) throw new Error('a shell word cannot contain a NUL byte');
  if (value !== '' && /^[A-Za-z0-9_\/.,:+@%-]+$/.test(value)) return value;
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
