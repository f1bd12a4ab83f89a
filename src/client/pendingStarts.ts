// Command and fan-out workflows this process starts a moment after their launch answered (a
// journaled head start: taskStart.ts). Whatever asks Temporal about such a task waits for its start first
// (it would be "not found" before).
export class PendingStarts {
  private readonly starts = new Map<string, Promise<void>>();

  track(taskId: string, started: Promise<void>): void {
    this.starts.set(taskId, started);
    void started.finally(() => this.starts.delete(taskId));
  }

  has(taskId: string): boolean {
    return this.starts.has(taskId);
  }

  /** Resolves once the task's workflow exists (at once for a task not pending here). */
  async settled(taskId: string): Promise<void> {
    await this.starts.get(taskId);
  }
}
