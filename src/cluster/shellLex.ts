// The lexical layer of the bash parser: position, limits, blanks and comments, newlines
// (where pending here-document bodies are read), and a peek at the next plain word
// (reserved words). Words themselves are in shellWords.ts, the grammar in shellSyntax.ts.
import { PARSE_LIMITS, ShellSyntaxError, TooComplex, type Budget, type Part, type Redir, type Word } from './shellAst.js';

export const ARG_RUN = /[^ \t\n;&|()<>\\'"$`]+/y;
export const META = ' \t\n;&|()<>';

interface PendingHeredoc {
  delim: string;
  strip: boolean;
  quoted: boolean;
  redir: Redir;
}

export abstract class Lexer {
  protected pos = 0;
  protected readonly len: number;
  protected pending: PendingHeredoc[] = [];
  /** positions where `((` / `$((` did not parse as arithmetic: tried once, then read as subshells */
  protected readonly arithFailed = new Set<number>();

  constructor(
    protected readonly src: string,
    protected readonly budget: Budget,
    protected depth: number,
  ) {
    this.len = src.length;
    budget.bytes -= src.length;
    if (budget.bytes < 0) throw new TooComplex(`more than ${PARSE_LIMITS.bytes} bytes of shell text to parse (nested strings included)`);
  }

  /** The parts of an unquoted here-document body. */
  protected abstract heredocPartsOf(body: string): Part[];

  protected error(message: string): never {
    let line = 1;
    for (let i = this.src.indexOf('\n'); i >= 0 && i < this.pos; i = this.src.indexOf('\n', i + 1)) line++;
    throw new ShellSyntaxError(`line ${line}: ${message}`);
  }

  protected enter(): void {
    if (++this.depth > PARSE_LIMITS.depth) throw new TooComplex(`nested more than ${PARSE_LIMITS.depth} levels deep`);
  }

  protected leave(): void {
    this.depth--;
  }

  protected unit(n = 1): void {
    this.budget.units -= n;
    if (this.budget.units < 0) throw new TooComplex(`more than ${PARSE_LIMITS.units} words and commands`);
  }

  protected at(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  protected isMetaAt(i: number): boolean {
    return i >= this.len || META.includes(this.src[i]!);
  }

  /** Spaces, tabs, line continuations and a comment; never a newline. */
  protected skipBlanks(): void {
    while (this.pos < this.len) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '\\' && this.src[this.pos + 1] === '\n') this.pos += 2;
      else if (c === '#') {
        const nl = this.src.indexOf('\n', this.pos);
        this.pos = nl < 0 ? this.len : nl;
      } else break;
    }
  }

  /** Blanks and newlines; here-document bodies start after the newline that ends their line. */
  protected skipNewlines(): void {
    for (;;) {
      this.skipBlanks();
      if (this.src[this.pos] !== '\n') return;
      this.pos++;
      if (this.pending.length > 0) this.readHeredocBodies();
    }
  }

  /** The next word when it is plain unquoted text (reserved words, `}`), without consuming it. */
  protected peekWord(): string | null {
    if (this.peekedAt === this.pos) return this.peeked;
    this.peekedAt = this.pos;
    ARG_RUN.lastIndex = this.pos;
    const end = ARG_RUN.test(this.src) ? ARG_RUN.lastIndex : -1;
    this.peeked = end > this.pos && this.isMetaAt(end) ? this.src.slice(this.pos, end) : null;
    return this.peeked;
  }

  private peekedAt = -1;
  private peeked: string | null = null;

  protected addHeredoc(redir: Redir, delim: Word, strip: boolean): void {
    const quoted = delim.parts.some((p) => p.t !== 'lit' || p.q);
    const text = delim.parts.map((p) => (p.t === 'lit' ? p.v : p.src)).join('');
    this.pending.push({ delim: text, strip, quoted, redir });
  }

  protected readHeredocBodies(): void {
    const pending = this.pending;
    this.pending = [];
    for (const doc of pending) {
      const bodyStart = this.pos;
      let bodyEnd = this.len;
      while (this.pos < this.len) {
        const nl = this.src.indexOf('\n', this.pos);
        const lineEnd = nl < 0 ? this.len : nl;
        let line = this.src.slice(this.pos, lineEnd);
        if (doc.strip) line = line.replace(/^\t+/, '');
        const lineStart = this.pos;
        this.pos = nl < 0 ? this.len : nl + 1;
        if (line === doc.delim) {
          bodyEnd = lineStart;
          break;
        }
      }
      const body = this.src.slice(bodyStart, Math.min(bodyEnd, this.len));
      this.unit();
      doc.redir.target = doc.quoted ? { parts: [{ t: 'lit', v: body, q: true }], src: body } : { parts: this.heredocPartsOf(body), src: body };
      if (doc.quoted) doc.redir.quotedHeredoc = true;
    }
  }

  /** Here-documents whose line ended the input: bash reads them to the end. */
  protected finishHeredocs(): void {
    if (this.pending.length > 0) this.readHeredocBodies();
  }
}
