// Thin wrapper over mvdan/sh (npm `mvdan-sh`, a GopherJS build: synchronous, full bash
// grammar) that flattens a command line into the simple commands it would run, so
// classification and the danger policy never look at raw substrings.
import { createRequire } from 'node:module';
import { parse as tokenize } from 'shell-quote';
import { baseName, unwrapCommand, nestedShellSource } from './shellWrappers.js';

export interface Redirection { op: string; fd?: string; target: string }
export interface SimpleCommand {
  /** basename of the program that really runs, after wrappers like sudo/nice/env */
  program: string;
  /** The program was named by a path (`./test`, `/usr/bin/make`), not looked up as a word (builtins, functions, PATH). */
  invokedByPath?: boolean;
  args: string[];
  /** VAR=value prefixes, including those given to `env` / `sudo` */
  env: Record<string, string>;
  redirections: Redirection[];
  /** wrappers looked through, outermost first, e.g. ['sudo', 'nice'] */
  wrappers: string[];
  /** source text of the whole simple command, for messages */
  text: string;
}
export interface FunctionDef { name: string; forksItself: boolean }
export interface ParsedShell {
  ok: boolean;
  /** parse error of the top-level command; commands then come from a best-effort token split */
  error?: string;
  commands: SimpleCommand[];
  /** every redirection anywhere, including those on ( ), { } and loops */
  redirections: Redirection[];
  functions: FunctionDef[];
}

// mvdan-sh ships no types; this is the part of its API we use.
type AstNode = Record<string, any>; // the GopherJS objects mirror Go structs (Stmt, CallExpr, Word, …)
interface ShSyntax {
  NewParser(): { Parse(src: string, name: string): AstNode };
  NodeType(node: AstNode): string;
  Walk(node: AstNode, visit: (node: AstNode | null) => boolean): void;
}
const { syntax } = createRequire(import.meta.url)('mvdan-sh') as { syntax: ShSyntax };
const parser = syntax.NewParser();

// Operators are Go enum numbers whose values may change between releases: learn them
// from the parser itself instead of hard-coding.
function learnOps(ops: string[], sample: (op: string) => string, pick: (f: AstNode) => number): Map<number, string> {
  const map = new Map<number, string>();
  for (const op of ops) map.set(pick(parser.Parse(sample(op), '')), op);
  return map;
}
const REDIRECT_OPS = learnOps(['>', '>>', '<', '<>', '>|', '&>', '&>>', '>&', '<&', '<<', '<<-', '<<<'],
  (op) => (op.startsWith('<<') && op !== '<<<' ? `x ${op}E\nE\n` : `x ${op} y`), (f) => f.Stmts[0].Redirs[0].Op);
const BINARY_OPS = learnOps(['&&', '||', '|', '|&'], (op) => `a ${op} b`, (f) => f.Stmts[0].Cmd.Op);
const MAX_NESTING = 4;

// Routing classifies and then policy-checks the same command: remember recent parses.
const recent = new Map<string, ParsedShell>();
const RECENT_MAX = 256;

