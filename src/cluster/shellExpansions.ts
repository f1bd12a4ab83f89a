// What `$` and backquotes start inside a word (parameters, command, process and arithmetic
// substitution) and double quotes, which nest in one another. The layer below shellWords.ts,
// which finds where a word ends and reads here-document bodies.
import { ShellSyntaxError, type Part, type Stmt, type Word } from './shellAst.js';
import { Lexer } from './shellLex.js';

const DQ_RUN = /[^"\\$`]+/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const DIGITS = /[0-9]+/y;
const SPECIAL_PARAMS = '@*#?-$!0123456789';
const PARAM_OPS = [':-', ':=', ':?', ':+', '##', '%%', '//', '/#', '/%', '^^', ',,', '-', '=', '?', '+', '#', '%', '/', '^', ',', '@', ':'];

export type WordMode = 'arg' | 'brace' | 'regex';

export abstract class ExpansionScanner extends Lexer {
  /** Parse a list up to (not including) a closing `)`. */
  protected abstract parseUntilParen(): Stmt[];
  /** Parse a whole nested command line (the text of a backquoted command). */
  protected abstract parseNested(source: string): Stmt[];
  /** Read one word; `mode` says what ends it. */
  protected abstract readWord(mode?: WordMode): Word | null;

  /** After the opening `"`: the parts up to and including the closing one. */
  protected readDouble(): Part[] {
    const parts: Part[] = [];
    for (;;) {
      if (this.pos >= this.len) this.error('unterminated double quote');
      const c = this.src[this.pos]!;
      if (c === '"') {
        this.pos++;
        return parts;
      }
      if (c === '\\') {
        this.readQuotedBackslash(parts, '$`"\\\n');
      } else if (c === '$') {
        this.readDollar(parts, true);
      } else if (c === '`') {
        parts.push(this.readBacktick(true));
      } else {
        DQ_RUN.lastIndex = this.pos;
        DQ_RUN.test(this.src);
        const text = this.src.slice(this.pos, DQ_RUN.lastIndex);
        parts.push({ t: 'lit', v: text, q: true });
        this.pos += text.length;
      }
    }
  }

  /**
   * A `\` where bash keeps it unless one of `escapable` follows (in double quotes: $ ` " \ newline;
   * in an unquoted here-document: the same without "): then only that character is kept, and a
   * backslash-newline is removed altogether.
   */
  protected readQuotedBackslash(parts: Part[], escapable: string): void {
    const next = this.src[this.pos + 1];
    if (next !== undefined && escapable.includes(next)) {
      if (next !== '\n') parts.push({ t: 'lit', v: next, q: true });
      this.pos += 2;
    } else {
      parts.push({ t: 'lit', v: '\\', q: true });
      this.pos++;
    }
  }

  protected readDollar(parts: Part[], q: boolean): void {
    const start = this.pos;
    const c = this.src[this.pos + 1];
    if (c === "'" && !q) {
      let i = this.pos + 2;
      while (i < this.len && this.src[i] !== "'") i += this.src[i] === '\\' ? 2 : 1;
      if (i >= this.len) this.error("unterminated $'…' quote");
      parts.push({ t: 'lit', v: ansiC(this.src.slice(this.pos + 2, i)), q: true });
      this.pos = i + 1;
    } else if (c === '"' && !q) {
      this.pos += 2;
      parts.push(...this.readDouble());
    } else if (c === '(' && this.src[this.pos + 2] === '(' && !this.arithFailed.has(start)) {
      // `$((` is arithmetic unless that fails to parse: then, as in bash, `$( (…) …)`
      try {
        this.pos += 3;
        const inner = this.scanArith('))');
        parts.push({ t: 'arith', inner, q, src: this.src.slice(start, this.pos) });
      } catch (err) {
        if (!(err instanceof ShellSyntaxError)) throw err;
        this.arithFailed.add(start);
        this.pos = start;
        this.readDollar(parts, q);
      }
    } else if (c === '(') {
      this.pos += 2;
      this.enter();
      const body = this.parseUntilParen();
      if (this.src[this.pos] !== ')') this.error('unterminated $( )');
      this.pos++;
      this.leave();
      parts.push({ t: 'cmd', body, q, src: this.src.slice(start, this.pos) });
    } else if (c === '[') {
      this.pos += 2;
      const inner = this.scanArith(']');
      parts.push({ t: 'arith', inner, q, src: this.src.slice(start, this.pos) });
    } else if (c === '{') {
      parts.push(this.readBraceParam(q));
    } else if (c !== undefined && /[A-Za-z_]/.test(c)) {
      NAME.lastIndex = this.pos + 1;
      const name = NAME.exec(this.src)![0];
      this.pos += 1 + name.length;
      parts.push({ t: 'param', name, op: '', q, src: this.src.slice(start, this.pos) });
    } else if (c !== undefined && SPECIAL_PARAMS.includes(c)) {
      this.pos += 2;
      parts.push({ t: 'param', name: c, op: '', q, src: this.src.slice(start, this.pos) });
    } else {
      this.pos++;
      parts.push({ t: 'lit', v: '$', q });
    }
  }

  private readBraceParam(q: boolean): Part {
    const start = this.pos;
    this.pos += 2;
    let op = '';
    const first = this.src[this.pos];
    const second = this.src[this.pos + 1];
    if ((first === '#' || first === '!') && second !== undefined && second !== '}' && (/[A-Za-z_0-9]/.test(second) || SPECIAL_PARAMS.includes(second))) {
      op = first === '#' ? 'len' : 'ind';
      this.pos++;
    }
    let name = '';
    NAME.lastIndex = this.pos;
    DIGITS.lastIndex = this.pos;
    const m = NAME.exec(this.src) ?? DIGITS.exec(this.src);
    if (m && m.index === this.pos) name = m[0];
    else if (this.pos < this.len && SPECIAL_PARAMS.includes(this.src[this.pos]!)) name = this.src[this.pos]!;
    this.pos += name.length;
    let index: string | undefined;
    if (this.src[this.pos] === '[') {
      const end = this.src.indexOf(']', this.pos);
      if (end < 0) this.error('unterminated ${…[ ]');
      index = this.src.slice(this.pos + 1, end);
      this.pos = end + 1;
    }
    let arg: Word | undefined;
    if (this.src[this.pos] !== '}') {
      const found = PARAM_OPS.find((o) => this.at(o));
      const expOp = found ?? '?bad';
      if (found) this.pos += found.length;
      op = op === '' ? expOp : `${op}${expOp}`;
      arg = this.readWord('brace') ?? undefined;
    }
    if (this.src[this.pos] !== '}') this.error('unterminated ${…}');
    this.pos++;
    const part: Part = { t: 'param', name, op, q, src: this.src.slice(start, this.pos) };
    if (index !== undefined) part.index = index;
    if (arg) part.arg = arg;
    return part;
  }

  /** Arithmetic text up to `end`: only the substitutions inside matter. */
  protected scanArith(end: '))' | ']'): Part[] {
    const inner: Part[] = [];
    let depth = 0;
    for (;;) {
      if (this.pos >= this.len) this.error('unterminated arithmetic expression');
      const c = this.src[this.pos]!;
      if (depth === 0 && (end === '))' ? c === ')' && this.src[this.pos + 1] === ')' : c === ']')) {
        this.pos += end.length;
        return inner;
      }
      if (c === '(') {
        depth++;
        this.pos++;
      } else if (c === ')') {
        if (--depth < 0) this.error('unbalanced ) in arithmetic');
        this.pos++;
      } else if (c === '$') this.readDollar(inner, true);
      else if (c === '`') inner.push(this.readBacktick(true));
      else if (c === '"') {
        this.pos++;
        inner.push(...this.readDouble());
      } else if (c === '\\') this.pos += 2;
      else this.pos++;
    }
  }

  protected readBacktick(q: boolean): Part {
    const start = this.pos;
    const pieces: string[] = [];
    let i = this.pos + 1;
    let from = i;
    for (;;) {
      if (i >= this.len) this.error('unterminated backquote');
      const c = this.src[i];
      if (c === '`') break;
      if (c === '\\' && i + 1 < this.len && ('`$\\'.includes(this.src[i + 1]!) || (q && this.src[i + 1] === '"'))) {
        pieces.push(this.src.slice(from, i));
        from = i + 1;
        i += 2;
      } else i++;
    }
    pieces.push(this.src.slice(from, i));
    this.pos = i + 1;
    this.enter();
    const body = this.parseNested(pieces.join(''));
    this.leave();
    return { t: 'cmd', body, q, src: this.src.slice(start, this.pos) };
  }

  protected readProcess(dir: '<' | '>'): Part {
    const start = this.pos;
    this.pos += 2;
    this.enter();
    const body = this.parseUntilParen();
    if (this.src[this.pos] !== ')') this.error(`unterminated ${dir}( )`);
    this.pos++;
    this.leave();
    return { t: 'proc', dir, body, src: this.src.slice(start, this.pos) };
  }
}

/** `$'\x2f'` is `/`: decode ANSI-C quoting so it cannot hide a path or a program name. */
export function ansiC(text: string): string {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v' };
  return text.replace(/\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)/gs, (_m, esc: string) => {
    if (/^[xuU][0-9A-Fa-f]/.test(esc)) {
      const code = parseInt(esc.slice(1), 16);
      return code <= 0x10ffff ? String.fromCodePoint(code) : '';
    }
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8) & 0xff);
    if (esc.startsWith('c')) return String.fromCharCode(esc.charCodeAt(1) & 0x1f);
    return simple[esc] ?? esc;
  });
}
