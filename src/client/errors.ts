// Errors a user (or an agent) acts on: shown as they are, never retried, never a stack trace.
import type { PolicyFinding } from '../cluster/policy.js';

/** A user-facing refusal (bad input, dangerous command, unknown node): shown as is, never retried. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code: 'invalid' | 'refused' | 'unknown-node' | 'not-found' | 'needs-approval' = 'invalid',
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** The policy wants a person's yes for these findings first (the MCP server asks by elicitation, where the client can). */
export class NeedsApproval extends UserError {
  constructor(
    message: string,
    readonly findings: PolicyFinding[],
  ) {
    super(message, 'needs-approval');
  }
}
