// Walks the syntax tree of a command line in execution order, keeping what a reader of the
// script can know: variables assigned literally (and where a branch or loop makes them
// uncertain), the directory `cd` moved to, what each command reads on stdin. Each simple
// command, resolved, goes through the rules; strings that are themselves command lines
// (`bash -c`, `eval`, here-documents fed to a shell, ssh remote commands) are walked in
// turn, up to a depth cap. All work is counted against one budget.
import type { Budget, Cmd, Stmt } from './shellAst.js';
import { parseScript } from './shellSyntax.js';
import { callsItselfForked } from './shellParse.js';
import { baseName, unwrapCommand } from './shellWrappers.js';
import { listValues, resolveArgs, resolveValue } from './policyWords.js';
import { ScopeEnv } from './policyWalkEnv.js';
import { Scope } from './policyScope.js';
import { fileRules, hasFileRule, writeFindings } from './policyRules.js';
import { execRules, hasExecRule } from './policyExec.js';
import { markXargsInput } from './policyRunners.js';
import { fold } from './policyFold.js';
import { applyEffects } from './policyEffects.js';
import { execCommands } from './policyFind.js';
import { WrittenFiles, type StdoutWrite } from './policyFiles.js';
import { formatMessage, shorten, type Arg, type PolicyFinding, type RuleContext, type RuleResult, type RunCmd, type Stdin } from './policyTypes.js';
import { WALK_LIMITS, WalkLimit, type Ctx, type Raw, type Visited } from './policyWalkTypes.js';
import { walkCompound } from './policyWalkCompound.js';

const NO_WRITES: Arg[] = [];
const FILE_WRITERS = new Set(['curl', 'wget', 'tee', 'cp', 'mv', 'install', 'ln']);

export class Walker {
  findings: Raw[] = [];
  readonly visited: Visited[] = [];
  private units = WALK_LIMITS.units;

  private readonly functions = new Map<string, Cmd>();
  private readonly files = new WrittenFiles();
  private readonly called = new Set<string>();
  private readonly calling = new Set<string>();
  /** work that runs at the end of the current command line, with the scope it ends with */
  private readonly deferred: Array<(end: Scope) => void> = [];

  /** `track`: record the commands visited, for per-node settings */
  constructor(
    private readonly budget: Budget,
    readonly home: string,
    private readonly track = true,
  ) {}

  spend(n: number): void {
    this.units -= n;
    if (this.units < 0) throw new WalkLimit(`more than ${WALK_LIMITS.units} steps`);
  }

  run(source: string, scope: Scope, stdin: Stdin, ctx: Ctx): void {
    if (ctx.depth > WALK_LIMITS.shellDepth) {
      this.add(
        ctx,
        {
          verdict: 'refuse',
          rule: 'too-complex',
          why: `nests shell code (bash -c, eval, ssh, here-documents) more than ${WALK_LIMITS.shellDepth} levels deep`,
        },
        source,
      );
      return;
    }
    const mark = this.deferred.length;
    // statements are walked as they are parsed: the syntax tree of a long script never piles up
    const parsed = parseScript(source, this.budget, 0, (stmt) => this.stmts([stmt], scope, ctx, stdin));
    if (parsed.tooComplex !== undefined) {
      this.deferred.length = mark;
      this.add(ctx, { verdict: 'refuse', rule: 'too-complex', why: `is too complex to check (${parsed.tooComplex})` }, source);
      return;
    }
    // function bodies never called and trap actions run at the end, with what is known then
    while (this.deferred.length > mark) this.deferred.pop()!(scope);
    if (parsed.error !== undefined) {
      this.add(
        ctx,
        {
          verdict: 'refuse',
          rule: 'unparseable',
          why: `did not parse as a shell command (${parsed.error}); bash runs the lines before a syntax error, so the whole command is refused`,
        },
        source,
      );
    }
  }

  private add(ctx: Ctx, f: RuleResult[number], text: string): void {
    const why = ctx.remote ? `${f.why} (on ${ctx.remote}, through ssh)` : f.why;
    const shownText = f.text ?? text;
    const raw: Raw = { verdict: f.verdict, rule: f.rule, message: formatMessage(f.verdict, f.rule, shownText, why), hint: f.hint ?? '', text: shownText };
    if (f.program) raw.program = f.program;
    if (this.findings.length >= WALK_LIMITS.findings || this.findings.some((o) => o.message === raw.message)) return;
    this.findings.push(raw);
  }

