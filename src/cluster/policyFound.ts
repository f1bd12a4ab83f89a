// Building blocks the rule modules share: a refusal, a hidden or over-complex operand,
// a protected target.
import type { Target, TargetKind } from './policyTargets.js';
import type { Arg, RuleResult } from './policyTypes.js';

export type Found = RuleResult[number];
export const refuse = (rule: string, why: string, program?: string): Found =>
  program ? { verdict: 'refuse', rule, why, program } : { verdict: 'refuse', rule, why };
export const SYSTEM_KINDS: TargetKind[] = ['root', 'system', 'home'];

export function hiddenTarget(arg: Arg, role: string): Found {
  return refuse('hidden-target', `takes the ${role} from ${arg.hidden}, whose value the check cannot see`);
}

export function tooManyWords(arg: Arg): Found {
  return refuse('too-complex', `expands \`${arg.text.slice(0, 60)}\` to more words than the check follows`);
}

/** Every value of every argument, with hidden and over-complex ones reported. */
export function eachValue(args: Arg[], role: string, out: Found[], visit: (value: string, arg: Arg) => void): void {
  for (const arg of args) {
    if (arg.hidden !== undefined) out.push(hiddenTarget(arg, role));
    else if (arg.complex) out.push(tooManyWords(arg));
    else for (const v of arg.values) visit(v, arg);
  }
}

export function targetFinding(t: Target, rule: string, verb: string): Found {
  return t.kind === 'hidden' ? refuse('hidden-target', `would ${verb} ${t.what}`) : refuse(rule, `would ${verb} ${t.what}`);
}
