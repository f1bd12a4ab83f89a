// Workflow tests, the layer between pure unit tests and end-to-end: the real workflow bundle
// (interceptors and failure converter built in) on a real Temporal dev server (the `temporal`
// CLI the project installs: never a download), the real payload codec with a fixed test key, and
// every activity mocked. A mock is a plain function; the helper records each call (which
// activity, on which task queue, for which workflow, which attempt) and routes it to the mocks
// registered for the calling workflow, so scenarios of one file may run at once.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, type DataConverter, type Workflow, type WorkflowResultType } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { createBatchActivities } from '../../src/activities/batch.js';
import type { createHeadStartActivities } from '../../src/activities/headStart.js';
import type { createHubActivities } from '../../src/activities/hub.js';
import type { createNodeActivities } from '../../src/activities/node.js';
import type { createProbeActivities } from '../../src/activities/probe.js';
import type { createWorkspaceActivities } from '../../src/activities/workspace.js';
import { PACKAGE_ROOT, temporalCliPath } from '../../src/paths.js';
import { EncryptionCodec } from '../../src/security/codec.js';
import { loadCodecKeys } from '../../src/security/keys.js';
import { HUB_QUEUE, nodeQueue, originQueue, SEARCH_ATTRIBUTES, type CommandResult, type RunCommandInput } from '../../src/shared.js';
import { WORKFLOW_BUNDLE } from '../../src/temporal/bundle.js';
import { dataConverterFor } from '../../src/temporal/dataConverter.js';
import { waitFor } from './wait.js';

export const HISTORIES_DIR = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'histories');
/** The test-only codec key the mocked scenarios (and the histories recorded from them) are encrypted with. */
export const TEST_KEY_FILE = path.join(HISTORIES_DIR, 'codec-test.key');
export const ORIGIN = 'wftest';
export const ORIGIN_QUEUE = originQueue(ORIGIN);

type Workspace = ReturnType<typeof createWorkspaceActivities>;
/** Every activity the workflows proxy, with the real signatures. */
export type Activities = ReturnType<typeof createHubActivities> &
  ReturnType<typeof createHeadStartActivities> &
  ReturnType<typeof createNodeActivities> &
  ReturnType<typeof createBatchActivities> &
  ReturnType<typeof createProbeActivities> &
  Pick<Workspace, 'syncWorkspace' | 'returnOutputs' | 'releaseWorkspace'>;
export type Mocks = Partial<Activities>;
export type ActivityName = keyof Activities;

export interface Call {
  name: ActivityName;
  queue: string;
  /** The calling workflow (a batch child's own id for runBatch). */
  workflowId: string;
  attempt: number;
  /** The activity's own input (typed per activity in Activities; tests read the fields they assert). */
  input: any;
}

/** The calls one scenario's workflows made, in order, with a filter by activity. */
export class Calls extends Array<Call> {
  // map / filter give plain arrays (deepStrictEqual compares prototypes).
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }

  of(name: ActivityName): Call[] {
    return this.filter((c) => c.name === name);
  }
}

let runtimeInstalled = false;
/** Workers log every state change at INFO and each mocked failure at WARN: keep the output to errors (once per process). */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
}

/** The deployment's data converter (codec + failure converter) with the fixed test key. */
export function testDataConverter(): DataConverter {
  const keys = loadCodecKeys('/nonexistent', { codecKey: readFileSync(TEST_KEY_FILE, 'utf8') });
  return dataConverterFor(new EncryptionCodec(keys));
}

export interface WorkflowEnv {
  env: TestWorkflowEnvironment;
  /** A client with the deployment's data converter (what the CLI and the MCP server use). */
  client: Client;
  /** A client without the codec: anyone else who can reach the server. */
  plainClient: Client;
  /** Route the activity calls of workflow `workflowId` (and of its `<id>/...` children) to `mocks`; returns their record. */
  mock(workflowId: string, mocks: Mocks): Calls;
  close(): Promise<void>;
}

const HUB_ACTIVITIES: ActivityName[] = ['placeCommand', 'placeBatch', 'releasePlacement', 'headStartResult', 'fanoutHeadStartResults'];
const NODE_ACTIVITIES: ActivityName[] = ['runCommand', 'runBatch', 'probeNode'];
const ORIGIN_ACTIVITIES: ActivityName[] = ['syncWorkspace', 'returnOutputs', 'releaseWorkspace'];

/**
 * A dev server with the project's search attributes, and workers on the hub queue (workflows
 * and the local placement activities), each node's queue and the origin's queue.
 */
