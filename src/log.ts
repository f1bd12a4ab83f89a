// Logs go to stderr, always: on stdio the MCP protocol owns stdout.
import { pino } from 'pino';
import { LoggerWithComposedMetadata } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import { clusterflowEnv } from './env.js';

// Long-running entry points log at info; one-shot CLI commands stay quiet unless something is wrong.
const longRunning = ['serve', 'worker'].includes(process.argv[2] ?? '');
const env = clusterflowEnv();
export const log = pino({ level: env.logLevel ?? (longRunning ? 'info' : 'warn'), base: undefined }, pino.destination(2));

let installed = false;
/** Route the Temporal SDK's own logs (worker, core) to stderr through pino, before any worker starts. */
export function installTemporalLogger(): void {
  if (installed) return;
  installed = true;
  const level = env.temporalLogLevel as LogLevel;
  Runtime.install({
    // Signals are ours: serve and worker drain before they exit, `submit` exits 143 on SIGTERM
    // (src/cli/signals.ts). The SDK's own handlers would shut the workers down and leave the
    // process running (a second signal was needed to end `submit`).
    shutdownSignals: [],
    // Core (Rust) logs are forwarded here too: by default they go to stdout, which on stdio
    // belongs to the MCP protocol (and to --json output).
    telemetryOptions: { logging: { forward: {}, filter: { core: level, other: level } } },
    logger: new DefaultLogger(level, (e) => {
      // Node-queue workers run activities only, by design: that warning is noise.
      const expected = e.message.startsWith('No workflows registered');
      const fn = e.level === 'ERROR' ? log.error : e.level === 'WARN' && !expected ? log.warn : log.debug;
      fn.call(log, { ...(e.meta ?? {}), src: 'temporal' }, e.message);
    }),
  });
  // The worker's logger resolves a log's metadata before its level is looked at; for "Got
  // workflow activation" that copies the whole activation, for every activation (~8 ms of
  // serve's CPU per 300-command fan-out). Below TRACE nothing reads it.
  if (level !== 'TRACE') LoggerWithComposedMetadata.prototype.trace = () => undefined;
}
