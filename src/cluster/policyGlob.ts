// Glob patterns in `${x#…}`, `${x%…}` and `${x/…/…}`: turned into regular expressions (refused
// when they could backtrack badly) and applied to a value. Apart from policyWords.ts, which
// expands the words these operators sit in.

export const MAX_AFFIX_VALUE = 1024;

/** A glob pattern as a regular expression; null for patterns that could backtrack badly. */
export function globRegex(pattern: string, lazy: boolean): string | null {
  if ((pattern.match(/\*/g)?.length ?? 0) > 3 || pattern.length > 200) return null;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += lazy ? '[^]*?' : '[^]*';
    else if (c === '?') out += '[^]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      const body = pattern
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\');
      out += `[${body}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return out;
}

export function removeAffix(value: string, pattern: string, op: string): string | null {
  if (value.length > MAX_AFFIX_VALUE) return null;
  if (op === '#' || op === '##') {
    const re = globRegex(pattern, op === '#');
    if (re === null) return null;
    const m = new RegExp(`^(?:${re})`).exec(value);
    return m ? value.slice(m[0].length) : value;
  }
  const re = globRegex(pattern, false);
  if (re === null) return null;
  const whole = new RegExp(`^(?:${re})$`);
  if (op === '%') {
    for (let i = value.length; i >= 0; i--) if (whole.test(value.slice(i))) return value.slice(0, i);
  } else {
    for (let i = 0; i <= value.length; i++) if (whole.test(value.slice(i))) return value.slice(0, i);
  }
  return value;
}
