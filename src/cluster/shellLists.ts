// Lists, pipelines and simple commands of the bash grammar (with their redirections and
// assignments); compound commands are in shellCompound.ts (if/while/for/case) and shellSyntax.ts.
import type { Assign, Cmd, Pipeline, Redir, Stmt, Word } from './shellAst.js';
import { WordScanner } from './shellWords.js';

const REDIRECT = /(\d+|\{[A-Za-z_][A-Za-z0-9_]*\})?(&>>|&>|>>|>\||>&|<<<|<<-|<<|<&|<>|>|<)/y;
const REDIRECT_START = /[0-9{<>&]/;
const DECLARERS = new Set(['declare', 'typeset', 'local', 'export', 'readonly']);
const ASSIGNMENT = /([A-Za-z_][A-Za-z0-9_]*)(\[[^\]\n]*\])?(\+?)=/y;

export abstract class ListParser extends WordScanner {
  /** One command: simple or compound (shellSyntax.ts). */
  protected abstract parseCommand(): Cmd;
  /** The body of `name() …`. */
  protected abstract functionBody(start: number, name: string): Cmd;

  /** top-level statements completed so far (bash runs these before it meets a later syntax error) */
  readonly done: Stmt[] = [];
  /** when set, each top-level statement goes here as soon as it is complete and is not kept */
  onTop: ((stmt: Stmt) => void) | null = null;
  private held: Stmt[] = [];

  /** Hand over the statements parsed so far once their here-documents are read. */
  release(force = false): void {
    if (!force && this.pending.length > 0) return;
    while (this.held.length > 0) this.onTop!(this.held.shift()!);
  }

  protected describe(): string {
    return this.pos >= this.len ? 'end of input' : `\`${this.src.slice(this.pos, this.pos + 10).split('\n')[0] || '\\n'}\``;
  }

  /** Statements up to a closing `)`, `;;`, one of `stops` in command position, or the end. */
  protected parseList(stops: string[] | null, top = false): Stmt[] {
    const out: Stmt[] = [];
    for (;;) {
      this.skipNewlines();
      if (top && this.onTop) this.release();
      const c0 = this.src[this.pos];
      if (c0 === undefined || c0 === ')' || (c0 === ';' && (this.src[this.pos + 1] === ';' || this.src[this.pos + 1] === '&'))) break;
      const w = this.peekWord();
      if (w !== null && stops?.includes(w)) break;
      const stmt = this.parseAndOr();
      if (top && this.onTop) this.held.push(stmt);
      else {
        out.push(stmt);
        if (top) this.done.push(stmt);
      }
      this.skipBlanks();
      const c = this.src[this.pos];
      const next = this.src[this.pos + 1];
      if (c === ';' && next !== ';' && next !== '&') this.pos++;
      else if (c === '&' && next !== '&') {
        this.pos++;
        stmt.bg = true;
      } else if (c !== '\n') break;
    }
    return out;
  }

  protected parseAndOr(): Stmt {
    const start = this.pos;
    const pipes = [this.parsePipeline()];
    const ops: string[] = [];
    for (;;) {
      this.skipBlanks();
      const c = this.src[this.pos];
      if ((c !== '&' && c !== '|') || this.src[this.pos + 1] !== c) break;
      ops.push(this.src.slice(this.pos, this.pos + 2));
      this.pos += 2;
      this.skipNewlines();
      pipes.push(this.parsePipeline());
    }
    return { pipes, ops, bg: false, src: this.src.slice(start, this.pos) };
  }

  protected parsePipeline(): Pipeline {
    for (;;) {
      this.skipBlanks();
      const w = this.peekWord();
      if (w === 'time') {
        const start = this.pos;
        this.pos += 4;
        this.skipBlanks();
        if (this.peekWord() === '-p') {
          this.pos += 2;
          this.skipBlanks();
        }
        // `time` alone times nothing
        if (this.pos >= this.len || '\n;&|)'.includes(this.src[this.pos]!))
          return { cmds: [{ t: 'simple', assigns: [], words: [], redirs: [], src: this.src.slice(start, this.pos) }] };
      } else if (w === '!') this.pos++;
      else break;
    }
    const cmds = [this.parseCommand()];
    for (;;) {
      this.skipBlanks();
      if (this.at('||')) break;
      if (this.at('|&')) this.pos += 2;
      else if (this.src[this.pos] === '|') this.pos++;
      else break;
      this.skipNewlines();
      cmds.push(this.parseCommand());
    }
    return { cmds };
  }

