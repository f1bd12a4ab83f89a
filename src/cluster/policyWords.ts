// What a word expands to, as far as the check can see: literal text, variables assigned
// literally (in the command or the task's env), brace expansion (capped: never
// exponential), word splitting of unquoted expansions, simple `${x%…}`-style operators.
// Anything else (`$1`, `$(curl …)`, a variable from the node's environment) is hidden.
import type { Part, Stmt, Word } from './shellAst.js';
import type { Arg, Stdin } from './policyTypes.js';
import { braceExpand } from './policyBraces.js';
import { globRegex, MAX_AFFIX_VALUE, removeAffix } from './policyGlob.js';

/** Possible values; null when the check cannot see them. */
export type Values = string[] | null;

export interface WordEnv {
  lookup(name: string): Values;
  /** an array assigned literally; undefined when `name` is no known array */
  array(name: string): Values | undefined;
  /** walk a command substitution's body; its output when the check can see it */
  substitute(body: Stmt[]): string | null;
  /** walk a process substitution's body; what reading it yields */
  process(body: Stmt[], dir: '<' | '>'): Stdin;
  spend(units: number): void;
}

const MAX_ALTS = 64;
const MAX_VALUE_LENGTH = 4096;
// Quoted or expanded characters are inert to brace expansion: encode them while expanding.
const INERT: Record<string, string> = { '{': '\uE000', '}': '\uE001', ',': '\uE002', '.': '\uE003' };
const DECODE: Record<string, string> = { '\uE000': '{', '\uE001': '}', '\uE002': ',', '\uE003': '.' };
const SEP = '\uE004';

interface Seg {
  s: string;
  active: boolean;
  split: boolean;
}
interface Expanded {
  alts: Seg[][];
  hidden?: string;
  stream?: Stdin;
}

function expand(word: Word, env: WordEnv): Expanded {
  let alts: Seg[][] = [[]];
  let hidden: string | undefined;
  let stream: Stdin | undefined;
  const push = (seg: Seg): void => alts.forEach((a) => a.push(seg));
  for (const part of word.parts) {
    let vals: Values;
    let quoted = true;
    switch (part.t) {
      case 'lit':
        push({ s: part.v, active: !part.q, split: false });
        continue;
      case 'param':
        vals = paramValues(part, env);
        // "${a[@]}" and "$@" are several words even when quoted
        quoted = part.q && part.index !== '@' && part.index !== '*';
        break;
      case 'cmd': {
        const out = env.substitute(part.body);
        vals = out === null ? null : [out.replace(/\n+$/, '')];
        quoted = part.q;
        break;
      }
      case 'arith':
        walkInner(part.inner, env);
        vals = ['0'];
        break;
      case 'proc':
        stream = env.process(part.body, part.dir);
        vals = ['/dev/fd/63'];
        break;
    }
    if (vals !== null && vals.some((v) => v.length > MAX_VALUE_LENGTH)) vals = null; // `X=$X$X` doubling: stop following it
    if (vals === null) {
      hidden ??= part.src;
      push({ s: part.src, active: false, split: false });
    } else if (vals.length === 1) {
      push({ s: vals[0]!, active: false, split: !quoted });
    } else if (alts.length * vals.length > MAX_ALTS) {
      hidden ??= `${part.src} (it may take too many values)`;
      push({ s: part.src, active: false, split: false });
    } else {
      const values = vals;
      alts = alts.flatMap((a) => values.map((v) => [...a, { s: v, active: false, split: !quoted }]));
    }
  }
  const out: Expanded = { alts };
  if (hidden !== undefined) out.hidden = hidden;
  if (stream && word.parts.length === 1) out.stream = stream;
  return out;
}

function walkInner(parts: Part[], env: WordEnv): void {
  for (const p of parts) if (p.t === 'cmd') env.substitute(p.body);
}

const render = (alt: Seg[]): string => alt.map((s) => s.s).join('');

/** The value of an assignment (no brace expansion, no splitting). */
export function resolveValue(word: Word, env: WordEnv): Values {
  env.spend(1);
  const e = expand(word, env);
  return e.hidden !== undefined ? null : [...new Set(e.alts.map(render))];
}

/** Every value a list of arguments may take (a `for` list, an array literal); null when one is hidden. */
export function listValues(args: Arg[]): Values {
  if (args.some((a) => a.hidden !== undefined || a.complex)) return null;
  return args.flatMap((a) => a.values);
}

/** The arguments the words become. */
export function resolveArgs(words: Word[], env: WordEnv): Arg[] {
  const args: Arg[] = [];
  for (const word of words) {
    env.spend(1);
    const plain = plainText(word);
    if (plain !== null) {
      if (plain !== '' || word.parts.length > 0) args.push({ text: plain, values: [plain] });
      continue;
    }
    const e = expand(word, env);
    if (e.hidden !== undefined) {
      const arg: Arg = { text: render(e.alts[0]!), values: [], hidden: e.hidden };
      if (e.stream) arg.stream = e.stream;
      args.push(arg);
      continue;
    }
    const quoted = word.parts.some((p) => p.t !== 'proc' && p.q);
    const splits = e.alts.some((alt) => alt.some((seg) => seg.split));
    const ifs = splits ? single(env.lookup('IFS')) : ' \t\n';
    if (ifs === null) {
      args.push({ text: word.src, values: [], hidden: `${word.src} (split by an IFS the check cannot see)` });
      continue;
    }
    const perAlt = e.alts.map((alt) => fields(alt, quoted, ifs));
    if (perAlt.some((f) => f === null)) {
      args.push({ text: word.src, values: [word.src], complex: true });
      continue;
    }
    const lists = perAlt as string[][];
    env.spend(lists.reduce((n, l) => n + l.length, 0));
    if (lists.length === 1) {
      for (const f of lists[0]!) args.push(e.stream ? { text: f, values: [f], stream: e.stream } : { text: f, values: [f] });
    } else if (lists.every((l) => l.length === 1)) {
      const values = [...new Set(lists.map((l) => l[0]!))];
      args.push({ text: values[0]!, values });
    } else {
      for (const f of lists.flat()) args.push({ text: f, values: [f] });
    }
  }
  return args;
}

