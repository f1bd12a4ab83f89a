// The embedded Temporal dev server: started once per state dir, detached, so tasks survive
// restarts of the MCP server and CLI. Reused while its pid is alive and it answers.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { clusterflowEnv } from '../env.js';
import { temporalCliPath } from '../paths.js';
import { checkTemporalCli, serverArgs, serverComplaint } from './devServerCli.js';
import { TemporalSetupError } from './errors.js';
import { choosePort } from './ports.js';

export interface EmbeddedServer {
  address: string;
  uiUrl: string;
  /** Where serve answers the codec protocol and proxies the UI for the owner (the server's --ui-codec-endpoint). */
  codecPort: number;
  pid: number;
  dbFile: string;
  logFile: string;
  reused: boolean;
}

interface ServerState {
  pid: number;
  port: number;
  uiPort: number;
  codecPort: number;
}

const READY_TIMEOUT_MS = 60_000;

/** Start (or reuse) `temporal server start-dev` for this state dir and wait until it answers. */
export async function ensureEmbeddedServer(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<EmbeddedServer> {
  const dir = path.join(stateDir, 'temporal');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stateFile = path.join(dir, 'server.json');
  const dbFile = path.join(dir, 'temporal.db');
  const logFile = path.join(dir, 'server.log');
  const release = await lock(path.join(dir, 'start.lock'));
  try {
    const prev = readState(stateFile);
    // A server started before the codec existed has no --ui-codec-endpoint: it is restarted below.
    if (prev && prev.codecPort && isAlive(prev.pid) && (await answers(`127.0.0.1:${prev.port}`, 3000))) {
      return describe(prev, dbFile, logFile, true);
    }
    // A restart keeps the previous ports when free, so long-running clients reconnect.
    const cfEnv = clusterflowEnv(env);
    if (prev && isAlive(prev.pid)) await stopPid(prev.pid);
    checkTemporalCli(env);
    let state: ServerState | undefined;
    // A port seen free can be taken before the server binds it (another process picking
    // free ports at the same moment): the server then exits at once saying "address already
    // in use", and a retry on fresh ports fixes it. Ports the user pinned are not moved.
    for (let attempt = 1; ; attempt++) {
      const fresh = attempt > 1 ? undefined : prev;
      const port = await choosePort(cfEnv.temporalPort, fresh?.port, 7233);
      const uiPort = await choosePort(cfEnv.temporalUiPort, fresh?.uiPort, port + 1000);
      const codecPort = await choosePort(cfEnv.codecPort ?? (cfEnv.temporalUiPort === '0' ? '0' : undefined), fresh?.codecPort, uiPort + 1);
      const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
      const started = await startServer(env, serverArgs(dbFile, port, uiPort, codecPort), port, logFile);
      if (typeof started === 'number') {
        state = { pid: started, port, uiPort, codecPort };
        break;
      }
      const said = serverComplaint(logFile, logStart);
      const portsPinned = [cfEnv.temporalPort, cfEnv.temporalUiPort].some((p) => p && p !== '0');
      if (attempt < 3 && !portsPinned && said?.includes('address already in use')) continue;
      throw new TemporalSetupError(
        `cannot start the embedded Temporal server (${temporalCliPath(env)}): ${started.message}${said ? `; its log says: ${said}` : ''} (${logFile}); ` +
          'fix: run scripts/setup.sh, set TEMPORAL_CLI to a working temporal binary, or TEMPORAL_ADDRESS to use a running server',
      );
    }
    writeFileSync(stateFile, JSON.stringify(state));
    return describe(state, dbFile, logFile, false);
  } finally {
    release();
  }
}

/** Spawn the server detached and wait until it answers: its pid, or why it did not come up. */
async function startServer(env: NodeJS.ProcessEnv, args: string[], port: number, logFile: string): Promise<number | Error> {
  const out = openSync(logFile, 'a');
  // umask 077: the db and its WAL files are the owner's alone, whatever the caller's umask.
  const child = spawn('/bin/sh', ['-c', 'umask 077 && exec "$0" "$@"', temporalCliPath(env), ...args], { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  child.unref();
  const pid = child.pid ?? -1;
  const ready = await Promise.race([waitReady(`127.0.0.1:${port}`, pid), spawnError]);
  return ready instanceof Error ? ready : pid;
}

/** What `cluster-router server status` shows: the recorded server of this state dir, whether it runs, its db size. */
export function embeddedServerInfo(stateDir: string): (EmbeddedServer & { running: boolean; dbBytes: number }) | null {
  const dir = path.join(stateDir, 'temporal');
  const st = readState(path.join(dir, 'server.json'));
  if (!st) return null;
  const dbFile = path.join(dir, 'temporal.db');
  const size = (f: string) => {
    try {
      return statSync(f).size;
    } catch {
      return 0;
    }
  };
  return {
    ...describe(st, dbFile, path.join(dir, 'server.log'), true),
    running: isAlive(st.pid),
    dbBytes: size(dbFile) + size(`${dbFile}-wal`) + size(`${dbFile}-shm`),
  };
}

/** Address of this state dir's embedded server when its process is alive (doctor: look, never start). */
export function embeddedServerState(stateDir: string): { address: string; pid: number; alive: boolean; logFile: string } | null {
  const st = readState(path.join(stateDir, 'temporal', 'server.json'));
  if (!st) return null;
  return { address: `127.0.0.1:${st.port}`, pid: st.pid, alive: isAlive(st.pid), logFile: path.join(stateDir, 'temporal', 'server.log') };
}

/** Stop the embedded server of this state dir, if one runs (tests and `cluster-router temporal stop`). */
export async function stopEmbeddedServer(stateDir: string): Promise<boolean> {
  const stateFile = path.join(stateDir, 'temporal', 'server.json');
  const st = readState(stateFile);
  if (!st || !isAlive(st.pid)) return false;
  await stopPid(st.pid);
  rmSync(stateFile, { force: true });
  return true;
}

async function stopPid(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

function describe(st: ServerState, dbFile: string, logFile: string, reused: boolean): EmbeddedServer {
  return { address: `127.0.0.1:${st.port}`, uiUrl: `http://127.0.0.1:${st.uiPort}`, codecPort: st.codecPort, pid: st.pid, dbFile, logFile, reused };
}

async function waitReady(address: string, pid: number): Promise<true | Error> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return new Error('the server process exited; see its log in the state dir (temporal/server.log)');
    if (await answers(address, 2000)) return true;
    await sleep(200);
  }
  return new Error(`not ready after ${READY_TIMEOUT_MS / 1000} s`);
}

/** True when a Temporal frontend answers at `address` (the default namespace exists once ready). */
export async function answers(address: string, timeoutMs: number): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    await conn.workflowService.describeNamespace({ namespace: 'default' });
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

function readState(file: string): ServerState | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServerState;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A tiny exclusive file lock: two processes on one state dir must not start two servers. */
async function lock(file: string): Promise<() => void> {
  for (let i = 0; ; i++) {
    try {
      closeSync(openSync(file, 'wx'));
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (existsSync(file) && Date.now() - statSync(file).mtimeMs > READY_TIMEOUT_MS + 10_000) rmSync(file, { force: true });
      await sleep(100);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
