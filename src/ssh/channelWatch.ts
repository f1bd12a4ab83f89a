// One exec's session channel once open: output to the caller's handlers, the exit status from
// whichever of 'exit' and 'close' says more, stdin given at once or fed with backpressure.
// Apart from connection.ts, which opens channels and owns the connection.
import type { ClientChannel } from 'ssh2';
import { SshError } from './errors.js';
import type { ExecHandlers, ExecResult, StdinSink } from './pool.js';

export function watchChannel(
  ch: ClientChannel,
  h: ExecHandlers,
  nodeId: string,
  settled: () => boolean,
  release: () => void,
  done: (r: ExecResult | SshError) => void,
): void {
  let exit: ExecResult | undefined;
  let closed = false;
  let stderrEnded = false;
  // After an abort the channel drains until closed; that output is no longer the caller's.
  ch.on('data', (chunk: Buffer) => settled() || h.onStdout?.(chunk));
  ch.stderr.on('data', (chunk: Buffer) => settled() || h.onStderr?.(chunk));
  // 'exit' may not fire, and 'close' repeats its arguments: take whichever says more.
  ch.on('exit', (code: number | null, signal?: string) => (exit = { code: code ?? null, signal: signal ?? null }));
  const finish = () => {
    if (!closed || !stderrEnded) return;
    done(exit ?? new SshError(`node ${nodeId}: the session closed without an exit status`, 'lost', true, nodeId));
  };
  ch.stderr.once('end', () => ((stderrEnded = true), finish()));
  ch.once('close', (code?: number | null, signal?: string) => {
    release();
    if (!exit && (typeof code === 'number' || typeof signal === 'string')) exit = { code: code ?? null, signal: signal ?? null };
    closed = true;
    if (ch.stderr.readableEnded) stderrEnded = true;
    finish();
  });
  if (!h.stdin && !h.feed) {
    ch.end(); // no stdin: EOF at once, so nothing waits for input
    return;
  }
  // A connection lost meanwhile fails the exec through its own path; nothing to write to then.
  const end = (data?: string) => {
    if (closed) return;
    try {
      ch.end(data);
    } catch {
      /* connection gone */
    }
  };
  if (h.stdin) return void h.stdin.then(end, () => end());
  const sink: StdinSink = {
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        if (closed) return reject(new SshError(`node ${nodeId}: the command's channel closed while its input was being sent`, 'lost', true, nodeId));
        if (ch.write(data)) return resolve();
        // A channel that closes before it drains must not leave the writer waiting forever.
        const onClose = () => reject(new SshError(`node ${nodeId}: the command's channel closed while its input was being sent`, 'lost', true, nodeId));
        ch.once('close', onClose);
        ch.once('drain', () => {
          ch.off('close', onClose);
          resolve();
        });
      }),
  };
  h.feed!(sink).then(
    () => end(),
    () => end(),
  );
}
