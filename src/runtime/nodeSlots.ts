// Commands running per node, held to its max_parallel across every process of one state dir
// (two serve sessions of one user, a background worker beside them). A node worker's activity
// slots only limit its own attempts, and a fast-path launch runs before any activity exists: so
// every launch takes a slot here. A slot is a file <dir>/<node>/<k> naming the process that holds
// it; a holder that died leaves a file nobody honours.
//
// Each process writes its name once, to a holder file <dir>/.holder-<pid>-<random>, and takes a
// slot by hard-linking that file to the slot's name: link(2) fails if the name exists, so the
// claim is atomic, and no other process ever sees a slot file without its holder. A take is then
// one link and a release one unlink, with no inode made or freed: writing a fresh file per take
// (open, write, close, link, unlink) cost 24 lanes 4-9 ms at a fan-out's start on an idle host,
// and the freed inodes slow every later file creation of ext4 for a while (it skips recently
// deleted inodes one by one).
import { closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { holderAlive, processTag, rmQuietly, tagAlive } from './processTag.js';

type Waiter = (release: () => void) => void;

/** How often a waiter looks for a slot another process freed (in-process releases hand over at once). */
const POLL_MS = 25;

export class NodeSlots {
  private readonly waiting = new Map<string, Waiter[]>();
  /** Slots this process holds, per node: `${node}/${k}`. */
  private readonly held = new Set<string>();
  private readonly me = processTag(process.pid);
  private poller?: NodeJS.Timeout;
  /** This instance's holder file, made at its first claim (again if it was removed meanwhile). */
  private holder?: string;

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
      const holder = (this.holder ??= this.writeHolder());
      for (let k = 0; k < max; k++) {
        if (this.held.has(`${nodeId}/${k}`)) continue;
        const file = path.join(dir, String(k));
        try {
          linkSync(holder, file);
          this.held.add(`${nodeId}/${k}`);
          return k;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // The node's dir does not exist yet, or the holder file was removed (the slots dir with it).
          if (code === 'ENOENT' && attempt === 0) {
            mkdirSync(dir, { recursive: true, mode: 0o700 });
            if (!existsSync(holder)) this.holder = undefined;
            break;
          }
          if (code !== 'EEXIST') throw err;
          // Held by a process that is gone (crashed): the slot is free (another process may reclaim it first).
          if (!holderAlive(file)) {
            rmQuietly(file);
            k--;
          }
        }
      }
    }
    return undefined;
  }

  /**
   * A new holder file naming this process, written under another name and renamed into place (a
   * holder file always has its name in it). Holder files of processes that are gone are removed
   * on the way: a slot linked to one is still a file of its own, and names its dead holder. So are
   * the temp files of processes that died between writing one and renaming it; a temp file may
   * not have its content yet, so the pid in its name tells.
   */
  private writeHolder(): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.dir)) {
      const file = path.join(this.dir, name);
      const tmpPid = /^\.tmp\.holder-(\d+)-/.exec(name)?.[1];
      if (tmpPid ? !tagAlive(tmpPid) : name.startsWith('.holder-') && !holderAlive(file)) rmQuietly(file);
    }
    const name = `.holder-${process.pid}-${randomBytes(6).toString('hex')}`;
    const tmp = path.join(this.dir, `.tmp${name}`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, this.me);
    } finally {
      closeSync(fd);
    }
    const file = path.join(this.dir, name);
    renameSync(tmp, file);
    return file;
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
      rmQuietly(path.join(this.nodeDir(nodeId), String(k)));
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
