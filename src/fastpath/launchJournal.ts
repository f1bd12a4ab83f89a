// The launch journal: what lets the fast path run a command before its workflow exists.
//
// A command must never run without a durable record of it. The gated launch waits for
// StartWorkflowExecution (~5-10 ms, and Temporal's CPU competes with the command's); instead,
// the intent (task id and workflow input) is appended here and synced (~0.15 ms, while the
// exec opens), the command runs, and the workflow is started once the command answered (or
// after a short while). `settle` marks it started. A process that dies with intents still open
// leaves its file behind; recovery.ts starts their workflows (after claiming any run that had
// not begun, so it never starts late) from the next serve of this state dir.
//
// One file per process, named after it (processTag: pid and start time), JSON lines:
//   {"open":{"taskId":...,"spec":{...}}}   a launch may run from here on
//   {"done":"<taskId>"}                     its workflow exists
import { closeSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { log } from '../log.js';
import { processTag, rmQuietly, tagAlive } from '../runtime/processTag.js';
import type { CommandSpec, ParallelSpec } from '../shared.js';

/** A command's or (kind parallel) a fan-out's: its task id and workflow input, exactly as the start will send it. */
export type LaunchIntent = { taskId: string; kind?: undefined; spec: CommandSpec } | { taskId: string; kind: 'parallel'; spec: ParallelSpec };

/** Past this many lines with nothing open, the file starts over (it only needs the open intents). */
const COMPACT_AFTER_LINES = 2000;
const FILE_NAME = /^(\d+)-(\d+|-)(\.[a-z0-9.-]+)?\.jsonl$/;

export class LaunchJournal {
  readonly file: string;
  private fd: number | undefined;
  private readonly open = new Set<string>();
  private lines = 0;

  constructor(readonly dir: string) {
    this.file = path.join(dir, `${processTag(process.pid).replace(' ', '-')}.jsonl`);
  }

  /** Intents recorded and not yet settled. */
  get openCount(): number {
    return this.open.size;
  }

  /** Resolves true once the intent is on disk, false when it could not be written (the caller then waits for the start). */
  record(intent: LaunchIntent): Promise<boolean> {
    let fd: number;
    try {
      fd = this.fd ??= openJournal(this.dir, this.file);
      writeSync(fd, `${JSON.stringify({ open: intent })}\n`);
    } catch (err) {
      log.warn({ err: String(err), file: this.file }, 'launch journal not writable: commands wait for their workflow');
      return Promise.resolve(false);
    }
    this.open.add(intent.taskId);
    this.lines++;
    return new Promise((resolve) =>
      fdatasync(fd, (err) => {
        if (err) log.warn({ err: String(err), file: this.file }, 'launch journal sync failed');
        resolve(!err);
      }),
    );
  }

  /** The intent's workflow exists. Not synced: a lost "done" only makes recovery start it again, which finds it started. */
  settle(taskId: string): void {
    if (!this.open.delete(taskId) || this.fd === undefined) return;
    try {
      if (this.open.size === 0 && this.lines >= COMPACT_AFTER_LINES) {
        ftruncateSync(this.fd, 0);
        this.lines = 0;
      } else {
        writeSync(this.fd, `${JSON.stringify({ done: taskId })}\n`);
        this.lines++;
      }
    } catch (err) {
      log.warn({ err: String(err), file: this.file }, 'launch journal: could not mark a start');
    }
  }

  /** At shutdown: the file goes when nothing is open; otherwise it stays for recovery. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    if (this.open.size === 0) rmQuietly(this.file);
  }
}

/**
 * The gate a head start's launch waits at, for a command (fastPath.ts) or a fan-out's batches
 * (fanoutHeadStart.ts): the intent's journal record when a journal is given (or the start after
 * all, when that record could not be written), else the workflow's start.
 */
export class LaunchGate {
  /** Opens (true) when the launch may run; false: never (the start failed). */
  readonly open: Promise<boolean>;
  /** The start's outcome, as `decide` tells it. */
  readonly started: Promise<boolean>;
  private decided: (ok: boolean) => void = () => undefined;
  private readonly recorded?: Promise<boolean>;

  constructor(
    private readonly journal: LaunchJournal | undefined,
    private readonly intent: LaunchIntent,
  ) {
    this.started = new Promise<boolean>((resolve) => {
      this.decided = resolve;
    });
    this.recorded = journal?.record(intent);
    this.open = this.recorded ? this.recorded.then((ok) => ok || this.started) : this.started;
  }

  /** The launch runs on its journal record: its workflow is started after it (startAfter), not before. */
  get journaled(): boolean {
    return this.recorded !== undefined;
  }

  /** When a journaled start may go: once `answered` settles, or at once if the record could not be written. */
  startAfter(answered: Promise<unknown>): Promise<unknown> {
    return Promise.race([answered, this.recorded!.then((ok) => (ok ? new Promise(() => undefined) : undefined))]);
  }

  /** The workflow started (its journal record is settled) or its start failed. */
  decide(ok: boolean): void {
    this.decided(ok);
    if (ok) this.journal?.settle(this.intent.taskId);
  }
}

function openJournal(dir: string, file: string): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // O_APPEND: each line is one write at the end, whatever else holds the file.
  const fd = openSync(file, 'a', 0o600);
  // The new file's name is on disk too (once per process), or a crash could lose it whole.
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  return fd;
}

/** The intents of a journal file that were never settled, in order. A torn last line (a crash mid-write) is skipped. */
export function openIntents(file: string): LaunchIntent[] {
  const open = new Map<string, LaunchIntent>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    let entry: { open?: LaunchIntent; done?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.open?.taskId) open.set(entry.open.taskId, entry.open);
    else if (typeof entry.done === 'string') open.delete(entry.done);
  }
  return [...open.values()];
}

/**
 * Journal files to recover: those of processes that are gone, and this process's own takeovers
 * that still hold intents (recovery.ts: a node was down, Temporal failed).
 */
export function journalsToRecover(journal: LaunchJournal): string[] {
  let names: string[];
  try {
    names = readdirSync(journal.dir);
  } catch {
    return [];
  }
  const own = path.basename(journal.file);
  return names
    .filter((name) => {
      const m = FILE_NAME.exec(name);
      if (!m || name === own) return false;
      return own.startsWith(`${m[1]}-${m[2]}.`) || !tagAlive(`${m[1]} ${m[2]}`);
    })
    .map((name) => path.join(journal.dir, name));
}