  stmts(list: Stmt[], scope: Scope, ctx: Ctx, stdin: Stdin): RunCmd | undefined {
    let last: RunCmd | undefined;
    for (const stmt of list) {
      last = this.pipeline(stmt.pipes[0]!, scope, ctx, stdin);
      if (stmt.pipes.length > 1) {
        const cond = this.clone(scope);
        for (const p of stmt.pipes.slice(1)) last = this.pipeline(p, cond, ctx, stdin);
        this.spend(scope.mergeBranches([cond], false));
      }
    }
    return list.length === 1 && list[0]!.pipes.length === 1 ? last : undefined;
  }

  private pipeline(pipe: { cmds: Cmd[] }, scope: Scope, ctx: Ctx, stdin: Stdin): RunCmd | undefined {
    if (pipe.cmds.length === 1) return this.cmd(pipe.cmds[0]!, scope, ctx, stdin);
    let prev: RunCmd | undefined;
    pipe.cmds.forEach((c, i) => {
      const before = pipe.cmds[i - 1];
      const text = prev ? fold(prev) : null;
      const input: Stdin = i === 0 ? stdin : text !== null ? { kind: 'code', text } : { kind: 'hidden', what: `the output of \`${shorten(before!.src, 60)}\`` };
      prev = this.cmd(c, this.clone(scope), ctx, input, prev && { program: prev.program, args: prev.args });
    });
    return undefined;
  }

  private cmd(c: Cmd, scope: Scope, ctx: Ctx, inherited: Stdin, upstream?: RunCmd['upstream']): RunCmd | undefined {
    this.spend(1);
    if (c.t === 'func') {
      if (callsItselfForked(c.body, c.name)) {
        this.add(
          ctx,
          {
            verdict: 'refuse',
            rule: 'fork-bomb',
            why: `defines \`${c.name}\`, a function that starts copies of itself in a pipeline or in the background (a fork bomb)`,
          },
          c.src,
        );
      }
      this.functions.set(c.name, c.body);
      this.deferred.push((end) => {
        if (!this.called.has(c.name)) this.callFunction(c.name, end, ctx, { kind: 'none' });
      });
      return undefined;
    }
    const env = this.wordEnv(scope, ctx);
    const stdoutWrites: StdoutWrite[] = [];
    const { stdin, writes } =
      c.redirs.length === 0
        ? { stdin: inherited, writes: NO_WRITES }
        : env.redirections(c.redirs, inherited, (arg, r, at) => {
            const site: RunCmd = { program: '', args: [], words: [], wrappers: [], text: c.src, stdin: at, dir: scope.dir, home: this.home };
            const append = r.op.includes('>>');
            for (const f of writeFindings(arg, site, 'redirect-block-device', append ? 'append to' : 'overwrite')) this.add(ctx, f, c.src);
            if ((r.fd === undefined || r.fd === '1') && r.op !== '<>' && r.op !== '>&') stdoutWrites.push({ arg, append });
          });
    if (writes.length > 0 && c.t !== 'simple') this.visit(ctx, { program: '', wrappers: [], args: [], text: c.src, writes });
    switch (c.t) {
      case 'simple': {
        const run = this.simple(c, scope, ctx, stdin, writes, env, upstream);
        if (run && (stdoutWrites.length > 0 || FILE_WRITERS.has(run.program))) this.files.note(run, stdoutWrites);
        return run;
      }
      default:
        return walkCompound(this, c, scope, ctx, stdin, env);
    }
  }

  private simple(
    c: Extract<Cmd, { t: 'simple' }>,
    scope: Scope,
    ctx: Ctx,
    stdin: Stdin,
    writes: Arg[],
    env: ScopeEnv,
    upstream?: RunCmd['upstream'],
  ): RunCmd | undefined {
    const assigned = c.assigns.map((a) => ({ a, values: a.items ? listValues(resolveArgs(a.items, env)) : a.value ? resolveValue(a.value, env) : [''] }));
    if (c.words.length === 0) {
      for (const { a, values } of assigned) scope.assign(a.name, values, a.append, a.items !== undefined || a.index !== undefined);
      if (writes.length > 0) this.visit(ctx, { program: '', wrappers: [], args: [], text: c.src, writes });
      return undefined;
    }
    const words = resolveArgs(c.words, env);
    const un = unwrapCommand(words.map((w) => w.text));
    const at = words.length - un.words.length;
    const programArg = words[at];
    if (!programArg) return undefined;
    const base: RunCmd = { program: '', args: words.slice(at + 1), words, wrappers: un.wrappers, text: c.src, stdin, dir: scope.dir, home: this.home };
    if (upstream) base.upstream = upstream;
    if (programArg.hidden !== undefined) base.programHidden = programArg.hidden;
    const programs = programArg.hidden !== undefined ? [''] : [...new Set(programArg.values.map(baseName))];
    if (programArg.hidden === undefined && programArg.text.includes('/')) this.runsWritten(programArg.values[0]!, scope, ctx, c.src);
    let last: RunCmd | undefined;
    for (const program of programs) {
      last = un.wrappers.includes('xargs') ? markXargsInput({ ...base, program }) : { ...base, program };
      this.rules(last, scope, ctx);
      this.visit(ctx, { program, wrappers: un.wrappers, args: last.args, text: c.src, writes });
      if (program === 'find') for (const run of execCommands(last)) this.rules(run, scope, ctx);
    }
    for (const nested of un.nested) this.nested(nested, {}, scope, ctx);
    if (programs[0] === 'trap') this.trap(base.args, ctx);
    if (this.functions.has(programs[0]!)) this.callFunction(programs[0]!, scope, ctx, stdin);
    applyEffects(programs[0]!, base.args, scope, this.home);
    return last;
  }

