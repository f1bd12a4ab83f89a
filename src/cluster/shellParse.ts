// Flattens a command line into the simple commands it would run, so classification never
// looks at raw substrings. Built on the bounded parser of shellSyntax.ts; the danger policy
// walks the same syntax tree itself (policyWalk.ts) because it needs scopes and values.
import { newBudget, type Budget, type Cmd, type Part, type Redir, type Stmt, type Word } from './shellAst.js';
import { parseScript } from './shellSyntax.js';
import { baseName, unwrapCommand, nestedShellSource } from './shellWrappers.js';

export interface Redirection {
  op: string;
  fd?: string;
  target: string;
}
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
export interface FunctionDef {
  name: string;
  forksItself: boolean;
}
export interface ParsedShell {
  ok: boolean;
  /** why the command line did not parse (or was too complex to); commands then hold what came before */
  error?: string;
  commands: SimpleCommand[];
  /** every redirection anywhere, including those on ( ), { } and loops */
  redirections: Redirection[];
  functions: FunctionDef[];
}

const MAX_NESTING = 4;
// Routing classifies and then policy-checks the same command: remember recent parses, but
// only small ones, so the cache never holds megabytes.
const recent = new Map<string, ParsedShell>();
const RECENT_MAX = 256;
const CACHE_MAX_SOURCE = 4096;

