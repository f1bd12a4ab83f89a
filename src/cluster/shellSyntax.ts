// A bash grammar over the words of shellWords.ts: lists, pipelines, if/while/until/for/
// case, groups, subshells, functions, [[ ]], (( )), redirections and here-documents.
// Recursive descent with a depth cap and a shared work budget, so any input is parsed (or
// refused as too complex) in time linear in its length. Why not mvdan-sh: its GopherJS
// build needs ~0.4 s for 64 KiB of `a;`, far beyond the policy's time bound.
import { newBudget, ShellSyntaxError, TooComplex, type Budget, type Cmd, type Part, type Stmt, type Word } from './shellAst.js';
import { CompoundParser, IDENTIFIER } from './shellCompound.js';

export interface ParseResult {
  stmts: Stmt[];
  /** a syntax error: `stmts` then holds the top-level statements parsed before it */
  error?: string;
  /** a limit was hit (size, nesting, work) */
  tooComplex?: string;
}

const TERMINATORS = new Set(['then', 'elif', 'else', 'fi', 'do', 'done', 'esac', '}', 'in', ']]']);

/**
 * Parse a command line; never throws a parse error. With `onStatement`, each top-level
 * statement is handed over as soon as it is complete (and not kept), so a long script never
 * sits in memory as a whole; errors thrown by `onStatement` propagate.
 */
export function parseScript(source: string, budget: Budget = newBudget(), depth = 0, onStatement?: (stmt: Stmt) => void): ParseResult {
  let parser: ShellParser | undefined;
  try {
    parser = new ShellParser(source, budget, depth);
    if (onStatement) parser.onTop = onStatement;
    const stmts = parser.parseProgram();
    if (onStatement) parser.release(true);
    return { stmts };
  } catch (err) {
    if (onStatement && (err instanceof TooComplex || err instanceof ShellSyntaxError)) parser?.release(true);
    const stmts = parser?.done ?? [];
    if (err instanceof TooComplex) return { stmts, tooComplex: err.message };
    if (err instanceof ShellSyntaxError) return { stmts, error: err.message };
    if (err instanceof RangeError) return { stmts, tooComplex: 'nested too deeply to parse' };
    throw err;
  }
}

class ShellParser extends CompoundParser {
  parseProgram(): Stmt[] {
    const stmts = this.parseList(null, true);
    this.skipNewlines();
    if (this.pos < this.len) this.error(`unexpected ${this.describe()}`);
    this.finishHeredocs();
    return stmts;
  }

  protected parseUntilParen(): Stmt[] {
    return this.parseList(null);
  }

  protected parseNested(source: string): Stmt[] {
    return new ShellParser(source, this.budget, this.depth).parseProgram();
  }

  protected heredocPartsOf(body: string): Part[] {
    return new ShellParser(body, this.budget, this.depth).readHeredocParts();
  }

  protected parseCommand(): Cmd {
    this.unit();
    this.enter();
    this.skipBlanks();
    const start = this.pos;
    const w = this.peekWord();
    let cmd: Cmd;
    if (w === 'if') cmd = this.parseIf(start);
    else if (w === 'while' || w === 'until') cmd = this.parseLoop(start, w);
    else if (w === 'for' || w === 'select') cmd = this.parseFor(start, w);
    else if (w === 'case') cmd = this.parseCase(start);
    else if (w === '{') cmd = this.parseGroup(start);
    else if (w === '[[') cmd = this.parseTest(start);
    else if (w === 'function') cmd = this.parseFunction(start);
    else if (w === 'coproc') cmd = this.parseCoproc(start);
    else if (w !== null && TERMINATORS.has(w)) this.error(`unexpected \`${w}\``);
    else if (this.at('((') && !this.arithFailed.has(start)) {
      // arithmetic unless that fails to parse: then, as in bash, nested subshells
      try {
        this.pos += 2;
        const inner = this.scanArith('))');
        cmd = { t: 'test', words: [], inner, redirs: [], src: this.src.slice(start, this.pos) };
      } catch (err) {
        if (!(err instanceof ShellSyntaxError)) throw err;
        this.arithFailed.add(start);
        this.pos = start;
        this.leave();
        return this.parseCommand();
      }
    } else if (this.src[this.pos] === '(') {
      this.pos++;
      const body = this.parseList(null);
      this.expectChar(')');
      cmd = { t: 'subshell', body, redirs: [], src: this.src.slice(start, this.pos) };
    } else {
      cmd = this.parseSimple(start);
      this.leave();
      return cmd;
    }
    if (cmd.t !== 'func') {
      for (;;) {
        this.skipBlanks();
        if (!this.tryRedirect(cmd.redirs)) break;
      }
    }
    this.leave();
    return cmd;
  }

  private parseGroup(start: number): Cmd {
    this.pos++;
    const body = this.parseList(['}']);
    this.expectWord('}');
    return { t: 'group', body, redirs: [], src: this.src.slice(start, this.pos) };
  }

  private parseTest(start: number): Cmd {
    this.pos += 2;
    const words: Word[] = [];
    let regexNext = false;
    for (;;) {
      this.skipNewlines();
      if (this.pos >= this.len) this.error('unterminated `[[`');
      if (this.peekWord() === ']]') {
        this.pos += 2;
        break;
      }
      if (this.at('&&') || this.at('||')) {
        this.pos += 2;
        continue;
      }
      if ('()<>!'.includes(this.src[this.pos]!)) {
        this.pos++;
        continue;
      }
      const w = this.readWord(regexNext ? 'regex' : 'arg');
      if (!w) this.error(`unexpected ${this.describe()} in \`[[ ]]\``);
      words.push(w);
      regexNext = w.src === '=~';
    }
    return { t: 'test', words, inner: [], redirs: [], src: this.src.slice(start, this.pos) };
  }

  private parseFunction(start: number): Cmd {
    this.pos += 8;
    this.skipBlanks();
    const name = this.readWord();
    if (!name) this.error('`function` needs a name');
    this.skipBlanks();
    if (this.src[this.pos] === '(') {
      this.pos++;
      this.expectChar(')');
    }
    return this.functionBody(start, name.src);
  }

  protected functionBody(start: number, name: string): Cmd {
    this.skipNewlines();
    const body = this.parseCommand();
    if (body.t === 'simple') this.error(`the body of function \`${name}\` must be a compound command such as { … }`);
    return { t: 'func', name, body, src: this.src.slice(start, this.pos) };
  }

  private parseCoproc(start: number): Cmd {
    this.pos += 6;
    this.skipBlanks();
    const w = this.peekWord();
    if (w !== null && IDENTIFIER.test(w) && !TERMINATORS.has(w)) {
      const after = this.src.slice(this.pos + w.length).trimStart();
      if (after.startsWith('{') || after.startsWith('(')) this.pos += w.length;
    }
    const inner = this.parseCommand();
    const stmt: Stmt = { pipes: [{ cmds: [inner] }], ops: [], bg: true, src: this.src.slice(start, this.pos) };
    return { t: 'group', body: [stmt], redirs: [], src: stmt.src, coproc: true };
  }
}
