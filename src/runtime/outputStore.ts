// Full stdout/stderr of every task, kept in the state dir; results carry only head + tail, so no
// Temporal payload ever nears its 2 MiB limit, while task_output can page through everything.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { log } from '../log.js';
import { RESULT_STREAM_CAP } from '../shared.js';
import { DEFAULT_MAX_OUTPUT, StreamCapture } from './streamCapture.js';

export type StreamName = 'stdout' | 'stderr';

export interface OutputPage {
  task_id: string;
  stream: StreamName;
  offset: number;
  next_offset: number;
  total_bytes: number;
  eof: boolean;
  data: string;
  encoding: 'utf8' | 'base64';
  /** Read from the node while the command runs: the stream may still grow past total_bytes. */
  running?: boolean;
}

/**
 * Layout under root: a task T keeps T/stdout, T/stderr, T/result.json; command i of fan-out P
 * keeps P/i.stdout and P/i.stderr, and its result is a line "i<TAB><json>" of P/results.jsonl
 * (one directory and one appended file per fan-out: creating files is what costs here).
 */
export class OutputStore {
  /** Directories known to exist: mkdir is a syscall per call even when there is nothing to do. */
  private made = new Set<string>();
  /** Open results.jsonl files (O_APPEND: whole lines per write, so writers never interleave). */
  private logs = new Map<string, number>();
  /**
   * Results not yet on disk, by file: a result.json's text, or results.jsonl lines. They are
   * written once the current turn of the event loop is done (setImmediate), after the answer
   * that a result ends has gone out, and a fan-out's results that ended together in one write.
   * Every read here writes them first. A crash meanwhile loses only this copy: the workflow
   * has the result (a batch reports its commands' results again when it is retried).
   */
  private pendingJson = new Map<string, { dir: string; text: string }>();
  private pendingLines = new Map<string, { dir: string; lines: string[] }>();
  private flushing: NodeJS.Immediate | undefined;

  /** root, normalised, with a trailing slash. */
  private readonly base: string;

  /** `maxBytes`: bytes stored per stream and task (CLUSTERFLOW_MAX_OUTPUT). */
  constructor(
    readonly root: string,
    readonly maxBytes = DEFAULT_MAX_OUTPUT,
  ) {
    this.base = path.join(path.resolve(root), '/');
  }

