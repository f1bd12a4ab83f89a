// The mocked workflow scenarios, each driven to its end: the workflow tests assert on what they
// return (calls made, result or failure), and test/fixtures/histories/record.ts records their
// histories as replay fixtures. The mocks answer as the real activities would, failures included.
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Placement } from '../../src/cluster/placement.js';
import { newTaskId } from '../../src/client/tasks.js';
import { clusterStateQuery, refreshUpdate, stopQuery, stopSignal, type ClusterSnapshot } from '../../src/messages.js';
import type { PlaceCommandInput } from '../../src/runtime/placer.js';
import {
  FailureType,
  HUB_QUEUE,
  MONITOR_WORKFLOW_ID,
  type BatchInput,
  type CommandResult,
  type CommandSpec,
  type NodeState,
  type ParallelResult,
  type ParallelSpec,
  type WorkspaceSpec,
} from '../../src/shared.js';
import type { commandWorkflow } from '../../src/workflows/command.js';
import { ClusterNode } from '../../src/workflows/searchAttributes.js';
import type { clusterMonitorWorkflow } from '../../src/workflows/monitor.js';
import type { parallelWorkflow } from '../../src/workflows/parallel.js';
import { ORIGIN_QUEUE, ranResult, settle, until, type Calls, type Mocks, type WorkflowEnv } from './workflowEnv.js';

export const NODES = ['n1', 'n2', 'n3'];

export interface Ran<R = unknown> {
  id: string;
  /** The run to record (the monitor's first run, which continued as new). */
  handle: WorkflowHandle;
  calls: Calls;
  result?: R;
  error?: unknown;
  /** What the mocks or the driver saw along the way. */
  seen: Record<string, unknown>;
}

export function commandSpec(command: string, over: Partial<CommandSpec> = {}): CommandSpec {
  return { command, requires: {}, weight: 'heavy', classifyReason: `heavy: ${command.split(' ')[0]} is in the offload set`, timeoutS: 30, ...over };
}

/** placeCommand as the real one answers: the first node of `order` not excluded, else NoEligibleNode. */
export const placeInOrder =
  (order: string[]) =>
  async (input: PlaceCommandInput): Promise<Placement> => {
    const nodeId = order.find((n) => !input.exclude.includes(n));
    if (!nodeId) throw ApplicationFailure.nonRetryable(`no eligible node (${order.join(', ')} unreachable for this task)`, FailureType.NoEligibleNode);
    return { nodeId, reason: `least loaded: ${nodeId}` };
  };

const unreachable = (nodeId: string, retryable = false) => {
  const msg = `${nodeId}: connect ECONNREFUSED 10.9.0.1:22`;
  return retryable
    ? ApplicationFailure.retryable(msg, FailureType.NodeUnreachable)
    : ApplicationFailure.nonRetryable(`${msg} (unreachable after 1 attempt: CLUSTER_SSH_RETRIES=0)`, FailureType.NodeUnreachable);
};
const connectionLost = (nodeId: string) =>
  ApplicationFailure.retryable(
    `${nodeId}: connection lost; the command was already sent to ${nodeId} and may have run there, so it is not re-run elsewhere`,
    FailureType.ConnectionLost,
  );

async function command(
  w: WorkflowEnv,
  spec: CommandSpec,
  mocks: Mocks,
  drive?: (h: WorkflowHandle<typeof commandWorkflow>, calls: Calls) => Promise<void>,
  seen: Record<string, unknown> = {},
): Promise<Ran<CommandResult>> {
  const id = newTaskId('cmd');
  const calls = w.mock(id, mocks);
  // A named node is in the start's search attributes and memo, as TaskClient.submit starts it.
  const named = spec.nodeId ? { typedSearchAttributes: [{ key: ClusterNode, value: spec.nodeId }], memo: { node: spec.nodeId } } : {};
  const handle = await w.client.workflow.start<typeof commandWorkflow>('commandWorkflow', { workflowId: id, taskQueue: HUB_QUEUE, args: [spec], ...named });
  if (drive) await drive(handle, calls);
  return { id, handle, calls, seen, ...(await settle(handle)) };
}

