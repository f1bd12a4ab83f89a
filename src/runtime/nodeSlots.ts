// Commands this process runs per node. A node worker's activity slots (max_parallel) limit
// runCommand attempts, but a head start runs a command before any activity exists: both take
// a slot here, so the node never runs more than max_parallel of this process's commands.

type Waiter = (release: () => void) => void;

export class NodeSlots {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, Waiter[]>();

  /** A slot if one is free now (call the result when the command ends), else undefined. */
  tryTake(nodeId: string, max: number): (() => void) | undefined {
    const n = this.running.get(nodeId) ?? 0;
    if (n >= Math.max(1, max)) return undefined;
    this.running.set(nodeId, n + 1);
    return this.releaser(nodeId);
  }

  /** Wait for a slot, first come first served. An abort ends the wait with no slot (a no-op release). */
  take(nodeId: string, max: number, signal?: AbortSignal): Promise<() => void> {
    const now = this.tryTake(nodeId, max);
    if (now) return Promise.resolve(now);
    if (signal?.aborted) return Promise.resolve(() => undefined);
    return new Promise((resolve) => {
      const queue = this.waiting.get(nodeId) ?? this.waiting.set(nodeId, []).get(nodeId)!;
      const onAbort = () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        resolve(() => undefined);
      };
      const waiter: Waiter = (release) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(release);
      };
      queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Commands running on the node now. */
  count(nodeId: string): number {
    return this.running.get(nodeId) ?? 0;
  }

  /** The slot passes straight to the next waiter, so a tryTake in between cannot take it. */
  private releaser(nodeId: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.get(nodeId)?.shift();
      if (next) next(this.releaser(nodeId));
      else this.running.set(nodeId, (this.running.get(nodeId) ?? 1) - 1);
    };
  }
}
