// Output of a command that is still running, read from its run files on the node (the output
// store gets it only when the command ends): task_output and `logs -f` page through it live.
import { findNode } from '../cluster/nodes.js';
import { execFor } from '../engine/exec.js';
import { runIdFor } from '../engine/runChunk.js';
import { utf8Boundary, type OutputPage, type StreamName } from '../runtime/outputStore.js';
import type { Services } from '../runtime/services.js';
import { parseTail, tailScript } from '../ssh/detachedRun.js';

/** One page of a running command's stream on `nodeId`; null when the node has no such run (yet). */
export async function readRunningOutput(
  rt: Services, nodeId: string, taskId: string, stream: StreamName, offset: number, limit: number, encoding: 'utf8' | 'base64',
): Promise<OutputPage | null> {
  const node = findNode(rt.config, nodeId);
  if (!node) return null;
  const exec = await execFor(rt, node);
  const out: Buffer[] = [];
  const script = tailScript(runIdFor(taskId), stream, offset, limit, node.local ? rt.localRunsDir : undefined);
  await exec(script, { onStdout: (b: Buffer) => out.push(b) });
  const tail = parseTail(Buffer.concat(out));
  if (!tail) return null;
  const start = Math.min(Math.max(0, offset), tail.size);
  // The file may have grown between its size and the read: keep to what the size covered.
  let data = tail.data.subarray(0, Math.max(0, Math.min(limit, tail.size - start)));
  if (encoding === 'utf8') data = data.subarray(0, utf8Boundary(data, data.length));
  return {
    task_id: taskId, stream, offset: start, next_offset: start + data.length, total_bytes: tail.size,
    eof: start + data.length >= tail.size, data: data.toString(encoding), encoding, running: true,
  };
}
