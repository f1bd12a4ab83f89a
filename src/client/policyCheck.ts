// The client's side of the policy (cluster/policyGate.ts), before anything starts: refusals are
// final, findings that need confirmation become NeedsApproval (unless approved), and for a task
// placement will route, the nodes whose own policy refuses it are named so placement skips them.
import { findNode } from '../cluster/nodes.js';
import type { PolicyFinding } from '../cluster/policy.js';
import { nodesRefusing, policyGate, type GateVerdict } from '../cluster/policyGate.js';
import type { ClusterConfig } from '../shared.js';
import { NeedsApproval, UserError } from './errors.js';

export interface PolicyRequest {
  cwd?: string;
  env?: Record<string, string>;
  /** A named node: its policy applies now. Otherwise placement avoids nodes that refuse it. */
  nodeId?: string;
  approved?: readonly string[];
}

/**
 * Every command of a request (one, or a fan-out's): throws UserError on the first refusal, then
 * NeedsApproval with every finding still to confirm (one question for the whole request). Returns
 * the nodes an auto-routed request must avoid, and why.
 */
export function checkRequestPolicy(config: ClusterConfig, commands: readonly string[], req: PolicyRequest): Record<string, string> {
  const node = req.nodeId ? findNode(config, req.nodeId) : undefined;
  const prefix = (i: number) => (commands.length > 1 ? `commands[${i}]: ` : '');
  const toConfirm: PolicyFinding[] = [];
  let firstConfirm = '';
  const excludeNodes: Record<string, string> = {};
  // A fan-out often repeats a command (the same test shard command, `true` in a bench): each
  // distinct one is parsed once; the verdict depends only on it and the request.
  const verdicts = new Map<string, GateVerdict>();
  commands.forEach((command, i) => {
    let v = verdicts.get(command);
    const repeated = v !== undefined;
    if (!v) verdicts.set(command, (v = policyGate({ ...req, command, ...(node ? { node } : {}) })));
    if (v.refused) throw new UserError(`${prefix(i)}${v.refused.message} (${v.refused.hint})`, 'refused');
    if (v.toConfirm.length > 0 && !firstConfirm) firstConfirm = `${prefix(i)}${v.toConfirm[0]!.message} (${v.toConfirm[0]!.hint})`;
    toConfirm.push(...v.toConfirm);
    if (!node && !repeated) Object.assign(excludeNodes, nodesRefusing(config.nodes, { ...req, command }));
  });
  if (toConfirm.length > 0) {
    const rules = [...new Set(toConfirm.map((f) => f.rule))];
    throw new NeedsApproval(`${firstConfirm}; it runs only with a person's approval (rules: ${rules.join(', ')})`, toConfirm);
  }
  return excludeNodes;
}
