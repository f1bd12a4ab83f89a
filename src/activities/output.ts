// readOutput: a page of a task's output, answered by a worker of the node the task ran on: from
// its own output store when this state dir holds the finished task, else from the node's run
// files. A client that holds neither (another host, another state dir) reads through this
// (workflows/output.ts): it never opens SSH or another process's state dir itself.
import { ApplicationFailure } from '@temporalio/activity';
import { findNode, unknownNodeMessage } from '../cluster/nodes.js';
import { readRunOutput, type OutputRequest } from '../engine/runOutput.js';
import type { OutputPage } from '../runtime/outputStore.js';
import type { Services } from '../runtime/services.js';
import { FailureType } from '../shared.js';

export interface ReadOutputInput extends OutputRequest {
  nodeId: string;
}

export function createOutputActivities(rt: Services) {
  return {
    async readOutput(input: ReadOutputInput): Promise<OutputPage | null> {
      return readOutputOn(rt, input);
    },
  };
}

/** The activity's work, also called in-process by a serve that runs the node's worker itself. */
export async function readOutputOn(rt: Services, input: ReadOutputInput): Promise<OutputPage | null> {
  const { nodeId, ...req } = input;
  // A finished task whose result this state dir stored: the store has all of it.
  if (rt.outputs.loadResult(req.taskId) !== null) return rt.outputs.read(req.taskId, req.stream, req.offset, req.limit, req.encoding);
  const node = findNode(rt.config, nodeId);
  if (!node) throw ApplicationFailure.nonRetryable(unknownNodeMessage(rt.config, nodeId), FailureType.UnknownNode);
  return readRunOutput(rt, node, req);
}
