// Stops of single commands of an attempt: task_cancel of one command of a fan-out, a batch's
// stop Query, the cancel of the whole attempt. A fan-out batch holds thousands of commands for
// seconds; an AbortController each (with its AbortSignal, EventTarget and listener records,
// ~1 KB) lived long enough to reach V8's old generation and was most of a 10,000-command
// fan-out's garbage in serve. Here a command's stop is a byte, and only commands a lane is
// running have a listener.

/** Item j of a chunk → its stop (runChunk kills the run when it comes). */
export interface ChunkStops {
  /** `onStop` when item j is stopped (at once if it is); returns its removal. */
  on(j: number, onStop: () => void): () => void;
}

export class Stops {
  private readonly stopped: Uint8Array;
  /** The listener of each command a lane is running (one at a time per command). */
  private readonly listeners = new Map<number, () => void>();
  private readonly watchers: Array<(k: number) => void> = [];

  constructor(readonly size: number) {
    this.stopped = new Uint8Array(size);
  }

  isStopped(k: number): boolean {
    return this.stopped[k] === 1;
  }

  stop(k: number): void {
    if (k < 0 || k >= this.size || this.stopped[k]) return;
    this.stopped[k] = 1;
    for (const w of this.watchers) w(k);
    this.listeners.get(k)?.();
  }

  stopAll(): void {
    for (let k = 0; k < this.size; k++) this.stop(k);
  }

  /** `fn(k)` for each command stopped from now on; returns its removal. */
  watch(fn: (k: number) => void): () => void {
    this.watchers.push(fn);
    return () => {
      const i = this.watchers.indexOf(fn);
      if (i >= 0) this.watchers.splice(i, 1);
    };
  }

  /** `onStop` when command k is stopped (at once if it is); returns its removal. */
  on(k: number, onStop: () => void): () => void {
    if (this.isStopped(k)) {
      onStop();
      return () => undefined;
    }
    this.listeners.set(k, onStop);
    return () => {
      if (this.listeners.get(k) === onStop) this.listeners.delete(k);
    };
  }

  /** The stops of a chunk whose item j is command ks[j]. */
  chunk(ks: readonly number[]): ChunkStops {
    return { on: (j, onStop) => this.on(ks[j]!, onStop) };
  }
}
