// SIGINT and SIGTERM, in one place. By default they end the process at once with 130 / 143 (a
// waiting `submit` or `logs -f` stops waiting; the task goes on). Long-running commands (serve,
// worker) install a graceful handler instead: the first signal drains, a second one exits now.
const CODES: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

let graceful: ((signal: 'SIGINT' | 'SIGTERM') => void) | undefined;
let signalled = false;

export function installSignalHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (graceful && !signalled) {
        signalled = true;
        graceful(signal);
        return;
      }
      process.exit(CODES[signal]);
    });
  }
}

/** The first SIGINT/SIGTERM calls `handler` instead of exiting; a second one exits at once. */
export function onTerminate(handler: (signal: 'SIGINT' | 'SIGTERM') => void): void {
  graceful = handler;
}

/** The exit code that says which signal ended the process. */
export const exitCodeOf = (signal: 'SIGINT' | 'SIGTERM'): number => CODES[signal];
