// Fault-test helpers on top of the e2e harness: an MCP server without its in-process worker
// (so a test can SIGKILL workers it started itself), stray-process checks on a node, a
// direct Temporal client for results, and the one-line summary every fault file prints.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client as TemporalClient, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { clusterflowEnv } from '../../src/env.js';
import { EncryptionCodec } from '../../src/security/codec.js';
import { loadCodecKeys } from '../../src/security/keys.js';
import type { CommandResult } from '../../src/shared.js';
import { taskFailure } from '../../src/client/taskFailure.js';
import { dataConverterFor } from '../../src/temporal/dataConverter.js';
import { CLI, startHarness, structured, type Harness, type HarnessOptions } from './harness.js';
import { sleep, waitFor } from './wait.js';

export { sleep, waitFor } from './wait.js';

const run = promisify(execFile);

export interface FaultHarness extends Harness {
  /** Workers this test started (`cluster-router worker`), killed on close. */
  workers: Set<ChildProcess>;
}

/**
 * The e2e harness, with the MCP server started as `serve --no-worker` when `worker: false`:
 * then no process polls the queues until the test calls spawnWorker.
 */
export async function startFaultHarness(opts: HarnessOptions & { worker?: boolean } = {}): Promise<FaultHarness> {
  const withWorker = opts.worker !== false;
  const base = await startHarness({ ...opts, mcp: withWorker });
  const workers = new Set<ChildProcess>();
  let stderr = '';
  if (!withWorker) {
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'serve', '--no-worker'], env: base.env, stderr: 'pipe' });
    transport.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    await base.mcp.connect(transport);
  }
  const baseClose = base.close.bind(base);
  return Object.assign(base, {
    workers,
    serverStderr: withWorker ? base.serverStderr : () => stderr,
    async close() {
      for (const w of workers) w.kill('SIGKILL');
      await baseClose();
    },
  });
}

export interface SpawnedWorker {
  child: ChildProcess;
  stderr(): string;
  /** SIGKILL, and wait until the process is gone. */
  kill9(): Promise<void>;
}

/** Start `cluster-router worker [args]` with the harness env (default: hub + every node queue). */
/** `env`: overrides for this worker (its own CLUSTERFLOW_HOME and TEMPORAL_ADDRESS play another host). */
export function spawnWorker(h: FaultHarness, args: string[] = [], env: Record<string, string> = {}): SpawnedWorker {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], { env: { ...h.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
  });
  h.workers.add(child);
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      h.workers.delete(child);
      resolve();
    }),
  );
  return {
    child,
    stderr: () => err,
    async kill9() {
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/** A Temporal client of the harness's server, for workflow results without a CLI round trip. */
/** A Temporal client as the owner: the state dir's codec key decodes every payload. */
export async function temporalClient(
  h: Harness,
): Promise<{ client: TemporalClient; close(): Promise<void>; decode(p: Payload, workflowId: string): Promise<unknown> }> {
  const connection = await Connection.connect({ address: await h.temporalAddress() });
  const codec = new EncryptionCodec(loadCodecKeys(h.stateDir, clusterflowEnv(h.env)));
  return {
    client: new TemporalClient({ connection, namespace: h.temporalNamespace, dataConverter: dataConverterFor(codec) }),
    close: () => connection.close(),
    async decode(p, workflowId) {
      const [plain] = await codec.decode([p], { type: 'workflow', namespace: h.temporalNamespace, workflowId });
      return JSON.parse(Buffer.from(plain!.data ?? new Uint8Array()).toString()) as unknown;
    },
  };
}

/** A task's result; a task that ended Failed (TaskFailed) carries its result in the failure. */
/** (serve starts a head-started command's workflow a moment after the command answered: it is waited for.) */
export async function resultOf(client: TemporalClient, taskId: string): Promise<CommandResult> {
  const handle = client.workflow.getHandle(taskId);
  const exists = () =>
    handle.describe().then(
      () => true,
      (err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      },
    );
  await waitFor(`workflow ${taskId} to exist`, exists, 10_000);
  try {
    return (await handle.result()) as CommandResult;
  } catch (err) {
    const carried = taskFailure(err);
    if (carried && 'state' in carried) return carried as CommandResult;
    throw err;
  }
}

/** The highest runCommand attempt in a task's history: > 1 means a fault hit a running attempt. */
export async function lastAttempt(client: TemporalClient, taskId: string): Promise<number> {
  const history = await client.workflow.getHandle(taskId).fetchHistory();
  return Math.max(0, ...(history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
}

export interface Proc {
  pid: number;
  comm: string;
  args: string;
}

/**
 * Every live process of `user` except its sshd session processes (our pooled connections).
 * Zombies are dead already: an init that does not reap (some containers) keeps them forever.
 */
export async function userProcesses(user: string): Promise<Proc[]> {
  // ps exits 1 when the user has no process at all.
  const { stdout } = await run('ps', ['-u', user, '-o', 'pid=,stat=,comm=,args='], { maxBuffer: 1 << 20 }).catch((e: { stdout?: string }) => ({
    stdout: e.stdout ?? '',
  }));
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const m = /^\s*(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line)!;
      return { pid: Number(m[1]), stat: m[2]!, comm: m[3]!, args: m[4]! };
    })
    .filter((p) => !p.stat.startsWith('Z') && p.comm !== 'sshd' && !p.args.startsWith('sshd:'))
    .map(({ stat: _stat, ...p }) => p);
}

/** Processes (any user) whose command line contains `marker`, ignoring this pgrep itself. */
export async function markedProcesses(marker: string): Promise<Proc[]> {
  const { stdout } = await run('pgrep', ['-a', '-f', marker]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const [pid, ...rest] = line.trim().split(' ');
      return { pid: Number(pid), comm: rest[0] ?? '', args: rest.join(' ') };
    });
}

/**
 * Wait up to `ms` for a snapshot with no process at all: the cluster monitor's probe runs a
 * short script on each node every few seconds, so one snapshot may catch it in passing.
 * Returns what the last snapshot held (empty = clean).
 */
export async function settleStrays(list: () => Promise<Proc[]>, ms = 4000): Promise<Proc[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = await list();
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(200);
  }
}

/** Submit through MCP with wait_s: 0 and return the task id of the running task. */
export async function startTask(h: Harness, tool: 'offload_to' | 'cluster_bash', args: Record<string, unknown>): Promise<string> {
  const r = structured<{ task_id: string; state: string }>(await h.mcp.callTool({ name: tool, arguments: { ...args, wait_s: 0 } }));
  if (r.state !== 'running') throw new Error(`expected a running task, got ${JSON.stringify(r)}`);
  return r.task_id;
}

export interface FaultCounts {
  tasks: number;
  lost: number;
  duplicated: number;
  stray: number;
  [extra: string]: number;
}

/** The closing line of a fault file, on stdout (node --test passes it through) as one grep-able line. */
export function faultSummary(name: string, c: FaultCounts): string {
  const extra = Object.entries(c)
    .filter(([k]) => !['tasks', 'lost', 'duplicated', 'stray'].includes(k))
    .map(([k, v]) => ` ${k}=${v}`)
    .join('');
  const line = `faults: ${name} tasks=${c.tasks} lost=${c.lost} duplicated=${c.duplicated} stray=${c.stray}${extra}`;
  console.log(line);
  return line;
}