/** Parse once; callers get a shared, read-only result. */
export function parseShell(source: string): ParsedShell {
  const hit = recent.get(source);
  if (hit) return hit;
  const parsed = parseNested(source, 0);
  if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
  recent.set(source, deepFreeze(parsed));
  return parsed;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function parseNested(source: string, depth: number): ParsedShell {
  let file: AstNode;
  try {
    file = parser.Parse(source, '');
  } catch (err) {
    const message = typeof (err as AstNode)?.Error === 'function' ? String((err as AstNode).Error()) : String(err);
    return { ...fallbackSplit(source, depth), ok: false, error: message };
  }
  const out: ParsedShell = { ok: true, commands: [], redirections: [], functions: [] };
  const bytes = Buffer.from(source, 'utf8');
  const sourceOf = (n: AstNode): string => bytes.subarray(n.Pos().Offset(), n.End().Offset()).toString('utf8');
  syntax.Walk(file, (node) => {
    if (!node) return true;
    const type = syntax.NodeType(node);
    if (type === 'Stmt') {
      const redirections = (node.Redirs as AstNode[]).map((r) => toRedirection(r, sourceOf));
      out.redirections.push(...redirections);
      const cmd = node.Cmd as AstNode | null;
      if (cmd && syntax.NodeType(cmd) === 'CallExpr' && cmd.Args.length > 0) {
        const words = (cmd.Args as AstNode[]).map((w) => wordText(w.Parts, false, sourceOf));
        const env = Object.fromEntries((cmd.Assigns as AstNode[]).map((a) => [a.Name.Value, a.Value ? wordText(a.Value.Parts, false, sourceOf) : '']));
        addCommand(out, words, env, redirections, sourceOf(cmd), depth);
      }
    } else if (type === 'FuncDecl') {
      out.functions.push({ name: node.Name.Value, forksItself: callsItselfForked(node.Body, node.Name.Value, sourceOf) });
    }
    return true;
  });
  return out;
}

function addCommand(out: ParsedShell, words: string[], env: Record<string, string>, redirections: Redirection[], text: string, depth: number): void {
  const unwrapped = unwrapCommand(words);
  const command: SimpleCommand = {
    program: baseName(unwrapped.words[0] ?? ''), args: unwrapped.words.slice(1),
    ...((unwrapped.words[0] ?? '').includes('/') ? { invokedByPath: true } : {}),
    env: { ...env, ...unwrapped.env }, redirections, wrappers: unwrapped.wrappers, text,
  };
  out.commands.push(command);
  // `bash -c '…'`, `eval …`, `find -exec …`, `env -S …`: the string is itself a command line.
  if (depth >= MAX_NESTING) return;
  for (const nested of [...unwrapped.nested, ...nestedShellSource(command.program, command.args)]) {
    const inner = typeof nested === 'string' ? parseNested(nested, depth + 1) : fromWords(nested, text, depth + 1);
    out.commands.push(...inner.commands);
    out.redirections.push(...inner.redirections);
    out.functions.push(...inner.functions);
  }
}

function fromWords(words: string[], text: string, depth: number): ParsedShell {
  const out: ParsedShell = { ok: true, commands: [], redirections: [], functions: [] };
  if (words.length > 0) addCommand(out, words, {}, [], text, depth);
  return out;
}

function toRedirection(r: AstNode, sourceOf: (n: AstNode) => string): Redirection {
  const op = REDIRECT_OPS.get(r.Op) ?? '?';
  const target = op.startsWith('<<') && op !== '<<<' ? '' : r.Word ? wordText(r.Word.Parts, false, sourceOf) : '';
  return r.N ? { op, fd: r.N.Value, target } : { op, target };
}

/** The text a word stands for: quotes removed, `$VAR` kept as written, `$(echo x)` folded to `x`. */
function wordText(parts: AstNode[], inDoubleQuotes: boolean, sourceOf: (n: AstNode) => string): string {
  return parts.map((part) => {
    switch (syntax.NodeType(part)) {
      case 'Lit': return unescape(part.Value, inDoubleQuotes);
      case 'SglQuoted': return part.Dollar ? ansiC(part.Value) : part.Value;
      case 'DblQuoted': return wordText(part.Parts, true, sourceOf);
      case 'ParamExp': return part.Short || isPlainParam(part) ? `$${part.Param.Value}` : sourceOf(part);
      case 'CmdSubst': return echoedText(part.Stmts, sourceOf) ?? sourceOf(part);
      default: return sourceOf(part);
    }
  }).join('');
}

function isPlainParam(p: AstNode): boolean {
  return !p.Excl && !p.Length && !p.Width && !p.Index && !p.Slice && !p.Repl && !p.Exp;
}

function unescape(lit: string, inDoubleQuotes: boolean): string {
  return inDoubleQuotes
    ? lit.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c))
    : lit.replace(/\\(.|\n)/g, (_m, c: string) => (c === '\n' ? '' : c));
}

/** `$'\x2f'` is `/`: decode ANSI-C quoting so it cannot hide a path or a program name. */
function ansiC(text: string): string {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v' };
  return text.replace(/\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|[0-7]{1,3}|.)/g, (_m, esc: string) => {
    if (/^[xu][0-9A-Fa-f]/.test(esc)) return String.fromCodePoint(parseInt(esc.slice(1), 16));
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8));
    return simple[esc] ?? esc;
  });
}

