// Bash brace expansion (`{a,b}`, `{1..9}`), capped: a word that would expand to more than
// BRACE_CAP words is reported as too complex instead of being expanded, so
// `{a,b}` repeated 26 times costs microseconds, not gigabytes.

export const BRACE_CAP = 256;
/** more alternatives than this in a numeric range: one stand-in ('0'), digits whatever they are */
const MAX_RANGE = 64;
const MAX_BRACE_ROUNDS = 64;
const SEQUENCE = /^(?:(-?\d+)\.\.(-?\d+)|([A-Za-z])\.\.([A-Za-z]))(?:\.\.(-?\d+))?$/;

/** Bash brace expansion with a hard cap on the number of words. */
export function braceExpand(text: string): string[] | null {
  if (countAlternatives(text) > BRACE_CAP) return null;
  let results = [text];
  for (let round = 0; round < MAX_BRACE_ROUNDS; round++) {
    let changed = false;
    const next: string[] = [];
    for (const r of results) {
      const e = expandFirst(r);
      if (e) {
        changed = true;
        next.push(...e);
      } else next.push(r);
      if (next.length > BRACE_CAP) return null;
    }
    results = next;
    if (!changed) return results;
  }
  return null;
}

interface Group {
  open: number;
  close: number;
  commas: number[];
}

/** Brace groups with their top-level commas, in one pass. */
function groups(text: string): Group[] {
  const stack: Group[] = [];
  const found: Group[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') stack.push({ open: i, close: -1, commas: [] });
    else if (c === '}' && stack.length > 0) {
      const g = stack.pop()!;
      g.close = i;
      found.push(g);
    } else if (c === ',' && stack.length > 0) stack[stack.length - 1]!.commas.push(i);
  }
  return found.sort((a, b) => a.open - b.open);
}

function sequenceOf(content: string): string[] | null {
  if (content.length > 40) return null;
  const m = SEQUENCE.exec(content);
  if (!m) return null;
  const step = Math.abs(Number(m[5] ?? 1)) || 1;
  if (m[1] !== undefined) {
    const [a, b] = [Number(m[1]), Number(m[2])];
    const count = Math.floor(Math.abs(b - a) / step) + 1;
    if (count > MAX_RANGE) return ['0']; // a long numeric range: digits, whatever they are
    return Array.from({ length: count }, (_v, k) => String(a + (b >= a ? 1 : -1) * k * step));
  }
  const [a, b] = [m[3]!.charCodeAt(0), m[4]!.charCodeAt(0)];
  const count = Math.floor(Math.abs(b - a) / step) + 1;
  return Array.from({ length: Math.min(count, 64) }, (_v, k) => String.fromCharCode(a + (b >= a ? 1 : -1) * k * step));
}

function countAlternatives(text: string): number {
  let product = 1;
  let outerEnd = -1;
  for (const g of groups(text)) {
    if (g.open < outerEnd) continue;
    const n = g.commas.length > 0 ? g.commas.length + 1 : (sequenceOf(text.slice(g.open + 1, g.close))?.length ?? 1);
    if (n > 1) outerEnd = g.close;
    product *= n;
    if (product > BRACE_CAP) return product;
  }
  return product;
}

function expandFirst(text: string): string[] | null {
  for (const g of groups(text)) {
    const pre = text.slice(0, g.open);
    const post = text.slice(g.close + 1);
    if (g.commas.length > 0) {
      const cuts = [g.open, ...g.commas, g.close];
      return cuts.slice(0, -1).map((c, k) => pre + text.slice(c + 1, cuts[k + 1]) + post);
    }
    const seq = sequenceOf(text.slice(g.open + 1, g.close));
    if (seq) return seq.map((v) => pre + v + post);
  }
  return null;
}
