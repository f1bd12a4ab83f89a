// Words of a bash command line: where a word ends, quoting, here-document bodies; what `$`,
// backquotes and double quotes hold is read in shellExpansions.ts. The grammar (lists,
// pipelines, compound commands) builds on this in shellSyntax.ts. One pass over the text, no
// backtracking: linear time.
import type { Part, Word } from './shellAst.js';
import { ARG_RUN, META } from './shellLex.js';
import { ExpansionScanner, type WordMode } from './shellExpansions.js';

const BRACE_RUN = /[^}\\'"$`]+/y;
const HEREDOC_RUN = /[^\\$`]+/y;

export abstract class WordScanner extends ExpansionScanner {
  protected readWord(mode: WordMode = 'arg'): Word | null {
    const start = this.pos;
    const parts: Part[] = [];
    let parens = 0;
    while (this.pos < this.len) {
      const c = this.src[this.pos]!;
      if (mode === 'arg') {
        if ((c === '<' || c === '>') && this.src[this.pos + 1] === '(' && this.pos === start) {
          parts.push(this.readProcess(c));
          continue;
        }
        if (META.includes(c)) break;
      } else if (mode === 'brace') {
        if (c === '}') break;
      } else {
        if ((c === ' ' || c === '\t' || c === '\n') && parens === 0) break;
        if (c === '(') parens++;
        else if (c === ')') {
          if (parens === 0) break;
          parens--;
        }
      }
      if (c === '\\') {
        const next = this.src[this.pos + 1];
        if (next === undefined) {
          parts.push({ t: 'lit', v: '\\', q: false });
          this.pos++;
        } else {
          if (next !== '\n') parts.push({ t: 'lit', v: next, q: true });
          this.pos += 2;
        }
      } else if (c === "'") {
        const end = this.src.indexOf("'", this.pos + 1);
        if (end < 0) this.error('unterminated single quote');
        parts.push({ t: 'lit', v: this.src.slice(this.pos + 1, end), q: true });
        this.pos = end + 1;
      } else if (c === '"') {
        this.pos++;
        const inner = this.readDouble();
        parts.push(...(inner.length > 0 ? inner : [{ t: 'lit' as const, v: '', q: true }]));
      } else if (c === '$') {
        this.readDollar(parts, false);
      } else if (c === '`') {
        parts.push(this.readBacktick(false));
      } else if (mode === 'regex') {
        parts.push({ t: 'lit', v: c, q: false });
        this.pos++;
      } else {
        const run = mode === 'arg' ? ARG_RUN : BRACE_RUN;
        run.lastIndex = this.pos;
        const text = run.test(this.src) ? this.src.slice(this.pos, run.lastIndex) : c;
        parts.push({ t: 'lit', v: text, q: false });
        this.pos += text.length;
      }
    }
    if (this.pos === start) return null;
    this.unit();
    const only = parts.length === 1 ? parts[0]! : undefined;
    // a plain word: its text is its source, no second copy
    const src = only?.t === 'lit' && !only.q && only.v.length === this.pos - start ? only.v : this.src.slice(start, this.pos);
    return { parts, src };
  }

  /** The body of an unquoted here-document: expansions, and `\` before $ ` \ newline. */
  protected readHeredocParts(): Part[] {
    const parts: Part[] = [];
    while (this.pos < this.len) {
      const c = this.src[this.pos]!;
      if (c === '\\') this.readQuotedBackslash(parts, '$`\\\n');
      else if (c === '$') this.readDollar(parts, true);
      else if (c === '`') parts.push(this.readBacktick(true));
      else {
        HEREDOC_RUN.lastIndex = this.pos;
        HEREDOC_RUN.test(this.src);
        const text = this.src.slice(this.pos, HEREDOC_RUN.lastIndex);
        parts.push({ t: 'lit', v: text, q: true });
        this.pos += text.length;
      }
    }
    return parts;
  }
}
