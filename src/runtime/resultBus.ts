// Final results the moment this process has them: a command's from its runCommand attempt or
// the fast path, a fan-out's batch by batch. The workflow records the same results a few ms
// later; a caller waiting in this process (serve) answers from here instead of long-polling.
import { EventEmitter } from 'node:events';
import type { CommandResult } from '../shared.js';

export class ResultBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  /** A command's final result. */
  publish(result: CommandResult): void {
    this.emitter.emit(result.task_id, result);
  }

  /** Results of some commands of fan-out `parentId` (a batch that ended). */
  publishBatch(parentId: string, results: CommandResult[]): void {
    this.emitter.emit(`batch:${parentId}`, results);
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
