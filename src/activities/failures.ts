// Transport errors become typed ApplicationFailures; the workflows' retry policies know which are final.
import { ApplicationFailure } from '@temporalio/activity';
import type { Runtime } from '../runtime.js';
import { FailureType, type NodeConfig } from '../shared.js';
import { SshError } from '../ssh/errors.js';

export function toFailure(err: unknown, node: NodeConfig, rt: Runtime): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err instanceof SshError ? err : null;
  const msg = `${node.id}: ${err instanceof Error ? err.message : String(err)}`;
  if (!e) return ApplicationFailure.retryable(msg, FailureType.NodeUnreachable);
  if (e.kind === 'host-key') return ApplicationFailure.nonRetryable(msg, FailureType.HostKey);
  if (e.kind === 'auth') return ApplicationFailure.nonRetryable(msg, FailureType.Auth);
  if (e.kind === 'connect' || e.kind === 'dns' || e.kind === 'timeout') {
    rt.resolver.invalidate(node.id);
    return ApplicationFailure.retryable(msg, FailureType.NodeUnreachable);
  }
  // Lost mid-run or a channel failure: the next attempt re-attaches to the detached command.
  return ApplicationFailure.retryable(msg, 'ConnectionLost');
}