export const reroute = (w: WorkflowEnv) =>
  command(w, commandSpec('make -j4', { sshRetries: 0 }), {
    placeCommand: placeInOrder(NODES),
    runCommand: async (i) => {
      if (i.nodeId === 'n1') throw unreachable('n1');
      return ranResult(i);
    },
  });

/** The connection dies after the command was sent, three attempts running, then the node answers. */
export function pinAfterSend(w: WorkflowEnv) {
  let n = 0;
  return command(w, commandSpec('make test'), {
    placeCommand: placeInOrder(NODES),
    runCommand: async (i) => {
      if (++n <= 3) throw connectionLost(i.nodeId);
      return ranResult(i);
    },
  });
}

/** As pinAfterSend, but the node never answers again within the command's 9 s timeout. */
export const outcomeUnknown = (w: WorkflowEnv) =>
  command(w, commandSpec('make install', { timeoutS: 9 }), {
    placeCommand: placeInOrder(NODES),
    runCommand: async (i) => {
      throw connectionLost(i.nodeId);
    },
  });

/** task_cancel while the command runs: the activity sees the cancel on a heartbeat. */
export function cancel(w: WorkflowEnv): Promise<Ran<CommandResult>> {
  const seen: Record<string, unknown> = {};
  return command(
    w,
    commandSpec('sleep 600'),
    {
      placeCommand: placeInOrder(NODES),
      runCommand: async () => {
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat({ sent: true }), 100);
        try {
          await ctx.cancelled;
          throw new Error('ctx.cancelled only rejects');
        } catch (err) {
          seen.activity = { error: (err as Error).name, cancelRequested: ctx.cancellationDetails?.cancelRequested === true };
          throw err;
        } finally {
          clearInterval(beat);
        }
      },
    },
    async (h, calls) => {
      await until('runCommand to start', () => calls.of('runCommand').length > 0);
      await h.cancel();
    },
    seen,
  );
}

/**
 * offload_to n1 with a head start that ended at once: the first workflow task records the fast
 * path's result (headStartResult, a local activity); no runCommand.
 */
export const headStart = (w: WorkflowEnv) =>
  command(w, commandSpec('true', { nodeId: 'n1', headStart: true }), {
    headStartResult: async ({ taskId }) =>
      ranResult({ taskId, nodeId: 'n1', command: 'true', timeoutS: 30, routeReason: 'fast path', autoRouted: false }, 3, { duration_ms: 4 }),
    runCommand: async (i) => ranResult(i),
  });

/** The same, but the command runs on past the wait (or another process got the task): runCommand takes it from there. */
export const headStartLong = (w: WorkflowEnv) =>
  command(w, commandSpec('sleep 2', { nodeId: 'n1', headStart: true }), {
    headStartResult: async () => null,
    runCommand: async (i) => ranResult(i),
  });

export const noEligibleNode = (w: WorkflowEnv) =>
  command(w, commandSpec('cargo build', { requires: { os: 'macos' } }), {
    placeCommand: async () => {
      throw ApplicationFailure.nonRetryable(
        'no eligible node: n1 (linux, needs macos), n2 (linux, needs macos), n3 (linux, needs macos)',
        FailureType.NoEligibleNode,
      );
    },
  });

export const workspaceSpec: WorkspaceSpec = {
  mode: 'sync',
  cwd: '/home/dev/proj',
  inPlace: [],
  originQueue: ORIGIN_QUEUE,
  originHost: 'origin-host',
  outputs: ['build/*.bin'],
};
export const treeOn = (nodeId: string) => `/home/cf/.cache/clusterflow/workspaces/${nodeId}-0a1b2c`;
const workspaceMocks = (failOn?: string): Mocks => ({
  placeCommand: placeInOrder(NODES),
  syncWorkspace: async ({ nodeId }) => {
    if (nodeId === failOn) throw unreachable(nodeId, true);
    return { mode: 'sync', tree: treeOn(nodeId), node_path: `${treeOn(nodeId)}/proj`, files: 12, bytes_sent: 3400, blobs_reused: 0, sync_ms: 40 };
  },
  runCommand: async (i) => ranResult(i, failOn ? 0 : 2),
  returnOutputs: async () => [{ path: 'build/app.bin', size: 1234 }],
});