export async function startWorkflowEnv(nodes: string[] = ['n1', 'n2', 'n3']): Promise<WorkflowEnv> {
  quietRuntime();
  const cli = temporalCliPath();
  if (!path.isAbsolute(cli) || !existsSync(cli))
    throw new Error(`workflow tests need the temporal CLI at an existing path (got ${cli}): run scripts/setup.sh or set TEMPORAL_CLI`);
  if (!existsSync(WORKFLOW_BUNDLE)) throw new Error(`no workflow bundle at ${WORKFLOW_BUNDLE}: run npm run build`);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      log: { format: 'pretty', level: 'error' },
      extraArgs: [
        '--dynamic-config-value',
        'frontend.enableServerVersionCheck=false',
        '--dynamic-config-value',
        'history.transferProcessorMaxPollRPS=1000',
        // As the embedded server registers them (temporal/devServerCli.ts): upsertSearchAttributes needs them.
        ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
      ],
    },
  });
  const dataConverter = testDataConverter();
  const client = new Client({ connection: env.connection, dataConverter });
  const plainClient = new Client({ connection: env.connection });
  const routes = new Map<string, { mocks: Mocks; calls: Calls }>();

  const route = (name: ActivityName) => async (input: unknown) => {
    const { info } = Context.current();
    const workflowId = info.workflowExecution?.workflowId ?? '';
    const r = routes.get(workflowId) ?? routes.get(workflowId.split('/')[0]!);
    if (!r) throw ApplicationFailure.nonRetryable(`no mocks registered for workflow ${workflowId}`, 'NoMock');
    r.calls.push({ name, queue: info.taskQueue, workflowId, attempt: info.attempt, input });
    const fn = r.mocks[name] as ((i: unknown) => Promise<unknown>) | undefined;
    if (fn) return fn(input);
    if (name === 'releasePlacement' || name === 'releaseWorkspace') return undefined;
    // No fast path in this process (as on a worker of another host): runCommand does the work.
    if (name === 'headStartResult') return null;
    if (name === 'fanoutHeadStartResults') return {};
    throw ApplicationFailure.nonRetryable(`no mock for ${name} in ${workflowId}`, 'NoMock');
  };
  const routed = (names: ActivityName[]) => Object.fromEntries(names.map((n) => [n, route(n)]));
  const common = { connection: env.nativeConnection, namespace: env.namespace ?? 'default', dataConverter };
  const workers: Worker[] = [];
  try {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: HUB_QUEUE,
        workflowBundle: { codePath: WORKFLOW_BUNDLE },
        activities: routed(HUB_ACTIVITIES),
        stickyQueueScheduleToStartTimeout: '3 seconds',
      }),
    );
    for (const taskQueue of [...nodes.map(nodeQueue), ORIGIN_QUEUE]) {
      workers.push(
        await Worker.create({
          ...common,
          taskQueue,
          activities: routed(taskQueue === ORIGIN_QUEUE ? ORIGIN_ACTIVITIES : NODE_ACTIVITIES),
          // As the product's workers: a cancel reaches a heartbeating activity within a second.
          maxHeartbeatThrottleInterval: '1 second',
          shutdownGraceTime: '1 second',
        }),
      );
    }
  } catch (err) {
    await env.teardown();
    throw err;
  }
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    env,
    client,
    plainClient,
    mock(workflowId, mocks) {
      const calls = new Calls();
      routes.set(workflowId, { mocks, calls });
      return calls;
    },
    async close() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/** Poll `probe` until it gives a truthy value (the condition a test waits for), or fail after `timeoutMs`. */
export const until = <T>(what: string, probe: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> =>
  waitFor(what, probe as () => Promise<NonNullable<T> | undefined | false>, timeoutMs, 25);

/**
 * The workflow's result, or the error its result() rejects with. A workflow task that keeps
 * failing (an unhandled rejection, a non-determinism) never ends the workflow: that is an error
 * too, at once, rather than a test that hangs until its timeout.
 */
export async function settle<W extends Workflow>(handle: WorkflowHandle<W>): Promise<{ result?: WorkflowResultType<W>; error?: unknown }> {
  let settled = false;
  const stuck = (async (): Promise<never> => {
    for (;;) {
      const attempt = (await handle.describe().catch(() => undefined))?.raw.pendingWorkflowTask?.attempt ?? 0;
      if (settled) return new Promise<never>(() => undefined);
      if (attempt >= 3) throw new Error(`the workflow task of ${handle.workflowId} keeps failing (attempt ${attempt}); the worker's log says why`);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    return { result: await Promise.race([handle.result(), stuck]) };
  } catch (error) {
    return { error };
  } finally {
    settled = true;
  }
}

/** What runCommand returns for a command that ran on the input's node (exit `code`). */
export function ranResult(input: RunCommandInput, code = 0, over: Partial<CommandResult> = {}): CommandResult {
  return {
    success: code === 0,
    executed_on: input.nodeId,
    stdout: `ran ${input.command}\n`,
    stderr: '',
    return_code: code,
    auto_routed: input.autoRouted,
    task_id: input.taskId,
    error: code === 0 ? null : `exit code ${code}`,
    duration_ms: 7,
    route_reason: input.routeReason,
    truncated: false,
    workflow_url: '',
    state: code === 0 ? 'completed' : 'failed',
    ...over,
  };
}
