// Command and fan-out workflows this process starts a moment after their launch answered (a
// journaled head start: taskStart.ts). Whatever asks Temporal about such a task waits for its
// start first (it would be "not found" before), and makes it go out now rather than at the end of
// its deferral: the caller wants the workflow, not the saving.
/** How long an answer that says "running" waits for its task's start (a start RPC takes 5-10 ms; a failing one is retried from 250 ms on). */
export const RUNNING_START_WAIT_MS = 2000;

export class PendingStarts {
  private readonly starts = new Map<string, { started: Promise<void>; hurry: () => void }>();

  /** `start` starts the workflow once its launch answered, its deferral ended, or `hurry` resolved, whichever is first. */
  track(taskId: string, start: (hurry: Promise<void>) => Promise<void>): void {
    let hurry: () => void = () => undefined;
    const hurried = new Promise<void>((resolve) => (hurry = resolve));
    const started = start(hurried);
    this.starts.set(taskId, { started, hurry });
    void started.finally(() => this.starts.delete(taskId));
  }

  /** The tasks whose start is pending here. */
  ids(): string[] {
    return [...this.starts.keys()];
  }

  has(taskId: string): boolean {
    return this.starts.has(taskId);
  }

  /**
   * Resolves once the task's workflow exists (at once for a task not pending here), starting it
   * now if it waits; or after `maxWaitMs`, if given, when the start is still being retried
   * (Temporal unreachable): an answer need not hang on it.
   */
  async settled(taskId: string, maxWaitMs?: number): Promise<void> {
    const pending = this.starts.get(taskId);
    pending?.hurry();
    if (!pending || maxWaitMs === undefined) return pending?.started;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pending.started, new Promise((resolve) => (timer = setTimeout(resolve, maxWaitMs)))]);
    clearTimeout(timer);
  }
}