/** The text of a word made of literal parts only, with no brace expansion to do; else null. */
function plainText(word: Word): string | null {
  let text = '';
  for (const p of word.parts) {
    if (p.t !== 'lit' || (!p.q && p.v.includes('{'))) return null;
    text += p.v;
  }
  return text;
}

/** Brace expansion, then splitting of unquoted expansions; null past the brace cap. */
function fields(alt: Seg[], quoted: boolean, ifs: string): string[] | null {
  const separators = ifs === '' ? null : new RegExp(`[${ifs.replace(/[\\\]^-]/g, '\\$&')}]+`, 'g');
  let text = '';
  let braces = false;
  for (const seg of alt) {
    if (seg.active) {
      text += seg.s;
      if (seg.s.includes('{')) braces = true;
    } else {
      // split first: IFS may hold a character that brace expansion would otherwise see (`IFS=,`)
      let s = seg.split && separators ? seg.s.replace(separators, SEP) : seg.s;
      s = s.replace(/[{},.]/g, (c) => INERT[c]!);
      text += s;
    }
  }
  const words = braces ? braceExpand(text) : [text];
  if (words === null) return null;
  const out: string[] = [];
  for (const w of words) {
    if (w.includes(SEP)) out.push(...w.split(SEP).filter((f) => f !== ''));
    else if (w !== '' || quoted) out.push(w);
  }
  return out.map((f) => f.replace(/[\uE000-\uE003]/g, (c) => DECODE[c]!));
}

function paramValues(p: Extract<Part, { t: 'param' }>, env: WordEnv): Values {
  if (p.op === 'len') return ['0'];
  if (p.op.startsWith('ind') || p.op.endsWith('?bad')) return null;
  let base: Values;
  if (p.index !== undefined) {
    const arr = env.array(p.name);
    if (arr === undefined) base = ['0', '@', '*'].includes(p.index) ? env.lookup(p.name) : null;
    else if (arr === null) base = null;
    else if (p.index === '@' || p.index === '*') base = [arr.join(' ')];
    else base = /^\d+$/.test(p.index) ? [arr[Number(p.index)] ?? ''] : null;
  } else base = env.lookup(p.name);
  if (base === null || p.op === '') return base;
  const op = p.op;
  if (op === ':?' || op === '?') return base;
  if (op === '^^' || op === ',,' || op === '^' || op === ',') {
    return base.map((v) =>
      op === '^^'
        ? v.toUpperCase()
        : op === ',,'
          ? v.toLowerCase()
          : op === '^'
            ? v.slice(0, 1).toUpperCase() + v.slice(1)
            : v.slice(0, 1).toLowerCase() + v.slice(1),
    );
  }
  if (op.startsWith('/')) return replaceValues(base, op, p.arg, env);
  const arg = p.arg ? single(resolveValue(p.arg, env)) : '';
  if (arg === null) return null;
  switch (op) {
    case ':-':
    case ':=':
      return base.map((v) => (v === '' ? arg : v));
    case '-':
    case '=':
      return base;
    case ':+':
      return base.map((v) => (v === '' ? '' : arg));
    case '+':
      return base.map(() => arg);
    case '#':
    case '##':
    case '%':
    case '%%': {
      const out = base.map((v) => removeAffix(v, arg, op));
      return out.some((v) => v === null) ? null : (out as string[]);
    }
    default:
      return null;
  }
}

function single(values: Values): string | null {
  return values && values.length === 1 ? values[0]! : null;
}

function replaceValues(base: string[], op: string, arg: Word | undefined, env: WordEnv): Values {
  const parts = arg?.parts ?? [];
  const cut = parts.findIndex((p) => p.t === 'lit' && !p.q && p.v.includes('/'));
  let patternWord: Word = { parts, src: '' };
  let replacement: Word = { parts: [], src: '' };
  if (cut >= 0) {
    const lit = parts[cut] as Extract<Part, { t: 'lit' }>;
    const at = lit.v.indexOf('/');
    patternWord = { parts: [...parts.slice(0, cut), { t: 'lit', v: lit.v.slice(0, at), q: false }], src: '' };
    replacement = { parts: [{ t: 'lit', v: lit.v.slice(at + 1), q: false }, ...parts.slice(cut + 1)], src: '' };
  }
  const pattern = single(resolveValue(patternWord, env));
  const rep = single(resolveValue(replacement, env));
  if (pattern === null || rep === null || pattern === '') return pattern === '' ? base : null;
  const re = globRegex(pattern, false);
  if (re === null || base.some((v) => v.length > MAX_AFFIX_VALUE)) return null;
  const anchored = op === '/#' ? `^(?:${re})` : op === '/%' ? `(?:${re})$` : re;
  const regex = new RegExp(anchored, op === '//' ? 'g' : '');
  return base.map((v) => v.replace(regex, () => rep));
}
