// Final results the moment this process has them: a command's from its runCommand attempt or
// the fast path, a fan-out's batch by batch. The workflow records the same results a few ms
// later; a caller waiting in this process (serve) answers from here instead of long-polling.
import { EventEmitter } from 'node:events';
import type { CommandResult } from '../shared.js';

/** Recent results kept for task_status (the moments before the workflow records them): at least this many, at most twice. */
const RECENT_MAX = 2000;
/** Fan-outs whose finished commands are counted for progress (the newest ones). */
const FANOUTS_MAX = 32;

export class ResultBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  /**
   * Two generations: a full one becomes the old one, and the old one is dropped. Evicting one by
   * one from a Map's front is O(deleted entries) per step in V8 until it rehashes: in a fan-out
   * profile that was most of this class's time.
   */
  private recentById = new Map<string, CommandResult>();
  private olderById = new Map<string, CommandResult>();
  /** Fan-out id → its commands with a result so far (progress per command, before the batch reports). */
  private readonly doneByFanout = new Map<string, Set<string>>();

  /** A command's final result. */
  publish(result: CommandResult): void {
    this.keep(result);
    this.emitter.emit(result.task_id, result);
  }

  /** Results of some commands of fan-out `parentId` (a batch that ended). */
  publishBatch(parentId: string, results: CommandResult[]): void {
    // Each was published as it ended, normally: kept once.
    for (const r of results) if (this.recentById.get(r.task_id) !== r) this.keep(r);
    this.emitter.emit(`batch:${parentId}`, results);
  }

  /** Commands of fan-out `parentId` this process has seen end. */
  doneCount(parentId: string): number {
    return this.doneByFanout.get(parentId)?.size ?? 0;
  }

  /** The result of a command this process ran lately, if it still has it. */
  recent(taskId: string): CommandResult | undefined {
    return this.recentById.get(taskId) ?? this.olderById.get(taskId);
  }

  private keep(result: CommandResult): void {
    const slash = result.task_id.indexOf('/');
    if (slash > 0) {
      const parent = result.task_id.slice(0, slash);
      let done = this.doneByFanout.get(parent);
      if (!done) {
        done = new Set();
        this.doneByFanout.set(parent, done);
        if (this.doneByFanout.size > FANOUTS_MAX) this.doneByFanout.delete(this.doneByFanout.keys().next().value!);
      }
      done.add(result.task_id);
    }
    this.recentById.set(result.task_id, result);
    if (this.recentById.size >= RECENT_MAX) {
      this.olderById = this.recentById;
      this.recentById = new Map();
    }
  }

  /** Call `fn` with task `taskId`'s result when it comes; returns the unsubscribe. */
  onResult(taskId: string, fn: (result: CommandResult) => void): () => void {
    this.emitter.on(taskId, fn);
    return () => this.emitter.off(taskId, fn);
  }

  /** Call `fn` with each batch of fan-out `parentId`'s results as it comes; returns the unsubscribe. */
  onBatch(parentId: string, fn: (results: CommandResult[]) => void): () => void {
    const event = `batch:${parentId}`;
    this.emitter.on(event, fn);
    return () => this.emitter.off(event, fn);
  }
}
