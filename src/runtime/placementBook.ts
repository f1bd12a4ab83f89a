// In-flight work per node, as placed by this process: taken when a task is placed, released
// when it ends, so a burst spreads before the next probe shows the load. Entries expire so a task
// whose release was lost (worker crash) cannot pin a node forever. With a shared dir (the state
// dir's), each process publishes its counts there and counts the others' too: two serve sessions
// on one machine place with each other's reservations in view.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { processTag, tagAlive } from './processTag.js';

/** How often another process's published counts are read again, and how soon ours are written after a change. */
const SHARE_MS = 100;

interface Published {
  tag: string;
  counts: Record<string, number>;
}

export class PlacementBook {
  private readonly byTask = new Map<string, { nodeId: string; expires: number }>();
  /** byTask counted per node, kept as it changes: counts() is asked once per placement, and a fan-out places thousands. */
  private readonly perNode = new Map<string, number>();
  /** No entry expires before this: until then counts() need not look at the entries one by one. */
  private nextExpiry = Infinity;
  private readonly me = processTag(process.pid);
  private publishTimer?: NodeJS.Timeout;
  /** Our file in the share dir, open once; its size, spaces included (see publish). */
  private published?: { fd: number; size: number };
  private others?: { at: number; counts: Record<string, number> };

  constructor(
    private readonly now: () => number = Date.now,
    private readonly shareDir?: string,
  ) {}

  reserve(taskId: string, nodeId: string, ttlMs: number): void {
    this.forget(taskId);
    const expires = this.now() + ttlMs;
    this.byTask.set(taskId, { nodeId, expires });
    this.perNode.set(nodeId, (this.perNode.get(nodeId) ?? 0) + 1);
    this.nextExpiry = Math.min(this.nextExpiry, expires);
    this.changed();
  }

  /** Releases one task (a command that ended; its workflow releases again, harmlessly). */
  releaseOne(taskId: string): void {
    if (this.forget(taskId)) this.changed();
  }

  /** Releases the task and, for a fan-out parent, every `<taskId>/<i>` placed under it. */
  release(taskId: string): void {
    this.forget(taskId);
    const prefix = `${taskId}/`;
    for (const key of this.byTask.keys()) if (key.startsWith(prefix)) this.forget(key);
    this.changed();
  }

  private forget(taskId: string): boolean {
    const r = this.byTask.get(taskId);
    if (!r) return false;
    this.byTask.delete(taskId);
    const left = (this.perNode.get(r.nodeId) ?? 1) - 1;
    if (left > 0) this.perNode.set(r.nodeId, left);
    else this.perNode.delete(r.nodeId);
    return true;
  }

  /** Reservations per node: this process's, plus those other processes of the shared dir published. */
  counts(): Record<string, number> {
    const out = this.ownCounts();
    for (const [id, n] of Object.entries(this.othersCounts())) out[id] = (out[id] ?? 0) + n;
    return out;
  }

  private ownCounts(): Record<string, number> {
    const t = this.now();
    if (this.nextExpiry < t) {
      this.nextExpiry = Infinity;
      for (const [taskId, r] of this.byTask) {
        if (r.expires < t) this.forget(taskId);
        else this.nextExpiry = Math.min(this.nextExpiry, r.expires);
      }
    }
    return Object.fromEntries(this.perNode);
  }

  private changed(): void {
    if (!this.shareDir || this.publishTimer) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.publish();
    }, SHARE_MS);
    this.publishTimer.unref();
  }

  /**
   * Written in place over the previous counts, padded with spaces to the file's size (JSON.parse
   * ignores them): never truncated nor renamed over, as either makes ext4 flush the file first
   * (a few ms each, ten times a second under a fan-out). A reader that meets a write half done
   * cannot parse it and counts nothing of ours that once.
   */
  private publish(): void {
    const data: Published = { tag: this.me, counts: this.ownCounts() };
    try {
      if (!this.published) {
        mkdirSync(this.shareDir!, { recursive: true, mode: 0o700 });
        this.published = { fd: openSync(path.join(this.shareDir!, `${process.pid}.json`), 'w', 0o600), size: 256 };
      }
      const json = Buffer.from(JSON.stringify(data));
      if (json.length > this.published.size) this.published.size = Math.max(json.length, 2 * this.published.size);
      const padded = Buffer.alloc(this.published.size, ' ');
      json.copy(padded);
      writeSync(this.published.fd, padded, 0, padded.length, 0);
    } catch {
      // Placement still works with this process's own view; the file is opened again next time (its dir may be gone).
      const fd = this.published?.fd;
      this.published = undefined;
      if (fd !== undefined) closeQuietly(fd);
    }
  }

  private othersCounts(): Record<string, number> {
    if (!this.shareDir) return {};
    const t = Date.now();
    if (this.others && t - this.others.at < SHARE_MS) return this.others.counts;
    const counts: Record<string, number> = {};
    let names: string[] = [];
    try {
      names = readdirSync(this.shareDir).filter((n) => n.endsWith('.json') && n !== `${process.pid}.json`);
    } catch {
      /* nobody published yet */
    }
    for (const name of names) {
      const file = path.join(this.shareDir, name);
      try {
        const p = JSON.parse(readFileSync(file, 'utf8')) as Published;
        if (!tagAlive(p.tag)) {
          unlinkSync(file);
          continue;
        }
        for (const [id, n] of Object.entries(p.counts)) counts[id] = (counts[id] ?? 0) + n;
      } catch {
        /* being replaced, or gone */
      }
    }
    this.others = { at: t, counts };
    return counts;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