  private files(taskId: string): { dir: string; sub: string; stdout: string; stderr: string; result: string } {
    const id = safeId(taskId);
    const slash = id.indexOf('/');
    // Plain concatenation, not path.join: twice per command of a fan-out, and safeId leaves nothing to normalise.
    const dir = `${this.base}${slash < 0 ? id : id.slice(0, slash)}`;
    const sub = slash < 0 ? '' : id.slice(slash + 1).replace(/\//g, '__');
    const prefix = sub ? `${sub}.` : '';
    return {
      dir,
      sub,
      stdout: `${dir}/${prefix}stdout`,
      stderr: `${dir}/${prefix}stderr`,
      result: `${dir}/${sub ? 'results.jsonl' : 'result.json'}`,
    };
  }

  private ensureDir(dir: string): void {
    if (this.made.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (this.made.size > 10_000) this.made.clear();
    this.made.add(dir);
  }

  /** `cap`: bytes of each stream kept for the result (fan-outs give each command a share). */
  open(taskId: string, cap = RESULT_STREAM_CAP): { stdout: StreamCapture; stderr: StreamCapture } {
    const f = this.files(taskId);
    const half = Math.max(0, Math.floor(cap / 2));
    const ensure = () => this.ensureDir(f.dir);
    return { stdout: new StreamCapture(f.stdout, half, ensure, this.maxBytes), stderr: new StreamCapture(f.stderr, half, ensure, this.maxBytes) };
  }

  /** Every task's result, also of a command run inside a fan-out batch (no workflow of its own to ask). Written soon (see pendingJson). */
  saveResult(taskId: string, result: object): void {
    const f = this.files(taskId);
    if (!f.sub) {
      this.pendingJson.set(f.result, { dir: f.dir, text: JSON.stringify(result) });
    } else {
      const pending = this.pendingLines.get(f.result);
      const line = `${f.sub}\t${JSON.stringify(result)}\n`;
      if (pending) pending.lines.push(line);
      else this.pendingLines.set(f.result, { dir: f.dir, lines: [line] });
    }
    this.flushing ??= setImmediate(() => this.flush());
  }

  /** Writes the results saveResult keeps for now (at once, also before any read here and at shutdown). */
  flush(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    const json = [...this.pendingJson];
    const lines = [...this.pendingLines];
    this.pendingJson.clear();
    this.pendingLines.clear();
    for (const [file, { dir, text }] of json) this.write(dir, () => writeFileSync(file, text, { mode: 0o600 }));
    for (const [file, { dir, lines: l }] of lines) this.write(dir, () => writeSync(this.logFd(file), l.join('')));
  }

  /**
   * One write of flush, after this store made its dir; once more after making it again (the dir
   * was removed meanwhile, e.g. by hand). Never throws: flush runs on its own turn, where a throw
   * would end the process, and the workflow has every result anyway.
   */
  private write(dir: string, fn: () => void): void {
    for (let tries = 0; ; tries++) {
      try {
        this.ensureDir(dir);
        fn();
        return;
      } catch (err) {
        this.made.delete(dir);
        if (tries > 0) {
          log.warn({ dir, err: String(err) }, 'could not store a result in the output dir');
          return;
        }
      }
    }
  }

  /** A fan-out's open results.jsonl (O_APPEND). */
  private logFd(file: string): number {
    let fd = this.logs.get(file);
    if (fd === undefined) {
      // A few fan-outs at a time: close the oldest file beyond that.
      if (this.logs.size >= 32) {
        const [oldest, oldFd] = this.logs.entries().next().value as [string, number];
        closeSync(oldFd);
        this.logs.delete(oldest);
      }
      fd = openSync(file, 'a', 0o600);
      this.logs.set(file, fd);
    }
    return fd;
  }

  loadResult<T>(taskId: string): T | null {
    this.flush();
    const f = this.files(taskId);
    try {
      if (!f.sub) return JSON.parse(readFileSync(f.result, 'utf8')) as T;
      // The last line wins: a retried batch may report a command again (the same outcome).
      const lines = readFileSync(f.result, 'utf8').split('\n');
      for (let k = lines.length - 1; k >= 0; k--) {
        if (lines[k]!.startsWith(`${f.sub}\t`)) return JSON.parse(lines[k]!.slice(f.sub.length + 1)) as T;
      }
      return null;
    } catch {
      return null;
    }
  }

  /** Every stored result of fan-out parentId, by task id (the latest line of each wins). */
  loadFanoutResults<T>(parentId: string): Map<string, T> {
    return new Map(this.resultLines(parentId).map(([sub, json]) => [`${parentId}/${sub}`, JSON.parse(json) as T]));
  }

  /** Commands of fan-out parentId with a stored result (without parsing them). */
  countResults(parentId: string): number {
    return new Set(this.resultLines(parentId).map(([sub]) => sub)).size;
  }

  /** The lines of fan-out parentId's results.jsonl as [command index, result JSON], in order. */
  private resultLines(parentId: string): Array<[string, string]> {
    this.flush();
    let text: string;
    try {
      text = readFileSync(this.files(`${parentId}/0`).result, 'utf8');
    } catch {
      return [];
    }
    const out: Array<[string, string]> = [];
    for (const line of text.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) out.push([line.slice(0, tab), line.slice(tab + 1)]);
    }
    return out;
  }

  /** Output (or a result) is stored for the task. */
  has(taskId: string): boolean {
    this.flush();
    const f = this.files(taskId);
    return (f.sub ? this.loadResult(taskId) !== null : existsSync(f.result)) || existsSync(f.stdout) || existsSync(f.stderr);
  }

  /**
   * One page of a stream. Pages end on a UTF-8 character boundary so text pages can be joined;
   * binary output is returned as base64 (the caller asks for it).
   */
  read(taskId: string, stream: StreamName, offset: number, limit: number, encoding: 'utf8' | 'base64' = 'utf8'): OutputPage {
    this.flush();
    const f = this.files(taskId);
    const file = f[stream];
    if (!existsSync(file)) {
      // A finished command that printed nothing on this stream has no file.
      if (f.sub ? this.loadResult(taskId) !== null : existsSync(f.result))
        return { task_id: taskId, stream, offset: 0, next_offset: 0, total_bytes: 0, eof: true, data: '', encoding };
      throw new Error(`no ${stream} stored for task ${taskId}`);
    }
    const fd = openSync(file, 'r');
    try {
      const total = fstatSync(fd).size;
      const start = Math.min(Math.max(0, offset), total);
      const buf = Buffer.alloc(Math.min(limit, total - start));
      const n = readSync(fd, buf, 0, buf.length, start);
      let end = n;
      if (encoding === 'utf8' && start + n < total) end = utf8Boundary(buf, n);
      return {
        task_id: taskId,
        stream,
        offset: start,
        next_offset: start + end,
        total_bytes: total,
        eof: start + end >= total,
        data: buf.subarray(0, end).toString(encoding),
        encoding,
      };
    } finally {
      closeSync(fd);
    }
  }
}

/** Largest length ≤ n that does not cut a UTF-8 sequence in half. */
export function utf8Boundary(buf: Buffer, n: number): number {
  let i = n;
  // Step back over continuation bytes (10xxxxxx) to the lead byte of the last character.
  while (i > 0 && i > n - 4 && (buf[i - 1]! & 0xc0) === 0x80) i--;
  if (i === 0) return n;
  const lead = buf[i - 1]!;
  const len = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return i - 1 + len <= n ? n : i - 1;
}

function safeId(taskId: string): string {
  // Segments start with a letter or digit: no "", ".", ".." or hidden names in a path.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(taskId)) throw new Error(`invalid task id: ${taskId}`);
  return taskId;
}
