// The `temporal` CLI behind the embedded dev server: the arguments `server start-dev` gets,
// whether the binary is there at all, and what its log says when it did not come up. Apart
// from embedded.ts, which owns the server's lifecycle (state file, lock, start, stop).
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../shared.js';
import { PACKAGE_ROOT, temporalCliPath } from '../paths.js';
import { TemporalSetupError } from './errors.js';

export function serverArgs(dbFile: string, port: number, uiPort: number, codecPort: number): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--db-filename',
    dbFile,
    '--log-level',
    'warn',
    '--ui-disable-news-fetch',
    // The UI decodes payloads through serve's codec endpoint (security/codecServer.ts).
    '--ui-codec-endpoint',
    `http://127.0.0.1:${codecPort}/codec`,
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    // No calls home: this server only ever talks to loopback.
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    '--dynamic-config-value',
    'system.enableEagerWorkflowStart=true',
    // The dev server has one history shard, whose transfer queue (activity and workflow
    // tasks on their way to matching) is read at most 20 times a second by default: past a
    // burst of ~10 back-to-back commands every task waits for the next 50 ms read slot
    // (~100 ms per command instead of ~45). Reads are driven by new-task notifications, so
    // a higher cap costs nothing when idle.
    '--dynamic-config-value',
    'history.transferProcessorMaxPollRPS=1000',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
  ];
}

/**
 * The `temporal` CLI must exist before we spawn it through sh (which would only leave "not
 * found" in a log nobody reads): name the variable, where we looked, and the fix.
 */
export function checkTemporalCli(env: NodeJS.ProcessEnv = process.env): void {
  const cli = temporalCliPath(env);
  const fix =
    'fix: run scripts/setup.sh (installs it into .tools/temporal), set TEMPORAL_CLI to a temporal binary, or set TEMPORAL_ADDRESS to use a running server';
  const runnable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cli.includes('/')) {
    if (runnable(cli)) return;
    const what = existsSync(cli) ? 'is not an executable file' : 'does not exist';
    throw new TemporalSetupError(env.TEMPORAL_CLI ? `TEMPORAL_CLI=${cli} ${what}; ${fix}` : `the temporal CLI ${cli} ${what}; ${fix}`);
  }
  const dirs = (env.PATH ?? '').split(':').filter(Boolean);
  if (dirs.some((d) => runnable(path.join(d, cli)))) return;
  throw new TemporalSetupError(
    env.TEMPORAL_CLI
      ? `TEMPORAL_CLI=${cli} is not on PATH; ${fix}`
      : `the temporal CLI is not installed (looked in ${path.join(PACKAGE_ROOT, '.tools', 'temporal', 'bin')} and on PATH); ${fix}`,
  );
}

/**
 * The server's own words for why it stopped, from what it wrote since `from`: its first
 * error line (a Go panic's stack says nothing useful), else the last non-empty line.
 */
export function serverComplaint(file: string, from: number): string | undefined {
  try {
    const lines = readFileSync(file)
      .subarray(from)
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const error = lines.find((l) => /level=ERROR|^Error:|^panic:/.test(l));
    return (error ?? lines.pop())?.slice(0, 300);
  } catch {
    return undefined;
  }
}
