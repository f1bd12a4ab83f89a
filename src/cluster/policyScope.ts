// What the walker knows at one point of a command line: variables (with every value they
// may hold, or null when unknowable), arrays, and the working directory. Copy-on-write:
// a branch, subshell or loop body gets a child scope in O(1) and only what it assigns is
// stored in it, so a 64 KiB `case` with thousands of arms costs no map copies.
import type { Values } from './policyWords.js';
import type { Dir } from './policyTypes.js';

const MAX_VALUES = 64;

export class Scope {
  private vars: Map<string, Values> | null = null;
  /** the walker's word environment for this scope, kept here to avoid a lookup per command */
  env: unknown = undefined;
  private arrays: Map<string, Values> | null = null;

  constructor(
    private readonly parent: Scope | null,
    public dir: Dir,
  ) {}

  static initial(env: Record<string, string>, dir: Dir): Scope {
    const scope = new Scope(null, dir);
    for (const [k, v] of Object.entries(env)) scope.set(k, [v]);
    return scope;
  }

  child(): Scope {
    return new Scope(this, this.dir);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** undefined: never assigned here (the node's environment decides); null: assigned, but unknowable */
  get(name: string): Values | undefined {
    for (let s: Scope | null = this; s; s = s.parent) if (s.vars?.has(name)) return s.vars.get(name)!;
    return undefined;
  }

  getArray(name: string): Values | undefined {
    for (let s: Scope | null = this; s; s = s.parent) if (s.arrays?.has(name)) return s.arrays.get(name)!;
    return undefined;
  }

  set(name: string, values: Values): void {
    (this.vars ??= new Map()).set(name, values && values.length > MAX_VALUES ? null : values);
  }

  setArray(name: string, values: Values): void {
    (this.arrays ??= new Map()).set(name, values && values.length > MAX_VALUES ? null : values);
  }

  /** `X=v`, `X+=v`, `A=(a b)`: an array's first element is also its plain value. */
  assign(name: string, values: Values, append: boolean, array: boolean): void {
    let next = values;
    if (append) {
      const prev = this.get(name);
      next = prev && values ? prev.flatMap((p) => values.map((v) => p + v)) : null;
    }
    if (array) {
      this.setArray(name, next);
      this.set(name, next === null ? null : [next[0] ?? '']);
    } else this.set(name, next);
  }

  /** `source file` may assign anything: every variable known so far becomes unknowable. */
  forgetAll(): void {
    for (let s: Scope | null = this; s; s = s.parent) {
      for (const k of s.vars?.keys() ?? []) this.set(k, null);
      for (const k of s.arrays?.keys() ?? []) this.setArray(k, null);
    }
  }

  /** Names this scope assigned itself that now differ from `base`'s view. */
  changedFrom(base: Scope): { vars: string[]; arrays: string[] } {
    const vars = [...(this.vars?.keys() ?? [])].filter((k) => !same(this.vars!.get(k)!, base.get(k)));
    const arrays = [...(this.arrays?.keys() ?? [])].filter((k) => !same(this.arrays!.get(k)!, base.getArray(k)));
    return { vars, arrays };
  }

  /** After branches (one of which ran, when `exhaustive`), a variable may hold any of their values. */
  mergeBranches(branches: Scope[], exhaustive: boolean): number {
    let work = 0;
    const keys = { vars: new Set<string>(), arrays: new Set<string>() };
    for (const b of branches) {
      const changed = b.changedFrom(this);
      changed.vars.forEach((k) => keys.vars.add(k));
      changed.arrays.forEach((k) => keys.arrays.add(k));
      work += 1 + changed.vars.length + changed.arrays.length;
    }
    for (const k of keys.vars) {
      const options = branches.map((b) => b.get(k));
      if (!exhaustive) options.push(this.get(k));
      this.set(k, union(options));
    }
    for (const k of keys.arrays) {
      const options = branches.map((b) => b.getArray(k));
      if (!exhaustive) options.push(this.getArray(k));
      this.setArray(k, union(options));
    }
    const dirs = [...branches.map((b) => b.dir), ...(exhaustive ? [] : [this.dir])];
    if (!dirs.every((d) => sameDir(d, dirs[0]!))) this.dir = exhaustive || branches.length > 1 ? { kind: 'unknown' } : branches[0]!.dir;
    return work;
  }

  /** Whether a pass over a loop body left anything different behind. */
  differsFrom(base: Scope): boolean {
    const changed = this.changedFrom(base);
    return changed.vars.length > 0 || changed.arrays.length > 0 || !sameDir(this.dir, base.dir);
  }
}

function same(a: Values | undefined, b: Values | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((v, i) => v === b[i]);
}

function sameDir(a: Dir, b: Dir): boolean {
  return a.kind === b.kind && (a.kind !== 'known' || a.path === (b as { path: string }).path);
}

function union(options: Array<Values | undefined>): Values {
  if (options.some((o) => o === null || o === undefined)) return null;
  const all = [...new Set((options as string[][]).flat())];
  return all.length > MAX_VALUES ? null : all;
}
