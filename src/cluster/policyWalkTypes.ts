// The walker's vocabulary: the context of one walk (depth, remote host, probe), the commands
// it visited, its raw findings and its limits. Apart from policyWalk.ts so the modules around
// the walker (compound commands, per-node rules, the policy entry) share them without it.
import type { Arg, PolicyFinding } from './policyTypes.js';

export interface Visited {
  program: string;
  wrappers: string[];
  args: Arg[];
  text: string;
  writes: Arg[];
}
export type Raw = PolicyFinding & { text: string };
export interface Ctx {
  depth: number;
  remote?: string;
  probe: boolean;
}

export const WALK_LIMITS = { units: 40_000, shellDepth: 6, findings: 64 };
export class WalkLimit extends Error {}
