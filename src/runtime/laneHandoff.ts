// A node's batches of one fan-out, back to back without a gap: the next batch's activity starts
// while the one before still runs (the workflow starts it early: fanout.ts), and each of its
// lanes waits here for a lane of the batch before to run out of commands. So the node never idles
// between batches (a child workflow's end, the parent's task, the next child's start and its
// activity's dispatch: 0.2-1.5 s per boundary on a busy 2-CPU host, 3 boundaries per node in a
// 10,000-command fan-out), and the fan-out's lanes on the node never exceed its share.
//
// In-process only: the batch before may run in another process (several workers serve a node's
// queue), where its lanes are not seen here. The waiting batch also asks Temporal whether that
// batch's workflow closed (engine/batch.ts) and then goes: `closed()`.

/** A finished batch's entry is kept this long for a next batch that comes late; one never finished, this long at most. */
const KEEP_FINISHED_MS = 60_000;
const KEEP_UNFINISHED_MS = 30 * 60_000;

interface Entry {
  /** Lanes of the batch that ran out of commands (Infinity: it finished, or its workflow closed). */
  freed: number;
  waiters: Array<{ need: number; go: () => void }>;
  touched: number;
}

export class LaneHandoff {
  private readonly byBatch = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * A batch's attempt in this process. `laneDone` as each of its lanes runs out of commands;
   * `finished` when the attempt returned its results (every lane handed over). An attempt that
   * failed hands over nothing more: its retry (here or elsewhere) registers again, or the
   * waiting batch learns that its workflow closed.
   */
  register(batchId: string): { laneDone: () => void; finished: () => void } {
    this.sweep();
    const entry = this.entry(batchId);
    return {
      laneDone: () => this.free(entry, entry.freed + 1),
      finished: () => this.free(entry, Infinity),
    };
  }

  /** The batch's workflow closed (Temporal says so): whatever waits for it goes. */
  closed(batchId: string): void {
    this.free(this.entry(batchId), Infinity);
  }

  /** Resolves once `lanes` lanes of `batchId` were handed over (or it closed), or when `signal` aborts. */
  waitLanes(batchId: string, lanes: number, signal?: AbortSignal): Promise<void> {
    const entry = this.entry(batchId);
    if (entry.freed >= lanes || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        const i = entry.waiters.indexOf(waiter);
        if (i >= 0) entry.waiters.splice(i, 1);
        resolve();
      };
      const waiter = { need: lanes, go: done };
      entry.waiters.push(waiter);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Entries (for tests and leaks). */
  get size(): number {
    return this.byBatch.size;
  }

  private entry(batchId: string): Entry {
    let e = this.byBatch.get(batchId);
    if (!e) this.byBatch.set(batchId, (e = { freed: 0, waiters: [], touched: this.now() }));
    e.touched = this.now();
    return e;
  }

  private free(entry: Entry, freed: number): void {
    entry.freed = Math.max(entry.freed, freed);
    entry.touched = this.now();
    for (const w of entry.waiters.filter((x) => x.need <= entry.freed)) w.go();
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, e] of this.byBatch) {
      if (e.waiters.length > 0) continue;
      if (t - e.touched > (e.freed === Infinity ? KEEP_FINISHED_MS : KEEP_UNFINISHED_MS)) this.byBatch.delete(id);
    }
  }
}
