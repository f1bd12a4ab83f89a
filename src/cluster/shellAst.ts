// The syntax tree of a bash command line, as produced by shellSyntax.ts. Small on purpose:
// what classification and the danger policy need (words with their quoting and
// expansions, commands, lists, redirections), not a full bash AST.

/** One piece of a word. `q` marks quoted text: no brace, glob or tilde expansion, no word splitting. */
export type Part =
  | { t: 'lit'; v: string; q: boolean }
  /** `$x`, `${x}`, `${x:-w}`: op is '' for a plain expansion, 'len' for `${#x}`, 'ind' for `${!x}` */
  | { t: 'param'; name: string; index?: string; op: string; arg?: Word; q: boolean; src: string }
  /** `$( … )` or a backquoted command */
  | { t: 'cmd'; body: Stmt[]; q: boolean; src: string }
  /** `$(( … ))`; `inner` holds the command substitutions it runs */
  | { t: 'arith'; inner: Part[]; q: boolean; src: string }
  /** `<( … )` / `>( … )` */
  | { t: 'proc'; dir: '<' | '>'; body: Stmt[]; src: string };

export interface Word {
  parts: Part[];
  src: string;
}

export interface Redir {
  op: string;
  /** the fd number or `{var}` written before the operator */
  fd?: string;
  /** the target word (file, fd number, here-string); for here-documents, the body */
  target?: Word;
  /** here-document whose delimiter was quoted: the body is literal text */
  quotedHeredoc?: boolean;
}

export interface Assign {
  name: string;
  index?: string;
  append: boolean;
  value?: Word;
  items?: Word[];
}

export type Cmd =
  | { t: 'simple'; assigns: Assign[]; words: Word[]; redirs: Redir[]; src: string }
  /** `coproc` gives a group whose stdin is a pipe the rest of the script writes to */
  | { t: 'subshell' | 'group'; body: Stmt[]; redirs: Redir[]; src: string; coproc?: boolean }
  | { t: 'if'; conds: Stmt[][]; bodies: Stmt[][]; orElse?: Stmt[]; redirs: Redir[]; src: string }
  | { t: 'loop'; cond: Stmt[]; body: Stmt[]; redirs: Redir[]; src: string }
  | { t: 'for'; name: string; items?: Word[]; arith?: Part[]; body: Stmt[]; redirs: Redir[]; src: string }
  | { t: 'case'; word: Word; arms: Array<{ patterns: Word[]; body: Stmt[] }>; redirs: Redir[]; src: string }
  | { t: 'func'; name: string; body: Cmd; src: string }
  /** `[[ … ]]` and `(( … ))`: only their expansions matter */
  | { t: 'test'; words: Word[]; inner: Part[]; redirs: Redir[]; src: string };

export interface Pipeline {
  cmds: Cmd[];
}

/** An and-or list: `a && b || c`, optionally sent to the background. */
export interface Stmt {
  pipes: Pipeline[];
  ops: string[];
  bg: boolean;
  src: string;
}

/** Shared by a parse and every parse nested in it (backquotes, here-documents, `bash -c` strings). */
export interface Budget {
  /** words, commands and here-documents still allowed */
  units: number;
  /** source bytes still allowed, counting nested re-parses */
  bytes: number;
}

export const PARSE_LIMITS = {
  units: 16_000,
  bytes: 192 * 1024,
  /** nesting of ( ), { }, $( ), if/while/… inside one command line */
  depth: 64,
};

export function newBudget(): Budget {
  return { units: PARSE_LIMITS.units, bytes: PARSE_LIMITS.bytes };
}

/** Thrown when a limit is hit: the caller refuses the command as too complex to check. */
export class TooComplex extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TooComplex';
  }
}

export class ShellSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellSyntaxError';
  }
}
