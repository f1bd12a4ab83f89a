// Compound commands in the walk: subshells and groups, if/elif/else, loops (walked twice when
// the first pass changes what is known), for, case and [[ ]]. Each branch walks a scope of its
// own, merged back afterwards. Apart from policyWalk.ts, which walks simple commands.
import type { Cmd, Stmt } from './shellAst.js';
import { listValues, resolveArgs } from './policyWords.js';
import type { ScopeEnv } from './policyWalkEnv.js';
import type { Scope } from './policyScope.js';
import type { RunCmd, Stdin } from './policyTypes.js';
import type { Ctx } from './policyWalkTypes.js';

/** What the compound commands need from the walker. */
export interface BranchWalker {
  stmts(list: Stmt[], scope: Scope, ctx: Ctx, stdin: Stdin): RunCmd | undefined;
  clone(scope: Scope): Scope;
  spend(n: number): void;
}

/** A compound command (anything but a simple command or a function definition). */
export function walkCompound(
  w: BranchWalker,
  c: Exclude<Cmd, { t: 'simple' | 'func' }>,
  scope: Scope,
  ctx: Ctx,
  stdin: Stdin,
  env: ScopeEnv,
): RunCmd | undefined {
  switch (c.t) {
    case 'subshell':
      w.stmts(c.body, w.clone(scope), ctx, stdin);
      return undefined;
    case 'group':
      return w.stmts(c.body, scope, ctx, c.coproc ? { kind: 'hidden', what: 'what the script writes into the coprocess' } : stdin);
    case 'if': {
      w.stmts(c.conds[0]!, scope, ctx, stdin);
      const branches = c.bodies.map((body, i) => {
        const s = w.clone(scope);
        if (i > 0) w.stmts(c.conds[i]!, s, ctx, stdin);
        w.stmts(body, s, ctx, stdin);
        return s;
      });
      if (c.orElse) {
        const s = w.clone(scope);
        w.stmts(c.orElse, s, ctx, stdin);
        branches.push(s);
      }
      w.spend(scope.mergeBranches(branches, c.orElse !== undefined));
      return undefined;
    }
    case 'loop':
      w.stmts(c.cond, scope, ctx, stdin);
      loopBody(w, c.body, scope, ctx, stdin);
      return undefined;
    case 'for': {
      for (const p of c.arith ?? []) if (p.t === 'cmd') env.substitute(p.body);
      const values = c.items ? listValues(resolveArgs(c.items, env)) : null;
      loopBody(w, c.body, scope, ctx, stdin, (s) => s.set(c.name, values));
      return undefined;
    }
    case 'case': {
      resolveArgs([c.word], env);
      const branches = c.arms.map((arm) => {
        const s = w.clone(scope);
        w.stmts(arm.body, s, ctx, stdin);
        return s;
      });
      w.spend(
        scope.mergeBranches(
          branches,
          c.arms.some((a) => a.patterns.some((p) => p.src === '*')),
        ),
      );
      return undefined;
    }
    case 'test':
      resolveArgs(c.words, env);
      for (const p of c.inner) if (p.t === 'cmd') env.substitute(p.body);
      return undefined;
  }
}

function loopBody(w: BranchWalker, body: Stmt[], scope: Scope, ctx: Ctx, stdin: Stdin, setVar?: (s: Scope) => void): void {
  const first = w.clone(scope);
  setVar?.(first);
  w.stmts(body, first, ctx, stdin);
  const changed = first.differsFrom(scope);
  w.spend(scope.mergeBranches([first], false));
  if (!changed) return;
  // a second pass sees the values the first one left behind
  const second = w.clone(scope);
  setVar?.(second);
  w.stmts(body, second, ctx, stdin);
  w.spend(scope.mergeBranches([second], false));
}
