// Commands running per node, held to its max_parallel across every process of one state dir
// (two serve sessions of one user, a background worker beside them). A node worker's activity
// slots only limit its own attempts, and a fast-path launch runs before any activity exists: so
// every launch takes a slot here. A slot is a file <dir>/<node>/<k> created exclusively, naming
// the process that holds it; a holder that died leaves a file nobody honours.
import { closeSync, linkSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { holderAlive, processTag } from './processTag.js';

type Waiter = (release: () => void) => void;

/** How often a waiter looks for a slot another process freed (in-process releases hand over at once). */
const POLL_MS = 25;

export class NodeSlots {
  private readonly waiting = new Map<string, Waiter[]>();
  /** Slots this process holds, per node: `${node}/${k}`. */
  private readonly held = new Set<string>();
  private readonly me = processTag(process.pid);
  private poller?: NodeJS.Timeout;

  /** `dir`: shared by the processes of one state dir (<state>/slots). */
  constructor(private readonly dir: string) {}

  /** A slot if one is free now (call the result when the command ends), else undefined. */
  tryTake(nodeId: string, max: number): (() => void) | undefined {
    const k = this.claim(nodeId, Math.max(1, max));
    return k === undefined ? undefined : this.releaser(nodeId, k);
  }

  /** Wait for a slot, first come first served within this process. An abort ends the wait with no slot (a no-op release). */
  take(nodeId: string, max: number, signal?: AbortSignal): Promise<() => void> {
    const queue = this.waiting.get(nodeId) ?? this.waiting.set(nodeId, []).get(nodeId)!;
    const now = queue.length === 0 ? this.tryTake(nodeId, max) : undefined;
    if (now) return Promise.resolve(now);
    if (signal?.aborted) return Promise.resolve(() => undefined);
    return new Promise((resolve) => {
      const onAbort = () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        resolve(() => undefined);
      };
      const waiter: Waiter = (release) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(release);
      };
      (waiter as Waiter & { max?: number }).max = max;
      queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.poll();
    });
  }

  /** Commands running on the node now, in every process of this state dir. */
  count(nodeId: string): number {
    return this.live(nodeId).length;
  }

  private nodeDir(nodeId: string): string {
    return path.join(this.dir, nodeId);
  }

  /** The first free slot index, taken; undefined when all `max` are held by live processes. */
  private claim(nodeId: string, max: number): number | undefined {
    const dir = this.nodeDir(nodeId);
    for (let attempt = 0; attempt < 2; attempt++) {
      for (let k = 0; k < max; k++) {
        if (this.held.has(`${nodeId}/${k}`)) continue;
        const file = path.join(dir, String(k));
        try {
          // Written first, then linked into place: no other process ever sees a slot file without its holder.
          const tmp = `${file}.${process.pid}.tmp`;
          const fd = openSync(tmp, 'w', 0o600);
          writeSync(fd, this.me);
          closeSync(fd);
          try {
            linkSync(tmp, file);
          } finally {
            unlinkSync(tmp);
          }
          this.held.add(`${nodeId}/${k}`);
          return k;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' && attempt === 0) {
            mkdirSync(dir, { recursive: true, mode: 0o700 });
            break;
          }
          if (code !== 'EEXIST') throw err;
          // Held by a process that is gone (crashed): the slot is free.
          if (!holderAlive(file)) {
            try {
              unlinkSync(file);
            } catch {
              /* another process took it meanwhile */
            }
            k--;
          }
        }
      }
    }
    return undefined;
  }

  /** The slot passes straight to the next waiter of this process, so a tryTake in between cannot take it. */
  private releaser(nodeId: string, k: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.get(nodeId)?.shift();
      if (next) return next(this.releaser(nodeId, k));
      this.held.delete(`${nodeId}/${k}`);
      try {
        unlinkSync(path.join(this.nodeDir(nodeId), String(k)));
      } catch {
        /* already gone */
      }
    };
  }

  /** Hand slots freed by other processes to this process's waiters. */
  private serveWaiters(nodeId: string): void {
    const queue = this.waiting.get(nodeId);
    while (queue && queue.length > 0) {
      const release = this.tryTake(nodeId, (queue[0] as Waiter & { max?: number }).max ?? 1);
      if (!release) return;
      queue.shift()!(release);
    }
  }

  private poll(): void {
    if (this.poller) return;
    const tick = () => {
      this.poller = undefined;
      let waiting = false;
      for (const [nodeId, queue] of this.waiting) {
        this.serveWaiters(nodeId);
        if (queue.length > 0) waiting = true;
      }
      if (waiting) this.poller = setTimeout(tick, POLL_MS);
    };
    this.poller = setTimeout(tick, POLL_MS);
  }

  private live(nodeId: string): string[] {
    let names: string[];
    try {
      names = readdirSync(this.nodeDir(nodeId));
    } catch {
      return [];
    }
    return names.filter((n) => /^\d+$/.test(n) && holderAlive(path.join(this.nodeDir(nodeId), n)));
  }
}
