// Full stdout/stderr of every task, kept in the state dir; results carry only head + tail, so no
// Temporal payload ever nears its 2 MiB limit, while task_output can page through everything.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { RESULT_STREAM_CAP } from '../shared.js';

export type StreamName = 'stdout' | 'stderr';

/** Writes one stream to its file and keeps the first and last RESULT_STREAM_CAP/2 bytes in memory. */
export class StreamCapture {
  private fd: number;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  bytes = 0;

  constructor(file: string, private readonly half = RESULT_STREAM_CAP / 2) {
    this.fd = openSync(file, 'w', 0o600);
  }

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
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
    if (!this.truncated) return Buffer.concat([head, tail]).toString('utf8');
    tail = tail.subarray(tail.length - this.half);
    const skipped = this.bytes - head.length - tail.length;
    return `${head.toString('utf8')}\n[... ${skipped} bytes omitted; read them with task_output ...]\n${tail.toString('utf8')}`;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export interface OutputPage {
  task_id: string;
  stream: StreamName;
  offset: number;
  next_offset: number;
  total_bytes: number;
  eof: boolean;
  data: string;
  encoding: 'utf8' | 'base64';
}

export class OutputStore {
  constructor(readonly root: string) {}

  dir(taskId: string): string {
    return path.join(this.root, safeId(taskId));
  }

  /** `cap`: bytes of each stream kept for the result (fan-outs give each command a share). */
  open(taskId: string, cap = RESULT_STREAM_CAP): { stdout: StreamCapture; stderr: StreamCapture } {
    const dir = this.dir(taskId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const half = Math.max(0, Math.floor(cap / 2));
    return { stdout: new StreamCapture(path.join(dir, 'stdout'), half), stderr: new StreamCapture(path.join(dir, 'stderr'), half) };
  }

  /** The result of a command run inside a fan-out batch (no workflow of its own to ask). */
  saveResult(taskId: string, result: object): void {
    const dir = this.dir(taskId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dir, 'result.json'), JSON.stringify(result));
  }

  loadResult<T>(taskId: string): T | null {
    try {
      return JSON.parse(readFileSync(path.join(this.dir(taskId), 'result.json'), 'utf8')) as T;
    } catch {
      return null;
    }
  }

  hasResult(taskId: string): boolean {
    return existsSync(path.join(this.dir(taskId), 'result.json'));
  }

  has(taskId: string): boolean {
    return existsSync(this.dir(taskId));
  }

  /**
   * One page of a stream. Pages end on a UTF-8 character boundary so text pages can be joined;
   * binary output is returned as base64 (the caller asks for it).
   */
  read(taskId: string, stream: StreamName, offset: number, limit: number, encoding: 'utf8' | 'base64' = 'utf8'): OutputPage {
    const file = path.join(this.dir(taskId), stream);
    if (!existsSync(file)) throw new Error(`no ${stream} stored for task ${taskId}`);
    const fd = openSync(file, 'r');
    try {
      const total = fstatSync(fd).size;
      const start = Math.min(Math.max(0, offset), total);
      const buf = Buffer.alloc(Math.min(limit, total - start));
      const n = readSync(fd, buf, 0, buf.length, start);
      let end = n;
      if (encoding === 'utf8' && start + n < total) end = utf8Boundary(buf, n);
      return {
        task_id: taskId, stream, offset: start, next_offset: start + end, total_bytes: total,
        eof: start + end >= total, data: buf.subarray(0, end).toString(encoding), encoding,
      };
    } finally {
      closeSync(fd);
    }
  }
}

/** Largest length ≤ n that does not cut a UTF-8 sequence in half. */
function utf8Boundary(buf: Buffer, n: number): number {
  let i = n;
  // Step back over continuation bytes (10xxxxxx) to the lead byte of the last character.
  while (i > 0 && i > n - 4 && (buf[i - 1]! & 0xc0) === 0x80) i--;
  if (i === 0) return n;
  const lead = buf[i - 1]!;
  const len = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return i - 1 + len <= n ? n : i - 1;
}

function safeId(taskId: string): string {
  if (!/^[A-Za-z0-9._\/-]+$/.test(taskId) || taskId.includes('..')) throw new Error(`invalid task id: ${taskId}`);
  return taskId.replace(/\//g, '__');
}