  /** A function's body runs where it is called, with the values known there (bash functions share the caller's variables). */
  private callFunction(name: string, scope: Scope, ctx: Ctx, stdin: Stdin): void {
    if (this.calling.has(name)) return;
    this.called.add(name);
    this.calling.add(name);
    try {
      this.cmd(this.functions.get(name)!, scope, ctx, stdin);
    } finally {
      this.calling.delete(name);
    }
  }

  /** `trap 'cleanup' EXIT`: the action is shell code that runs later. */
  private trap(args: Arg[], ctx: Ctx): void {
    const action = args[0];
    if (!action || ['-p', '-l', '-P', '--'].includes(action.text) || args.length < 2) return;
    if (action.hidden !== undefined) {
      this.add(
        ctx,
        { verdict: 'confirm', rule: 'hidden-code', why: `sets a trap that runs ${action.hidden}, which the check cannot see`, program: 'trap' },
        `trap ${action.text}`,
      );
      return;
    }
    const code = action.values[0] ?? '';
    if (code === '' || code === '-') return;
    this.deferred.push((end) => {
      this.nested(code, { sameScope: true }, end, ctx);
    });
  }

  /** `./x.sh` where this command line wrote x.sh: its content is checked like inline code. */
  private runsWritten(path: string, scope: Scope, ctx: Ctx, text: string): void {
    const content = this.files.get(path, scope.dir, this.home);
    if (content?.kind === 'code') this.nested(content.text, {}, scope, ctx);
    else if (content?.kind === 'hidden') {
      this.add(
        ctx,
        { verdict: 'confirm', rule: 'hidden-code', why: `runs ${path}, written from ${content.what}, which the check cannot see`, program: baseName(path) },
        text,
      );
    }
  }

  private rules(run: RunCmd, scope: Scope, ctx: Ctx): void {
    if (hasFileRule(run.program)) for (const f of fileRules(run)) this.add(ctx, f, run.text);
    if (!hasExecRule(run)) return;
    const ruleCtx: RuleContext = { nested: (source, how) => this.nested(source, how, scope, ctx), written: (path) => this.files.get(path, run.dir, this.home) };
    if (ctx.remote) ruleCtx.remote = ctx.remote;
    for (const f of execRules(run, ruleCtx)) this.add(ctx, f, run.text);
  }

  nested(source: string, how: { remote?: string; sameScope?: boolean; stdin?: Stdin; probe?: boolean }, scope: Scope, ctx: Ctx): PolicyFinding[] {
    const inner: Ctx = { depth: ctx.depth + 1, probe: ctx.probe || how.probe === true };
    const remote = how.remote ?? ctx.remote;
    if (remote !== undefined) inner.remote = remote;
    const s = how.sameScope ? scope : how.remote !== undefined ? new Scope(null, { kind: 'default' }) : this.clone(scope);
    const saved = this.findings;
    const start = saved.length;
    if (how.probe) this.findings = [];
    try {
      this.run(source, s, how.stdin ?? { kind: 'none' }, inner);
      return how.probe ? this.findings : this.findings.slice(start);
    } finally {
      this.findings = saved;
    }
  }

  private visit(ctx: Ctx, v: Visited): void {
    if (this.track && !ctx.probe && ctx.remote === undefined && this.visited.length < 10_000) this.visited.push(v);
  }

  private wordEnv(scope: Scope, ctx: Ctx): ScopeEnv {
    const cached = scope.env as ScopeEnv | undefined;
    if (cached && cached.ctx === ctx) return cached;
    const env = new ScopeEnv(this, scope, ctx);
    scope.env = env;
    return env;
  }

  /** Walk a substitution's body in a child scope; the command it ends with, when it is one simple command. */
  walkBody(body: Stmt[], scope: Scope, ctx: unknown, stdin: Stdin): RunCmd | undefined {
    return this.stmts(body, this.clone(scope), ctx as Ctx, stdin);
  }

  clone(scope: Scope): Scope {
    this.spend(1);
    return scope.child();
  }
}

export { Scope };
