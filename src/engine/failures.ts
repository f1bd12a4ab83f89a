// Transport errors become typed ApplicationFailures; the workflows' retry policies know which
// are final, and commandWorkflow re-routes NodeUnreachable only.
import { ApplicationFailure } from '@temporalio/activity';
import type { Services } from '../runtime/services.js';
import { FailureType, type NodeConfig } from '../shared.js';
import { SshError } from '../ssh/errors.js';

/**
 * CLUSTER_SSH_RETRIES spent: a node that could not be reached (nothing sent) on attempt
 * `attempt` counts as unreachable now, not retried again (the workflow re-routes or reports it).
 * Other failures pass through unchanged.
 */
export function spendRetryBudget(err: unknown, attempt: number, sshRetries: number | undefined): unknown {
  if (sshRetries === undefined || !(err instanceof ApplicationFailure) || err.type !== FailureType.NodeUnreachable || err.nonRetryable) return err;
  if (attempt < sshRetries + 1) return err;
  const tries = `${attempt} attempt${attempt === 1 ? '' : 's'}`;
  return ApplicationFailure.nonRetryable(`${err.message} (unreachable after ${tries}: CLUSTER_SSH_RETRIES=${sshRetries})`, FailureType.NodeUnreachable);
}

/**
 * `sent`: the command was handed to a live connection (by this or an earlier attempt), so it
 * may be running on the node: an unreachable node is then 'ConnectionLost' (retried, to
 * re-attach), never a re-route that would run it a second time elsewhere.
 */
export function toFailure(err: unknown, node: NodeConfig, rt: Services, sent = false): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err instanceof SshError ? err : null;
  const msg = `${node.id}: ${err instanceof Error ? err.message : String(err)}`;
  if (!e) return ApplicationFailure.retryable(msg, sent ? FailureType.ConnectionLost : FailureType.NodeUnreachable);
  if (e.kind === 'host-key') return ApplicationFailure.nonRetryable(msg, FailureType.HostKey);
  if (e.kind === 'auth') return ApplicationFailure.nonRetryable(msg, FailureType.Auth);
  if (e.kind === 'connect' || e.kind === 'dns' || e.kind === 'timeout') {
    rt.resolver.invalidate(node.id);
    if (sent)
      return ApplicationFailure.retryable(
        `${msg}; the command was already sent to ${node.id} and may have run there, so it is not re-run elsewhere`,
        FailureType.ConnectionLost,
      );
    return ApplicationFailure.retryable(msg, FailureType.NodeUnreachable);
  }
  // Lost mid-run or a channel failure: the next attempt re-attaches to the detached command.
  return ApplicationFailure.retryable(msg, FailureType.ConnectionLost);
}