/** Parse once; callers get a shared, read-only result. */
export function parseShell(source: string): ParsedShell {
  const hit = recent.get(source);
  if (hit) return hit;
  const parsed = flatten(source, 0, newBudget());
  if (source.length > CACHE_MAX_SOURCE) return parsed;
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

function flatten(source: string, depth: number, budget: Budget): ParsedShell {
  const result = parseScript(source, budget);
  const out: ParsedShell = { ok: !result.error && !result.tooComplex, commands: [], redirections: [], functions: [] };
  if (result.error) out.error = result.error;
  if (result.tooComplex) out.error = `too complex to check: ${result.tooComplex}`;
  new Flattener(out, depth, budget).stmts(result.stmts);
  return out;
}

class Flattener {
  constructor(
    private readonly out: ParsedShell,
    private readonly depth: number,
    private readonly budget: Budget,
  ) {}

  stmts(list: Stmt[]): void {
    for (const stmt of list) for (const pipe of stmt.pipes) for (const cmd of pipe.cmds) this.cmd(cmd);
  }

  private cmd(cmd: Cmd): void {
    if (cmd.t === 'func') {
      this.out.functions.push({ name: cmd.name, forksItself: callsItselfForked(cmd.body, cmd.name) });
      this.cmd(cmd.body);
      return;
    }
    const redirections = cmd.redirs.map(toRedirection);
    this.out.redirections.push(...redirections);
    switch (cmd.t) {
      case 'simple': {
        if (cmd.words.length > 0) {
          const env = Object.fromEntries(cmd.assigns.map((a) => [a.name, a.value ? wordText(a.value) : '']));
          this.addCommand(cmd.words.map(wordText), env, redirections, cmd.src);
        }
        for (const a of cmd.assigns) for (const w of [...(a.value ? [a.value] : []), ...(a.items ?? [])]) this.word(w);
        cmd.words.forEach((w) => this.word(w));
        break;
      }
      case 'subshell':
      case 'group':
        this.stmts(cmd.body);
        break;
      case 'if':
        cmd.conds.forEach((c, i) => {
          this.stmts(c);
          this.stmts(cmd.bodies[i]!);
        });
        if (cmd.orElse) this.stmts(cmd.orElse);
        break;
      case 'loop':
        this.stmts(cmd.cond);
        this.stmts(cmd.body);
        break;
      case 'for':
        cmd.items?.forEach((w) => this.word(w));
        this.parts(cmd.arith ?? []);
        this.stmts(cmd.body);
        break;
      case 'case':
        this.word(cmd.word);
        for (const arm of cmd.arms) {
          arm.patterns.forEach((w) => this.word(w));
          this.stmts(arm.body);
        }
        break;
      case 'test':
        cmd.words.forEach((w) => this.word(w));
        this.parts(cmd.inner);
        break;
    }
    for (const r of cmd.redirs) if (r.target) this.word(r.target);
  }

  private word(word: Word): void {
    this.parts(word.parts);
  }

  private parts(parts: Part[]): void {
    for (const part of parts) {
      if (part.t === 'cmd' || part.t === 'proc') this.stmts(part.body);
      else if (part.t === 'param' && part.arg) this.word(part.arg);
      else if (part.t === 'arith') this.parts(part.inner);
    }
  }

  private addCommand(words: string[], env: Record<string, string>, redirections: Redirection[], text: string): void {
    const unwrapped = unwrapCommand(words);
    const command: SimpleCommand = {
      program: baseName(unwrapped.words[0] ?? ''),
      args: unwrapped.words.slice(1),
      ...((unwrapped.words[0] ?? '').includes('/') ? { invokedByPath: true } : {}),
      env: { ...env, ...unwrapped.env },
      redirections,
      wrappers: unwrapped.wrappers,
      text,
    };
    this.out.commands.push(command);
    // `bash -c '…'`, `eval …`, `find -exec …`, `env -S …`: the string is itself a command line.
    if (this.depth >= MAX_NESTING) return;
    for (const nested of [...unwrapped.nested, ...nestedShellSource(command.program, command.args)]) {
      if (typeof nested === 'string') {
        const inner = flatten(nested, this.depth + 1, this.budget);
        this.out.commands.push(...inner.commands);
        this.out.redirections.push(...inner.redirections);
        this.out.functions.push(...inner.functions);
      } else if (nested.length > 0) {
        new Flattener(this.out, this.depth + 1, this.budget).addCommand(nested, {}, [], text);
      }
    }
  }
}

function toRedirection(r: Redir): Redirection {
  const target = r.op === '<<' || r.op === '<<-' || !r.target ? '' : wordText(r.target);
  return r.fd !== undefined ? { op: r.op, fd: r.fd, target } : { op: r.op, target };
}

/** The text a word stands for: quotes removed, `$VAR` kept as written, `$(echo x)` folded to `x`. */
export function wordText(word: Word): string {
  return word.parts
    .map((part) => {
      switch (part.t) {
        case 'lit':
          return part.v;
        case 'param':
          return part.op === '' && part.index === undefined ? `$${part.name}` : part.src;
        case 'cmd':
          return echoedText(part.body) ?? part.src;
        default:
          return part.src;
      }
    })
    .join('');
}

/** `$(echo rm)` / `$(printf rm)` with literal arguments: fold to what it prints, so it cannot hide a program name. */
function echoedText(body: Stmt[]): string | undefined {
  const cmd = body.length === 1 && body[0]!.pipes.length === 1 && body[0]!.pipes[0]!.cmds.length === 1 ? body[0]!.pipes[0]!.cmds[0]! : undefined;
  if (!cmd || cmd.t !== 'simple' || cmd.redirs.length > 0 || cmd.assigns.length > 0) return undefined;
  const words = cmd.words.map(wordText);
  const program = baseName(words[0] ?? '');
  const args = words.slice(1);
  if (args.some((a) => a.includes('$'))) return undefined;
  if (program === 'echo' && !args[0]?.startsWith('-')) return args.join(' ');
  if (program === 'printf' && args.length === 1 && !/[%\\]/.test(args[0]!)) return args[0];
  return undefined;
}

/** A fork bomb: a function that calls itself inside a pipeline or in the background. */
export function callsItselfForked(body: Cmd, name: string): boolean {
  const forked = (list: Stmt[]): boolean =>
    list.some((stmt) =>
      stmt.pipes.some((pipe) => ((stmt.bg || pipe.cmds.length > 1) && pipe.cmds.some((c) => calls(c, name))) || pipe.cmds.some((c) => forkedIn(c))),
    );
  const forkedIn = (cmd: Cmd): boolean => childLists(cmd).some(forked);
  return forkedIn(body);
}

function calls(cmd: Cmd, name: string): boolean {
  if (cmd.t === 'simple') return cmd.words.length > 0 && wordText(cmd.words[0]!) === name;
  return childLists(cmd).some((list) => list.some((s) => s.pipes.some((p) => p.cmds.some((c) => calls(c, name)))));
}

function childLists(cmd: Cmd): Stmt[][] {
  switch (cmd.t) {
    case 'subshell':
    case 'group':
      return [cmd.body];
    case 'if':
      return [...cmd.conds, ...cmd.bodies, ...(cmd.orElse ? [cmd.orElse] : [])];
    case 'loop':
      return [cmd.cond, cmd.body];
    case 'for':
      return [cmd.body];
    case 'case':
      return cmd.arms.map((a) => a.body);
    case 'func':
      return childLists(cmd.body);
    default:
      return [];
  }
}
