// The Temporal side of an attempt (engine/attempt.ts): heartbeats with progress, the previous
// attempt's details, and which cancellations kill. Only a cancel the workflow asked for kills;
// Temporal also cancels an attempt it has given up on (heartbeat timeout, e.g. across a server
// restart; not found; worker shutdown): then another attempt re-attaches, so this one lets go.
import { Context } from '@temporalio/activity';
import type { AttemptControl, AttemptProgress } from '../engine/attempt.js';

export interface ActivityControl {
  control: AttemptControl;
  /** Stop listening to the activity's cancellation (call when the attempt ended). */
  dispose(): void;
}

/** `extra`: fields every heartbeat carries besides the progress (what the next attempt should know). */
export function activityControl(ctx: Context, prior: Partial<AttemptProgress> = {}, extra: Record<string, unknown> = {}): ActivityControl {
  const cancel = new AbortController();
  const abandon = new AbortController();
  const onCancel = () => {
    if (cancelRequested(ctx)) cancel.abort();
    else abandon.abort(ctx.cancellationSignal.reason);
  };
  ctx.cancellationSignal.addEventListener('abort', onCancel);
  if (ctx.cancellationSignal.aborted) onCancel();
  const details = (ctx.info.heartbeatDetails ?? {}) as Partial<AttemptProgress>;
  return {
    control: {
      prior: { ...details, sent: details.sent === true || prior.sent === true },
      heartbeat: (p) => ctx.heartbeat({ ...p, ...extra }),
      cancel: cancel.signal,
      abandon: abandon.signal,
    },
    dispose: () => ctx.cancellationSignal.removeEventListener('abort', onCancel),
  };
}

/** True for a cancel the workflow requested (task_cancel), not for an attempt Temporal abandoned. */
export function cancelRequested(ctx: Context): boolean {
  const reason = ctx.cancellationSignal.reason as { message?: string } | undefined;
  return ctx.cancellationDetails?.cancelRequested === true || reason?.message === 'CANCELLED';
}
