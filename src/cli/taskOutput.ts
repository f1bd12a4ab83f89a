// How task commands answer on the terminal: results and fan-out summaries (human text or
// JSON), the dry-run plan, the progress bar, and the exit code a task maps to. Apart from
// taskCommands.ts, which declares the commands and their options.
import cliProgress from 'cli-progress';
import type { App } from '../app.js';
import type { PlanRow } from '../client/dryRun.js';
import type { TaskStatus } from '../client/tasks.js';
import type { CommandResult, ParallelResult } from '../shared.js';

/** A command on one line of `list` (newlines and runs of blanks folded, long ones cut). */
export const oneLine = (c: string): string => {
  const t = c.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
};

const { SingleBar, Presets } = cliProgress;

/** Write to stdout and wait until it is handed off (a pipe reader sets the pace). */
export const writeOut = (data: string) => new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));

/**
 * Exit code of `submit` and `status --exit-code`: 124 when it timed out (as timeout(1)) and 130
 * when cancelled (as Ctrl-C), whatever signal code the killed group left; else the command's own.
 */
export function exitCodeFor(s: TaskStatus): number {
  if (s.state === 'running') return 0;
  if (s.state === 'timed_out') return 124;
  if (s.state === 'cancelled') return 130;
  if ('summary' in s) return s.state === 'completed' ? 0 : 1;
  const r = s as CommandResult;
  if (r.return_code !== null && r.return_code !== undefined) return r.return_code;
  return r.success ? 0 : 1;
}

export function printResult(s: TaskStatus, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return;
  }
  if (s.state === 'running') {
    const on = 'executed_on' in s && s.executed_on ? ` on ${s.executed_on}` : '';
    process.stderr.write(`task ${s.task_id} is running${on}\n  follow: cluster-router logs ${s.task_id} -f\n  web ui: ${s.workflow_url}\n`);
    return;
  }
  if ('summary' in s) return printParallel(s);
  const r = s as CommandResult;
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  const tail = [r.executed_on || '-', r.state, r.return_code !== null ? `exit ${r.return_code}` : '', `${r.duration_ms} ms`, r.task_id]
    .filter(Boolean)
    .join(' · ');
  // A timeout or cancel says so ("timed out after 1 s") even though the killed group left an exit code.
  const why = r.error && (r.return_code === null || r.state === 'timed_out' || r.state === 'cancelled') ? ` ${r.error}` : '';
  process.stderr.write(`[${tail}]${why}${r.truncated ? ' (output truncated: cluster-router logs ' + r.task_id + ')' : ''}\n`);
}

/** Wait for a fan-out, with a progress bar on a terminal (done/total from the workflow's Query). */
export async function withProgressBar(app: App, taskId: string, total: number, tty: boolean): Promise<TaskStatus> {
  if (!tty) return app.tasks.wait(taskId, Infinity);
  const bar = new SingleBar({ format: ' {bar} {value}/{total} commands | {duration}s', stream: process.stderr }, Presets.shades_classic);
  bar.start(total, 0);
  const timer = setInterval(() => {
    void app.tasks.progress(taskId).then((p) => {
      if (p) bar.update(p.done);
    });
  }, 250);
  try {
    return await app.tasks.wait(taskId, Infinity);
  } finally {
    clearInterval(timer);
    bar.update(total);
    bar.stop();
  }
}

function printParallel(p: ParallelResult & { workflow_url?: string }): void {
  for (const r of p.results) {
    const first = (r.stdout || r.stderr || r.error || '').split('\n')[0]!.slice(0, 100);
    process.stdout.write(`${r.task_id}  ${(r.executed_on || '-').padEnd(6)} ${r.state.padEnd(9)} ${String(r.return_code ?? '-').padStart(3)}  ${first}\n`);
  }
  const s = p.summary;
  const nodes = Object.entries(s.by_node)
    .map(([id, b]) => `${id} ${b.succeeded}/${b.succeeded + b.failed}`)
    .join(', ');
  process.stderr.write(
    `[${p.task_id} · ${p.state} · ${s.succeeded} ok, ${s.failed} failed, ${s.cancelled} cancelled of ${s.total} · ${p.duration_ms} ms · ${nodes}]\n`,
  );
}

/** The plan of --dry-run: one line per command (node, command, reason), or JSON. Nothing ran: exit 0. */
export function printPlan(rows: PlanRow[], json: boolean): number {
  if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else for (const r of rows) process.stdout.write(`${r.index !== undefined ? `${r.index}\t` : ''}${r.node}\t${oneLine(r.command)}\t${r.reason}\n`);
  return 0;
}
