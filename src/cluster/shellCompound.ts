// The compound commands with keywords of their own: if/elif/else, while/until, for/select
// (word lists and arithmetic), case. A layer between the lists (shellLists.ts) and the
// command dispatcher (shellSyntax.ts), which picks one of these by its first word.
import type { Cmd, Stmt, Word } from './shellAst.js';
import { ListParser } from './shellLists.js';

export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export abstract class CompoundParser extends ListParser {
  protected parseIf(start: number): Cmd {
    this.pos += 2;
    const conds: Stmt[][] = [];
    const bodies: Stmt[][] = [];
    let orElse: Stmt[] | undefined;
    for (;;) {
      conds.push(this.parseList(['then']));
      this.expectWord('then');
      bodies.push(this.parseList(['elif', 'else', 'fi']));
      this.skipNewlines();
      const w = this.peekWord();
      if (w === 'elif') {
        this.pos += 4;
        continue;
      }
      if (w === 'else') {
        this.pos += 4;
        orElse = this.parseList(['fi']);
      }
      this.expectWord('fi');
      break;
    }
    const cmd: Cmd = { t: 'if', conds, bodies, redirs: [], src: '' };
    if (orElse) cmd.orElse = orElse;
    cmd.src = this.src.slice(start, this.pos);
    return cmd;
  }

  protected parseLoop(start: number, keyword: string): Cmd {
    this.pos += keyword.length;
    const cond = this.parseList(['do']);
    const body = this.parseDoBody();
    return { t: 'loop', cond, body, redirs: [], src: this.src.slice(start, this.pos) };
  }

  private parseDoBody(): Stmt[] {
    this.skipNewlines();
    if (this.peekWord() === '{') {
      this.pos++;
      const body = this.parseList(['}']);
      this.expectWord('}');
      return body;
    }
    this.expectWord('do');
    const body = this.parseList(['done']);
    this.expectWord('done');
    return body;
  }

  protected parseFor(start: number, keyword: string): Cmd {
    this.pos += keyword.length;
    this.skipBlanks();
    if (this.at('((')) {
      this.pos += 2;
      const arith = this.scanArith('))');
      this.skipBlanks();
      if (this.src[this.pos] === ';') this.pos++;
      const body = this.parseDoBody();
      return { t: 'for', name: '', arith, body, redirs: [], src: this.src.slice(start, this.pos) };
    }
    const nameWord = this.readWord();
    if (!nameWord || !IDENTIFIER.test(nameWord.src)) this.error(`\`${keyword}\` needs a variable name`);
    this.skipNewlines();
    let items: Word[] | undefined;
    if (this.peekWord() === 'in') {
      this.pos += 2;
      items = [];
      for (;;) {
        this.skipBlanks();
        const c = this.src[this.pos];
        if (c === undefined || c === ';' || c === '\n') break;
        const w = this.readWord();
        if (!w) this.error(`unexpected ${this.describe()} in the word list of \`${keyword}\``);
        items.push(w);
      }
    }
    this.skipBlanks();
    if (this.src[this.pos] === ';') this.pos++;
    const body = this.parseDoBody();
    const cmd: Cmd = { t: 'for', name: nameWord.src, body, redirs: [], src: '' };
    if (items) cmd.items = items;
    cmd.src = this.src.slice(start, this.pos);
    return cmd;
  }

  protected parseCase(start: number): Cmd {
    this.pos += 4;
    this.skipBlanks();
    const word = this.readWord();
    if (!word) this.error('`case` needs a word');
    this.expectWord('in');
    const arms: Array<{ patterns: Word[]; body: Stmt[] }> = [];
    for (;;) {
      this.skipNewlines();
      if (this.peekWord() === 'esac') {
        this.pos += 4;
        break;
      }
      if (this.pos >= this.len) this.error('unterminated `case` (no `esac`)');
      if (this.src[this.pos] === '(') this.pos++;
      const patterns: Word[] = [];
      for (;;) {
        this.skipBlanks();
        const p = this.readWord();
        if (!p) this.error(`expected a case pattern, found ${this.describe()}`);
        patterns.push(p);
        this.skipBlanks();
        if (this.src[this.pos] === '|') {
          this.pos++;
          continue;
        }
        if (this.src[this.pos] === ')') {
          this.pos++;
          break;
        }
        this.error(`expected \`)\` after a case pattern, found ${this.describe()}`);
      }
      const body = this.parseList(['esac']);
      arms.push({ patterns, body });
      this.skipNewlines();
      if (this.at(';;&')) this.pos += 3;
      else if (this.at(';;') || this.at(';&')) this.pos += 2;
      else if (this.peekWord() !== 'esac') this.error(`expected \`;;\` or \`esac\`, found ${this.describe()}`);
    }
    return { t: 'case', word, arms, redirs: [], src: this.src.slice(start, this.pos) };
  }
}
