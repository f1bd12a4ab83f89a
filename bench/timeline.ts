// The timeline of a fan-out from its workflow history (parent and first child, if any), event by
// event, relative to the MCP call.   node dist/bench/timeline.js [count=300]   env: REPS (3)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startFanoutHarness } from './fanoutHarness.js';
import { structured } from '../test/helpers/harness.js';
import { temporalCliPath } from '../src/paths.js';

const n = Number(process.argv[2] ?? 300);
const h = await startFanoutHarness({ nodes: 3 });
try {
  const port = (JSON.parse(readFileSync(path.join(h.stateDir, 'temporal', 'server.json'), 'utf8')) as { port: number }).port;
  const show = (id: string) =>
    JSON.parse(
      execFileSync(temporalCliPath(process.env), ['workflow', 'show', '-w', id, '--address', `127.0.0.1:${port}`, '-o', 'json'], {
        encoding: 'utf8',
        maxBuffer: 256 * 1024 * 1024,
      }),
    ) as { events: Array<{ eventTime: string; eventType: string }> };
  const cmds = Array.from({ length: n }, () => 'true');
  for (let rep = 0; rep < Number(process.env.REPS ?? 3); rep++) {
    const t0 = Date.now();
    const r = structured<{ task_id: string; duration_ms: number }>(
      await h.mcp.callTool({ name: 'parallel_execute', arguments: { commands: cmds, wait_s: 600 } }),
    );
    const t1 = Date.now();
    console.log(`\n${n} × true: ${t1 - t0} ms at the client, workflow ${r.duration_ms} ms`);
    const dump = (id: string, label: string) => {
      for (const e of show(id).events) console.log(`${label.padEnd(14)} +${String(Date.parse(e.eventTime) - t0).padStart(5)} ms ${e.eventType}`);
    };
    dump(r.task_id, 'parent');
    const child = (show(r.task_id).events as Array<{ childWorkflowExecutionStartedEventAttributes?: { workflowExecution: { workflowId: string } } }>).find(
      (e) => e.childWorkflowExecutionStartedEventAttributes,
    )?.childWorkflowExecutionStartedEventAttributes?.workflowExecution.workflowId;
    if (child) dump(child, 'child');
  }
} finally {
  await h.close();
}
