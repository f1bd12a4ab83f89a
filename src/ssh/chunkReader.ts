// Reading a chunk's two streams (framing: detachedRun.ts): each run's output and outcome as soon
// as both of its end frames are in.
import type { RunOutput, RunState } from './detachedRun.js';

export interface ChunkEvents {
  /** Run i started (its S frame). */
  onStart?: (i: number) => void;
  /**
   * Output of run i as it arrives. With this handler the reader keeps none of it: the run's
   * stdout/stderr in onRun are empty (memory stays flat whatever a command prints).
   */
  onData?: (i: number, stream: 'stdout' | 'stderr', data: Buffer) => void;
  /** Run i's output and outcome are complete (both E frames). */
  onRun?: (i: number, run: RunOutput) => void;
}

const END_RE = /^E (\d+) st=(done|killed|lost|skipped) rc=(-|\d+) sig=(-|SIG[A-Z0-9]+) re=([01]) cap=([01])$/;

/**
 * Reads a chunk's two streams as they arrive and reports each run when it is complete.
 * Bytes before a run's E frame belong to that run; bytes before any frame (a message from
 * the login shell, e.g. "bash not found") are kept as the preamble.
 */
export class ChunkReader {
  readonly runs: Array<RunOutput | undefined>;
  private readonly marker: Buffer;
  private readonly streams = {
    stdout: { pending: Buffer.alloc(0), ended: 0, parts: [] as Buffer[][] },
    stderr: { pending: Buffer.alloc(0), ended: 0, parts: [] as Buffer[][] },
  };
  private readonly trailers: Array<Pick<RunOutput, 'state' | 'returnCode' | 'signal' | 'reattached' | 'capped'> | undefined>;
  private stdoutEnded: boolean[];

  constructor(
    nonce: string,
    readonly count: number,
    private readonly events: ChunkEvents = {},
  ) {
    this.marker = Buffer.from(`\x1e${nonce} `);
    this.runs = new Array(count).fill(undefined);
    this.trailers = new Array(count).fill(undefined);
    this.stdoutEnded = new Array(count).fill(false);
    for (const s of Object.values(this.streams)) s.parts = Array.from({ length: count + 1 }, () => []);
  }

  push(name: 'stdout' | 'stderr', data: Buffer): void {
    const s = this.streams[name];
    let buf = s.pending.length ? Buffer.concat([s.pending, data]) : data;
    for (;;) {
      const at = buf.indexOf(this.marker);
      if (at < 0) {
        // Keep a tail that may be the start of a marker split across packets.
        const keep = Math.min(buf.length, this.marker.length - 1);
        const cut = buf.length - keep;
        let safe = buf.length;
        for (let k = cut; k < buf.length; k++)
          if (buf[k] === 0x1e) {
            safe = k;
            break;
          }
        if (safe > 0) this.content(name, buf.subarray(0, safe));
        s.pending = Buffer.from(buf.subarray(safe));
        return;
      }
      const nl = buf.indexOf(0x0a, at);
      if (nl < 0) {
        if (at > 0) this.content(name, buf.subarray(0, at));
        s.pending = Buffer.from(buf.subarray(at));
        return;
      }
      if (at > 0) this.content(name, buf.subarray(0, at));
      this.frame(name, buf.subarray(at + this.marker.length, nl).toString('latin1'));
      buf = buf.subarray(nl + 1);
    }
  }

  /** Bytes no run claimed: before the first frame, or after the last (on either stream). */
  preamble(name: 'stdout' | 'stderr'): Buffer {
    const s = this.streams[name];
    return Buffer.concat([...(s.parts[Math.min(s.ended, this.count)] ?? []), s.pending]);
  }

  private content(name: 'stdout' | 'stderr', b: Buffer): void {
    const s = this.streams[name];
    if (this.events.onData && s.ended < this.count) return this.events.onData(s.ended, name, Buffer.from(b));
    s.parts[Math.min(s.ended, this.count)]!.push(Buffer.from(b));
  }

  private frame(name: 'stdout' | 'stderr', line: string): void {
    const s = this.streams[name];
    if (name === 'stdout') {
      const start = /^S (\d+)$/.exec(line);
      if (start) {
        this.events.onStart?.(Number(start[1]));
        return;
      }
      if (line === `E ${s.ended}` && s.ended < this.count) {
        this.stdoutEnded[s.ended] = true;
        this.complete(s.ended++);
      }
      return;
    }
    const m = END_RE.exec(line);
    if (!m || Number(m[1]) !== s.ended || s.ended >= this.count) return;
    this.trailers[s.ended] = {
      state: m[2] as RunState,
      returnCode: m[3] === '-' ? null : Number(m[3]),
      signal: m[4] === '-' ? null : m[4]!,
      reattached: m[5] === '1',
      capped: m[6] === '1',
    };
    this.complete(s.ended++);
  }

  private complete(i: number): void {
    const t = this.trailers[i];
    if (!t || !this.stdoutEnded[i]) return;
    const run: RunOutput = { ...t, stdout: Buffer.concat(this.streams.stdout.parts[i]!), stderr: Buffer.concat(this.streams.stderr.parts[i]!) };
    this.streams.stdout.parts[i] = [];
    this.streams.stderr.parts[i] = [];
    this.runs[i] = run;
    this.events.onRun?.(i, run);
  }
}

/** Parse a whole chunk's output at once (tests, tools). Runs without frames come back lost. */
export function parseChunkOutput(nonce: string, count: number, stdout: Buffer, stderr: Buffer): RunOutput[] {
  const r = new ChunkReader(nonce, count);
  r.push('stdout', stdout);
  r.push('stderr', stderr);
  return r.runs.map(
    (run) => run ?? { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), state: 'lost', returnCode: null, signal: null, reattached: false, capped: false },
  );
}
