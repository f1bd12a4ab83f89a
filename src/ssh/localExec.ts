// The local node's transport: runs a script with `sh -c` and the same contract as
// SshPool.exec, so the detached-run scripts work unchanged on this machine.

import { spawn } from 'node:child_process';
import { ExecAbortedError, SshError } from './errors.js';
import type { ExecHandlers, ExecResult, StdinSink } from './pool.js';

export function localExec(command: string, h: ExecHandlers = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (h.signal?.aborted) return reject(new ExecAbortedError(h.signal.reason));
    const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
    // As over SSH: h.stdin or h.feed, then EOF (at once without either).
    child.stdin.on('error', () => undefined); // EPIPE: the script is gone, its exit says why
    if (h.stdin)
      h.stdin.then(
        (data) => child.stdin.end(data),
        () => child.stdin.end(),
      );
    else if (h.feed) {
      const sink: StdinSink = {
        write: (data) =>
          new Promise<void>((resolve, reject) => {
            if (child.stdin.destroyed || child.stdin.writableEnded)
              return reject(new SshError('node local: the script stopped reading its input', 'lost', true, 'local'));
            if (child.stdin.write(data)) return resolve();
            const onClose = () => reject(new SshError('node local: the script stopped reading its input', 'lost', true, 'local'));
            child.stdin.once('close', onClose);
            child.stdin.once('drain', () => {
              child.stdin.off('close', onClose);
              resolve();
            });
          }),
      };
      h.feed(sink).then(
        () => child.stdin.end(),
        () => child.stdin.end(),
      );
    } else child.stdin.end();
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      h.signal?.removeEventListener('abort', onAbort);
      settle();
    };
    // Like closing an SSH channel: the pipes close, so the script dies on its next write (after
    // recording the exit code of the command it waits for); the detached group stays.
    const onAbort = () => {
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
      finish(() => reject(new ExecAbortedError(h.signal?.reason)));
    };
    h.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => !settled && h.onStdout?.(chunk));
    child.stderr.on('data', (chunk: Buffer) => !settled && h.onStderr?.(chunk));
    child.on('error', (err) => finish(() => reject(new SshError(`node local: cannot run sh (${err.message})`, 'channel', true, 'local', { cause: err }))));
    // 'close' (not 'exit') fires after both pipes are drained: no output is lost.
    child.on('close', (code, signal) => finish(() => resolve({ code, signal })));
  });
}
