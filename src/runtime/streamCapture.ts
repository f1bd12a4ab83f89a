// One stream of a running command as it comes: written to its file in the state dir (up to the
// per-task cap), its head and tail kept in memory for the result. Used by OutputStore.open.
import { closeSync, openSync, writeSync } from 'node:fs';
import { RESULT_STREAM_CAP } from '../shared.js';

/** Bytes of each stream stored per task (CLUSTERFLOW_MAX_OUTPUT): the rest is dropped, and the result says so. */
export const DEFAULT_MAX_OUTPUT = 256 * 1024 * 1024;

/**
 * Writes one stream to its file (up to `maxBytes`, the rest dropped: `capped`) and keeps the
 * first and last RESULT_STREAM_CAP/2 bytes in memory. The file is created on the first byte:
 * most commands of a fan-out print nothing, and file creation is most of what storing a short
 * command's output costs.
 */
export class StreamCapture {
  private fd = -1;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Bytes stored. */
  bytes = 0;
  /** More came than maxBytes: the rest was dropped. */
  capped = false;

  constructor(
    private readonly file: string,
    private readonly half = RESULT_STREAM_CAP / 2,
    private readonly ensureDir: () => void = () => undefined,
    private readonly maxBytes = DEFAULT_MAX_OUTPUT,
  ) {}

  write(data: Buffer): void {
    const room = this.maxBytes - this.bytes;
    if (data.length > room) this.capped = true;
    const chunk = data.length > room ? data.subarray(0, Math.max(0, room)) : data;
    if (chunk.length === 0) return;
    if (this.fd < 0) {
      this.ensureDir();
      this.fd = openSync(this.file, 'w', 0o600);
    }
    writeSync(this.fd, chunk);
    this.bytes += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.half) {
      const take = rest.subarray(0, this.half - this.headBytes);
      this.head.push(take);
      this.headBytes += take.length;
      rest = rest.subarray(take.length);
    }
    if (rest.length === 0) return;
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Drop whole chunks from the front while the rest still covers the tail window.
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= this.half) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  get truncated(): boolean {
    return this.bytes > this.headBytes + Math.min(this.tailBytes, this.half);
  }

  /** Head + tail as text; when bytes were left out, a marker says how many and where the rest is. */
  text(): string {
    const head = Buffer.concat(this.head);
    let tail = Buffer.concat(this.tail);
    const cappedNote = this.capped ? `\n[... output capped at ${this.maxBytes} bytes (CLUSTERFLOW_MAX_OUTPUT): the rest was not stored ...]\n` : '';
    if (!this.truncated) return Buffer.concat([head, tail]).toString('utf8') + cappedNote;
    tail = tail.subarray(tail.length - this.half);
    const skipped = this.bytes - head.length - tail.length;
    return `${head.toString('utf8')}\n[... ${skipped} bytes omitted; read them with task_output ...]\n${tail.toString('utf8')}${cappedNote}`;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
