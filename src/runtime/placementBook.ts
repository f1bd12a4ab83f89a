// In-flight work per node, as placed by this worker process. Taken when a task is placed,
// released when it ends, so a burst spreads before the next probe shows the load.
// Entries expire so a task whose release was lost (worker crash) cannot pin a node forever.
export class PlacementBook {
  private readonly byTask = new Map<string, { nodeId: string; expires: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  reserve(taskId: string, nodeId: string, ttlMs: number): void {
    this.byTask.set(taskId, { nodeId, expires: this.now() + ttlMs });
  }

  /** Releases one task (a command that ended; its workflow releases again, harmlessly). */
  releaseOne(taskId: string): void {
    this.byTask.delete(taskId);
  }

  /** Releases the task and, for a fan-out parent, every `<taskId>/<i>` placed under it. */
  release(taskId: string): void {
    this.byTask.delete(taskId);
    const prefix = `${taskId}/`;
    for (const key of this.byTask.keys()) if (key.startsWith(prefix)) this.byTask.delete(key);
  }

  counts(): Record<string, number> {
    const t = this.now();
    const out: Record<string, number> = {};
    for (const [taskId, r] of this.byTask) {
      if (r.expires < t) {
        this.byTask.delete(taskId);
        continue;
      }
      out[r.nodeId] = (out[r.nodeId] ?? 0) + 1;
    }
    return out;
  }
}