/** A synced workspace on a named node; the command exits 2, outputs still come back. */
export const workspace = (w: WorkflowEnv) =>
  command(w, commandSpec('make', { nodeId: 'n1', cwd: workspaceSpec.cwd, workspace: workspaceSpec }), workspaceMocks());
/** The origin cannot reach n1 to sync (three attempts): the command goes to n2. */
export const workspaceReroute = (w: WorkflowEnv) => command(w, commandSpec('make', { cwd: workspaceSpec.cwd, workspace: workspaceSpec }), workspaceMocks('n1'));

/** Someone without the deployment's key starts a command: the worker refuses it before any activity. */
export async function refused(w: WorkflowEnv): Promise<Ran<CommandResult>> {
  const id = newTaskId('cmd');
  const calls = w.mock(id, {});
  await w.plainClient.workflow.start<typeof commandWorkflow>('commandWorkflow', {
    workflowId: id,
    taskQueue: HUB_QUEUE,
    args: [commandSpec('rm -rf /tmp/x', { nodeId: 'n1' })],
  });
  const handle = w.client.workflow.getHandle<typeof commandWorkflow>(id);
  return { id, handle, calls, seen: {}, ...(await settle(handle)) };
}

async function parallel(
  w: WorkflowEnv,
  spec: ParallelSpec,
  mocks: Mocks,
  drive?: (h: WorkflowHandle<typeof parallelWorkflow>, calls: Calls) => Promise<void>,
  seen: Record<string, unknown> = {},
): Promise<Ran<ParallelResult>> {
  const id = newTaskId('par');
  const calls = w.mock(id, mocks);
  const handle = await w.client.workflow.start<typeof parallelWorkflow>('parallelWorkflow', { workflowId: id, taskQueue: HUB_QUEUE, args: [spec] });
  if (drive) await drive(handle, calls);
  return { id, handle, calls, seen, ...(await settle(handle)) };
}

/** placeBatch as the real one answers: round-robin over the nodes not excluded, capacity 2 each. */
function spread(input: { count: number; exclude?: string[] }) {
  const nodes = NODES.filter((n) => !input.exclude?.includes(n));
  return {
    nodes: Array.from({ length: input.count }, (_, k) => nodes[k % nodes.length]!),
    reasons: Object.fromEntries(nodes.map((n) => [n, `fan-out spread by load and capacity; first placement: least loaded: ${n}`])),
    capacity: Object.fromEntries(NODES.map((n) => [n, 2])),
  };
}

const batchResult = (b: BatchInput, index: number, over: Partial<CommandResult> = {}): CommandResult => ({
  success: true,
  executed_on: b.nodeId,
  stdout: `ran ${index}\n`,
  stderr: '',
  return_code: 0,
  auto_routed: true,
  task_id: `${b.parentId}/${index}`,
  error: null,
  duration_ms: 3,
  route_reason: b.routeReason,
  truncated: false,
  workflow_url: '',
  state: 'completed',
  ...over,
});

const parallelSpec = (commands: string[], maxParallel: number): ParallelSpec => ({ commands, requires: {}, maxParallel, timeoutS: 60 });

/** n1 cannot be reached (its batch's retry budget spent): its commands are placed again on n2 and n3. */
export const parallelReplace = (w: WorkflowEnv) =>
  parallel(
    w,
    parallelSpec(
      Array.from({ length: 6 }, (_, i) => `make part${i}`),
      6,
    ),
    {
      placeBatch: async (input) => spread(input),
      runBatch: async (b) => {
        if (b.nodeId === 'n1') throw unreachable('n1');
        return b.items.map((it) => batchResult(b, it.index));
      },
    },
  );