/** `$(echo rm)` / `$(printf rm)` with literal arguments: fold to what it prints, so it cannot hide a program name. */
function echoedText(stmts: AstNode[], sourceOf: (n: AstNode) => string): string | undefined {
  if (stmts.length !== 1 || stmts[0].Redirs.length > 0) return undefined;
  const cmd = stmts[0].Cmd as AstNode | null;
  if (!cmd || syntax.NodeType(cmd) !== 'CallExpr' || cmd.Assigns.length > 0) return undefined;
  const words = (cmd.Args as AstNode[]).map((w) => wordText(w.Parts, false, sourceOf));
  const program = baseName(words[0] ?? '');
  const args = words.slice(1);
  if (args.some((a) => a.includes('$'))) return undefined;
  if (program === 'echo' && !args[0]?.startsWith('-')) return args.join(' ');
  if (program === 'printf' && args.length === 1 && !/[%\\]/.test(args[0]!)) return args[0];
  return undefined;
}

/** A fork bomb: a function that calls itself inside a pipeline or in the background. */
function callsItselfForked(body: AstNode, name: string, sourceOf: (n: AstNode) => string): boolean {
  const forking: AstNode[] = [];
  syntax.Walk(body, (n) => {
    if (n && ((syntax.NodeType(n) === 'BinaryCmd' && ['|', '|&'].includes(BINARY_OPS.get(n.Op) ?? ''))
      || (syntax.NodeType(n) === 'Stmt' && n.Background))) forking.push(n);
    return true;
  });
  return forking.some((node) => {
    let found = false;
    syntax.Walk(node, (n) => {
      if (n && syntax.NodeType(n) === 'CallExpr' && n.Args.length > 0 && wordText(n.Args[0].Parts, false, sourceOf) === name) found = true;
      return !found;
    });
    return found;
  });
}

// ---- best effort for input the parser rejects: the policy must still see `rm -rf /` in it

const RESERVED_WORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'case', 'esac', '!', '{', '}', 'time', 'coproc']);
const CONTROL_OPS = new Set([';', '&&', '||', '|', '|&', '&', ';;', '(', ')', '<(', '>(']);

function fallbackSplit(source: string, depth: number): ParsedShell {
  const out: ParsedShell = { ok: true, commands: [], redirections: [], functions: [] };
  let tokens: ReturnType<typeof tokenize>;
  try {
    tokens = tokenize(source, (name) => `$${name}`);
  } catch {
    return out;
  }
  const texts = tokens.map((t) => (typeof t === 'string' ? t : 'pattern' in t ? t.pattern : 'op' in t ? { op: t.op } : null));
  let words: string[] = [];
  let redirections: Redirection[] = [];
  const flush = (): void => {
    if (words.length > 0 || redirections.length > 0) {
      out.redirections.push(...redirections);
      const text = words.join(' ');
      // without a grammar, drop what cannot be a program: `if`, `then`, `{`, `FOO=1`, …
      const env: Record<string, string> = {};
      while (words.length > 0 && (RESERVED_WORDS.has(words[0]!) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!))) {
        const [name, ...value] = words.shift()!.split('=');
        if (value.length > 0) env[name!] = value.join('=');
      }
      if (words.length > 0) addCommand(out, words, env, redirections, text, depth);
    }
    words = [];
    redirections = [];
  };
  for (let i = 0; i < texts.length; i++) {
    const t = texts[i];
    if (t === null || t === undefined) continue;
    if (typeof t === 'string') { words.push(t); continue; }
    if (CONTROL_OPS.has(t.op)) {
      if (t.op === '(' && texts[i + 1] && typeof texts[i + 1] === 'object' && (texts[i + 1] as { op: string }).op === ')' && words.length === 1) {
        out.functions.push({ name: words[0]!, forksItself: tokenFunctionForks(texts.slice(i + 2), words[0]!) });
        words = [];
        i++;
        continue;
      }
      flush();
    } else {
      const next = texts[i + 1];
      redirections.push({ op: t.op, target: typeof next === 'string' ? next : '' });
      if (typeof next === 'string') i++;
    }
  }
  flush();
  return out;
}

function tokenFunctionForks(rest: Array<string | { op: string } | null>, name: string): boolean {
  const end = rest.indexOf('}');
  const body = end >= 0 ? rest.slice(0, end) : rest;
  return body.some((t, i) => t === name && [body[i - 1], body[i + 1]].some((n) => typeof n === 'object' && n !== null && (n.op === '|' || n.op === '&')));
}