  protected expectWord(word: string): void {
    this.skipNewlines();
    if (this.peekWord() !== word) this.error(`expected \`${word}\`, found ${this.describe()}`);
    this.pos += word.length;
  }

  protected expectChar(c: string): void {
    this.skipNewlines();
    if (this.src[this.pos] !== c) this.error(`expected \`${c}\`, found ${this.describe()}`);
    this.pos++;
  }

  protected parseSimple(start: number): Cmd {
    const assigns: Assign[] = [];
    const words: Word[] = [];
    const redirs: Redir[] = [];
    for (;;) {
      this.skipBlanks();
      if (this.pos >= this.len) break;
      if (this.tryRedirect(redirs)) continue;
      const c = this.src[this.pos]!;
      if (c === '(' && words.length === 1 && assigns.length === 0 && redirs.length === 0) {
        this.pos++;
        this.skipBlanks();
        if (this.src[this.pos] !== ')') this.error(`unexpected \`(\` after \`${words[0]!.src}\``);
        this.pos++;
        return this.functionBody(start, words[0]!.src);
      }
      if ('\n;&|()'.includes(c)) break;
      if (words.length === 0 && this.tryAssign(assigns)) continue;
      if (words.length > 0 && DECLARERS.has(words[0]!.src) && this.declaredArray(words)) continue;
      const w = this.readWord();
      if (!w) break;
      words.push(w);
    }
    if (words.length === 0 && assigns.length === 0 && redirs.length === 0) this.error(`unexpected ${this.describe()}`);
    return { t: 'simple', assigns, words, redirs, src: this.src.slice(start, this.pos).trimEnd() };
  }

  protected tryRedirect(redirs: Redir[]): boolean {
    if (!REDIRECT_START.test(this.src[this.pos] ?? '')) return false;
    REDIRECT.lastIndex = this.pos;
    const m = REDIRECT.exec(this.src);
    if (!m) return false;
    const [all, fd, op] = m as unknown as [string, string | undefined, string];
    if ((op === '<' || op === '>') && this.src[this.pos + all.length] === '(') return false; // <( ) is a word
    this.pos += all.length;
    this.skipBlanks();
    const redir: Redir = { op };
    if (fd !== undefined) redir.fd = fd;
    const target = this.readWord();
    if (!target) this.error(`expected a word after \`${op}\`, found ${this.describe()}`);
    if (op === '<<' || op === '<<-') this.addHeredoc(redir, target, op === '<<-');
    else redir.target = target;
    redirs.push(redir);
    return true;
  }

  /** `declare -A m=([k]=v)`: an array literal as an argument of a declaration builtin. */
  private declaredArray(words: Word[]): boolean {
    ASSIGNMENT.lastIndex = this.pos;
    const m = ASSIGNMENT.exec(this.src);
    if (!m || this.src[this.pos + m[0].length] !== '(') return false;
    const start = this.pos;
    const assigns: Assign[] = [];
    this.tryAssign(assigns);
    const items = assigns[0]?.items ?? [];
    words.push({
      parts: [{ t: 'lit', v: m[0], q: false }, ...items.flatMap((w) => [{ t: 'lit' as const, v: ' ', q: true }, ...w.parts])],
      src: this.src.slice(start, this.pos),
    });
    return true;
  }

  protected tryAssign(assigns: Assign[]): boolean {
    ASSIGNMENT.lastIndex = this.pos;
    const m = ASSIGNMENT.exec(this.src);
    if (!m) return false;
    this.pos += m[0].length;
    const assign: Assign = { name: m[1]!, append: m[3] === '+' };
    if (m[2]) assign.index = m[2].slice(1, -1);
    if (this.src[this.pos] === '(') {
      this.pos++;
      const items: Word[] = [];
      for (;;) {
        this.skipNewlines();
        if (this.src[this.pos] === ')') {
          this.pos++;
          break;
        }
        const w = this.readWord();
        if (!w) this.error(`unexpected ${this.describe()} in the array assigned to ${assign.name}`);
        items.push(w);
      }
      assign.items = items;
    } else {
      const value = this.readWord();
      if (value) assign.value = value;
    }
    assigns.push(assign);
    return true;
  }
}
