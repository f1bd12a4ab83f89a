// The one decision both sides make with the policy (cluster/policy.ts): the client before it
// starts anything, the worker again before it runs anything (it must not trust its input), with
// the same function. A `refuse` finding is final; a `confirm` finding passes only when a person
// approved that rule for this task (MCP elicitation), or the node's policy.allow trusts the program.
import { checkPolicy, type PolicyFinding } from './policy.js';
import type { NodeConfig } from '../shared.js';

export interface GateInput {
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  /** The node it runs on, when known (its policy: allow/deny/read_only applies). */
  node?: Pick<NodeConfig, 'id' | 'policy'>;
  /** Rules of `confirm` findings a person approved for this task. */
  approved?: readonly string[];
}

export interface GateVerdict {
  /** A refusal: the first finding that blocks it. */
  refused?: PolicyFinding;
  /** No refusal, but findings that need a person's yes first (none approved yet). */
  toConfirm: PolicyFinding[];
}

export function policyGate(input: GateInput): GateVerdict {
  const findings = checkPolicy({
    command: input.command,
    ...(input.cwd !== undefined ? { cwd: input.cwd } : {}),
    ...(input.env !== undefined ? { env: input.env } : {}),
    ...(input.node ? { node: input.node.policy ? { id: input.node.id, policy: input.node.policy } : { id: input.node.id } } : {}),
  });
  const refused = findings.find((f) => f.verdict === 'refuse');
  if (refused) return { refused, toConfirm: [] };
  return { toConfirm: findings.filter((f) => !input.approved?.includes(f.rule)) };
}

/** The worker's side: why this command may not run on this node, or undefined when it may. */
export function workerRefusal(input: GateInput & { node: Pick<NodeConfig, 'id' | 'policy'> }): string | undefined {
  const v = policyGate(input);
  const f = v.refused ?? v.toConfirm[0];
  if (!f) return undefined;
  return v.refused ? `${f.message} (${f.hint})` : `${f.message}: not approved for this task (${f.hint})`;
}

/** Nodes whose own policy refuses the command (placement passes them over, saying why). */
export function nodesRefusing(nodes: readonly NodeConfig[], input: Omit<GateInput, 'node'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const node of nodes) {
    if (!node.policy) continue;
    const why = workerRefusal({ ...input, node });
    if (why) out[node.id] = `its policy refuses this command: ${why}`;
  }
  return out;
}