/** The starting process placed the fan-out (its spec carries the placement): no placeBatch, the batches go out in the first task. */
export const parallelPlaced = (w: WorkflowEnv) =>
  parallel(
    w,
    {
      ...parallelSpec(
        Array.from({ length: 6 }, (_, i) => `make part${i}`),
        6,
      ),
      placement: spread({ count: 6 }),
    },
    {
      placeBatch: async () => {
        throw new Error('placeBatch must not run: the spec was placed');
      },
      runBatch: async (b) => b.items.map((it) => batchResult(b, it.index)),
    },
  );

/**
 * The starting process launched the batches of n1 and n2 itself (spec.headStart): their runBatch
 * is told so; n3's (not head-started) proves unreachable, and its commands, placed again on n1
 * and n2, go out as new batches there, which no launch covered.
 */
export const parallelHeadStart = (w: WorkflowEnv) =>
  parallel(
    w,
    {
      ...parallelSpec(
        Array.from({ length: 6 }, (_, i) => `make part${i}`),
        6,
      ),
      placement: spread({ count: 6 }),
      headStart: ['n1', 'n2'],
    },
    {
      placeBatch: async (input) => spread(input),
      runBatch: async (b) => {
        if (b.nodeId === 'n3') throw unreachable('n3');
        return b.items.map((it) => batchResult(b, it.index));
      },
    },
  );

/**
 * A journaled fan-out whose workflow started after its head start ran every batch (spec.headStart
 * names all three nodes): fanoutHeadStartResults hands over n1's results, recorded in the first
 * workflow task without its runBatch; n2's answer does not match its batch (one result for two
 * commands: ignored) and n3's batch has not ended: those two go to runBatch, as head starts.
 */
export const parallelHeadStartEnded = (w: WorkflowEnv) =>
  parallel(
    w,
    {
      ...parallelSpec(
        Array.from({ length: 6 }, (_, i) => `make part${i}`),
        6,
      ),
      placement: spread({ count: 6 }),
      headStart: ['n1', 'n2', 'n3'],
    },
    {
      fanoutHeadStartResults: async ({ parentId }) => {
        const ran = (nodeId: string, indices: number[]) =>
          indices.map((i) => batchResult({ parentId, nodeId, routeReason: `head start on ${nodeId}` } as BatchInput, i, { stdout: `early ${i}\n` }));
        return { n1: ran('n1', [0, 3]), n2: ran('n2', [1]) };
      },
      runBatch: async (b) => b.items.map((it) => batchResult(b, it.index)),
    },
  );

export const STOPPED = 7;
/** Commands of parallelChildren, all on n1: two child batches of even size (older histories: 300, as 250 + 50). */
export const CHILDREN_COMMANDS = 1200;
/** CHILDREN_COMMANDS commands on n1: two child batches (600 + 600); command STOPPED is stopped by itself while its batch runs. */
export function parallelChildren(w: WorkflowEnv): Promise<Ran<ParallelResult>> {
  const seen: Record<string, unknown> = {};
  return parallel(
    w,
    parallelSpec(
      Array.from({ length: CHILDREN_COMMANDS }, (_, i) => `gzip -9 part${i}`),
      4,
    ),
    {
      placeBatch: async (input) => ({
        nodes: Array.from({ length: input.count }, () => 'n1'),
        reasons: { n1: 'fan-out spread by load and capacity; only n1' },
        capacity: { n1: 4 },
      }),
      runBatch: async (b) => {
        const ctx = Context.current();
        const stopId = `${b.parentId}/${STOPPED}`;
        const mine = b.items.some((it) => it.index === STOPPED);
        if (mine) {
          // As the real runBatch: the batch's own workflow is asked which commands were stopped.
          const batchWf = w.client.workflow.getHandle(ctx.info.workflowExecution!.workflowId);
          await until('the stop to reach the batch', async () => {
            ctx.heartbeat();
            return (await batchWf.query(stopQuery)).taskIds.includes(stopId);
          });
          seen.stopSeenBy = ctx.info.workflowExecution!.workflowId;
        }
        // Out of order on purpose: the fan-out must put results in input order.
        return b.items
          .map((it) =>
            batchResult(
              b,
              it.index,
              mine && it.index === STOPPED
                ? { success: false, state: 'cancelled', return_code: null, error: "cancelled; the command's process group was killed on n1" }
                : {},
            ),
          )
          .reverse();
      },
    },
    async (h, calls) => {
      await until('the first batch to run', () => calls.of('runBatch').length > 0);
      await h.signal(stopSignal, { taskIds: [`${h.workflowId}/${STOPPED}`] });
    },
    seen,
  );
}

