// A page of a task's output as the node keeps it in its run files (while the command runs, and
// for a day after: RUN_RETENTION_MIN), capped like everything stored (CLUSTERFLOW_MAX_OUTPUT).
import type { OutputPage, StreamName } from '../runtime/outputStore.js';
import { utf8Boundary } from '../runtime/outputStore.js';
import type { Services } from '../runtime/services.js';
import type { NodeConfig } from '../shared.js';
import { parseTail, tailScript } from '../ssh/detachedRun.js';
import { execFor } from './exec.js';
import { runIdFor } from './runChunk.js';

export interface OutputRequest {
  taskId: string;
  stream: StreamName;
  offset: number;
  limit: number;
  encoding: 'utf8' | 'base64';
}

/** One page of the run's stream on `node`; null when the node has no run of that task. */
export async function readRunOutput(rt: Services, node: NodeConfig, req: OutputRequest): Promise<OutputPage | null> {
  const exec = await execFor(rt, node);
  const out: Buffer[] = [];
  const script = tailScript(runIdFor(req.taskId), req.stream, req.offset, req.limit, node.local ? rt.localRunsDir : undefined, rt.outputs.maxBytes);
  await exec(script, { onStdout: (b: Buffer) => out.push(b) });
  const tail = parseTail(Buffer.concat(out));
  if (!tail) return null;
  const start = Math.min(Math.max(0, req.offset), tail.size);
  // The file may have grown between its size and the read: keep to what the size covered.
  let data = tail.data.subarray(0, Math.max(0, Math.min(req.limit, tail.size - start)));
  // Text pages end on a character boundary (more may follow), except the last page of a finished stream.
  if (req.encoding === 'utf8' && (tail.running || start + data.length < tail.size)) data = data.subarray(0, utf8Boundary(data, data.length));
  return {
    task_id: req.taskId,
    stream: req.stream,
    offset: start,
    next_offset: start + data.length,
    total_bytes: tail.size,
    eof: start + data.length >= tail.size,
    data: data.toString(req.encoding),
    encoding: req.encoding,
    ...(tail.running ? { running: true } : {}),
  };
}
