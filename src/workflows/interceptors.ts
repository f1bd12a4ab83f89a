// The worker decides what it runs (DESIGN.md, "Trust boundary"): anyone who can reach the
// Temporal server can start our workflow types, so every workflow's input, signal and update is
// checked here before our code sees it. A payload the codec could not accept as ours arrives as
// a refusal marker (security/codec.ts): the workflow then fails at once, non-retryable, with the
// reason; a foreign signal is dropped. A task id also carries when it was issued (a ULID): a
// task started long after that is a replayed input, and is refused too.
import {
  ApplicationFailure,
  log,
  workflowInfo,
  type Next,
  type QueryInput,
  type SignalInput,
  type UpdateInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import { FailureType, refusalOf } from '../shared.js';

/** How long after its id was issued a task may start (clock skew between hosts included). */
const MAX_START_DELAY_MS = 10 * 60_000;
const TASK_ID = /^(cmd|par)-([0-9a-hjkmnp-tv-z]{10})[0-9a-hjkmnp-tv-z]{16}$/;
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function refused(args: unknown[]): string | undefined {
  for (const a of args) {
    const why = refusalOf(a);
    if (why) return why;
  }
  return undefined;
}

/** ms since the epoch encoded in a ULID's first 10 characters. */
function ulidTime(prefix: string): number {
  let t = 0;
  for (const c of prefix) t = t * 32 + CROCKFORD.indexOf(c);
  return t;
}

class RefuseForeignInput implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const why = refused(input.args);
    if (why) throw ApplicationFailure.nonRetryable(`refused: this workflow's input was not accepted because ${why}; nothing was run`, FailureType.Refused);
    const info = workflowInfo();
    const id = TASK_ID.exec(info.workflowId);
    if (id) {
      const delay = info.startTime.getTime() - ulidTime(id[2]!);
      if (Math.abs(delay) > MAX_START_DELAY_MS) {
        throw ApplicationFailure.nonRetryable(
          `refused: task id ${info.workflowId} was issued ${Math.round(delay / 1000)} s before this start (a replayed input); nothing was run`,
          FailureType.Refused,
        );
      }
    }
    return next(input);
  }

  async handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    const why = refused(input.args);
    if (why) {
      log.warn('dropped a signal whose input is not ours', { signal: input.signalName, why });
      return;
    }
    return next(input);
  }

  validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>): void {
    const why = refused(input.args);
    if (why) throw new Error(`refused: ${why}`);
    next(input);
  }

  async handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    const why = refused(input.args);
    if (why) throw ApplicationFailure.nonRetryable(`refused: ${why}`, FailureType.Refused);
    return next(input);
  }

  handleQuery(input: QueryInput, next: Next<WorkflowInboundCallsInterceptor, 'handleQuery'>): Promise<unknown> {
    const why = refused(input.args);
    if (why) throw new Error(`refused: ${why}`);
    return next(input);
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new RefuseForeignInput()] });
