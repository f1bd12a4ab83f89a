// Keeps nodes' workspace caches within their caps without making anyone wait for it. Sizing
// every tree and checking every blob takes 50-300 ms on a node (more than a no-change sync);
// run after each release, it sat on every synced command's answer. Now a release only asks:
// at most one prune per node runs at a time, and one per interval, in the background.

export class PruneScheduler {
  private readonly lastStarted = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts `prune` for the node unless one is running or started within the interval. Never waits, never throws. */
  request(nodeId: string, prune: () => Promise<unknown>, onError?: (err: unknown) => void): void {
    if (this.running.has(nodeId)) return;
    const last = this.lastStarted.get(nodeId);
    if (last !== undefined && this.now() - last < this.intervalMs) return;
    this.lastStarted.set(nodeId, this.now());
    let started: Promise<unknown>;
    try {
      started = prune();
    } catch (err) {
      started = Promise.reject(err);
    }
    const run = started
      .then(
        () => undefined,
        (err: unknown) => onError?.(err),
      )
      .finally(() => this.running.delete(nodeId));
    this.running.set(nodeId, run);
  }

  /** Every prune running now has finished (for shutdown and tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()]);
  }
}
