// The worker: polls the hub queue (workflows + placement) and one queue per node (runCommand).
// `serve` runs it in-process; `cluster-router worker` runs it alone. Several workers may poll
// the same queues; `--nodes` lets one worker (say, one per site) own only some node queues.
import { existsSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createBatchActivities } from './activities/batch.js';
import { createHeadStartActivities } from './activities/headStart.js';
import { createHubActivities } from './activities/hub.js';
import { createNodeActivities } from './activities/node.js';
import { createOutputActivities } from './activities/output.js';
import { createProbeActivities } from './activities/probe.js';
import { createWorkspaceActivities } from './activities/workspace.js';
import { findNode, unknownNodeMessage } from './cluster/nodes.js';
import type { FastPath } from './fastpath/fastPath.js';
import type { Services } from './runtime/services.js';
import { HUB_QUEUE, nodeQueue, originQueue, type NodeState } from './shared.js';
import { WORKFLOW_BUNDLE, WORKFLOW_INTERCEPTORS_PATH, WORKFLOWS_PATH } from './temporal/bundle.js';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The deployment's data converter (security/codec.ts): the same for every client and worker. */
  dataConverter: DataConverter;
  services: Services;
  /** The Temporal client of this process (batch activities ask their workflow for stops). */
  client: Client;
  /** This process's fast path, if any: runCommand takes its finished runs. */
  fastPath?: FastPath;
  /** Node queues this process serves (default: all configured nodes). */
  nodeIds?: string[];
  /** Run the hub queue too (default true). */
  hub?: boolean;
  /** This state dir's origin id (workspaces are synced from here): its queue is always served. */
  originId: string;
  nodeStates: () => Promise<Record<string, NodeState>>;
}

export interface RunningWorkers {
  /** Resolves when every worker has stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
  const { services: rt, connection, namespace, dataConverter } = opts;
  const workers: Worker[] = [];
  if (opts.hub !== false) {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        dataConverter,
        taskQueue: HUB_QUEUE,
        // The bundle has the interceptors and the failure converter built in (temporal/bundle.ts).
        ...(existsSync(WORKFLOW_BUNDLE)
          ? { workflowBundle: { codePath: WORKFLOW_BUNDLE } }
          : { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: [WORKFLOW_INTERCEPTORS_PATH] } }),
        activities: {
          ...createHubActivities({ config: rt.config, book: rt.book, nodeStates: opts.nodeStates }),
          ...createHeadStartActivities(opts.fastPath),
          ...createProbeActivities(rt),
        },
        maxConcurrentWorkflowTaskExecutions: 100,
        maxCachedWorkflows: 2000,
        // A dead worker's sticky queue delays its workflows' next task by this much.
        stickyQueueScheduleToStartTimeout: '3 seconds',
      }),
    );
  }
  const workspace = createWorkspaceActivities(rt);
  // The origin's queue: the files of this host and state dir, synced to nodes from here.
  workers.push(
    await Worker.create({
      connection,
      namespace,
      dataConverter,
      taskQueue: originQueue(opts.originId),
      activities: { syncWorkspace: workspace.syncWorkspace, returnOutputs: workspace.returnOutputs, releaseWorkspace: workspace.releaseWorkspace },
      maxConcurrentActivityTaskExecutions: 16,
      maxHeartbeatThrottleInterval: '1 second',
      shutdownGraceTime: '10 seconds',
    }),
  );
  const nodeActivities = {
    ...createNodeActivities({ services: rt, fastPath: opts.fastPath }),
    ...createBatchActivities({ services: rt, client: opts.client, headStarts: opts.fastPath?.fanouts }),
    ...createOutputActivities(rt),
    // The monitor probes each node on its own queue: an answer proves a worker serves it.
    ...createProbeActivities(rt),
    workspaceAdmin: workspace.workspaceAdmin,
  };
  for (const id of opts.nodeIds ?? rt.config.nodes.map((n) => n.id)) {
    const node = findNode(rt.config, id);
    if (!node) throw new Error(`--nodes: ${unknownNodeMessage(rt.config, id)}`);
    workers.push(
      await Worker.create({
        connection,
        namespace,
        dataConverter,
        taskQueue: nodeQueue(id),
        activities: nodeActivities,
        // max_parallel itself is held by NodeSlots (shared with the fast path and other processes);
        // a few slots more keep probes and output reads from waiting behind busy commands.
        maxConcurrentActivityTaskExecutions: Math.max(1, node.maxParallel) + 4,
        // Cancellation reaches an activity only with a heartbeat response; the SDK's default
        // throttle (0.8 × heartbeat timeout = 16 s) would make task_cancel take that long.
        maxHeartbeatThrottleInterval: '1 second',
        // At shutdown, running activities get this long; then they let go (not kill: the detached
        // commands go on) and another worker's attempt re-attaches to them.
        shutdownGraceTime: '10 seconds',
      }),
    );
  }
  const done = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  return {
    done,
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
      await rt.pool.close();
    },
  };
}