const healthy = (id: string): NodeState => ({
  id,
  status: 'healthy',
  os: 'linux',
  arch: 'x86_64',
  cpu_percent: 5,
  memory_percent: 20,
  load_avg: [0.1, 0.1, 0.1],
  cores: 4,
  in_flight: 0,
  capabilities: [],
  last_seen: `2026-01-01T00:00:0${id.slice(1)}.000Z`,
});

/**
 * The monitor with two rounds per run and a long interval: a refresh makes round 2, the run
 * continues as new, and the next run (whose first probe finds n2 unreachable) still knows n2 and answers a refresh.
 */
export async function monitor(w: WorkflowEnv): Promise<Ran<{ beforeCan: ClusterSnapshot; afterCan: ClusterSnapshot; refreshed: ClusterSnapshot }>> {
  const probes: Record<string, number> = {};
  const calls = w.mock(MONITOR_WORKFLOW_ID, {
    probeNode: async ({ nodeId }) => {
      probes[nodeId] = (probes[nodeId] ?? 0) + 1;
      // As the real probe: an unreachable node is an answer (no figures, no os), not a failure.
      if (nodeId === 'n2' && probes[nodeId]! > 2)
        return { id: nodeId, status: 'unreachable', in_flight: 0, capabilities: [], reason: 'connect ECONNREFUSED 10.9.0.2:22' };
      return healthy(nodeId);
    },
  });
  const first = await w.client.workflow.start<typeof clusterMonitorWorkflow>('clusterMonitorWorkflow', {
    workflowId: MONITOR_WORKFLOW_ID,
    taskQueue: HUB_QUEUE,
    args: [{ nodeIds: ['n1', 'n2'], intervalS: 3600, roundsPerRun: 2 }],
  });
  await until('the first round', async () => Object.keys((await first.query(clusterStateQuery)).nodes).length === 2);
  const beforeCan = await first.executeUpdate(refreshUpdate);
  const latest = w.client.workflow.getHandle<typeof clusterMonitorWorkflow>(MONITOR_WORKFLOW_ID);
  await until('the continue-as-new', async () => (await latest.describe()).runId !== first.firstExecutionRunId);
  const afterCan = await until("the new run's first round", async () => {
    const s = await latest.query(clusterStateQuery);
    return s.nodes.n2?.status === 'unreachable' ? s : undefined;
  });
  const refreshed = await latest.executeUpdate(refreshUpdate);
  return {
    id: MONITOR_WORKFLOW_ID,
    handle: w.client.workflow.getHandle(MONITOR_WORKFLOW_ID, first.firstExecutionRunId),
    calls,
    result: { beforeCan, afterCan, refreshed },
    seen: { firstRunId: first.firstExecutionRunId },
  };
}

/** Every scenario by the name of its recorded history (test/fixtures/histories/mocked-<name>.json). */
export const SCENARIOS: Record<string, (w: WorkflowEnv) => Promise<Ran>> = {
  'command-reroute': reroute,
  'command-pin-after-send': pinAfterSend,
  'command-outcome-unknown': outcomeUnknown,
  'command-cancel': cancel,
  'command-no-eligible-node': noEligibleNode,
  'command-head-start': headStart,
  'command-head-start-long': headStartLong,
  'command-workspace': workspace,
  'command-workspace-reroute': workspaceReroute,
  'command-refused': refused,
  'parallel-replace': parallelReplace,
  'parallel-placed': parallelPlaced,
  'parallel-head-start': parallelHeadStart,
  'parallel-head-start-ended': parallelHeadStartEnded,
  // Recorded before chained batches (one child after the other): kept, must replay as it ran.
  'parallel-even-children-stop': parallelChildren,
  'parallel-chained-children-stop': parallelChildren,
  'monitor-continue-as-new': monitor,
};
