// submit / status / logs / cancel / list: human output by default, --json for scripts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { openApp, type App } from '../app.js';
import { dryRunCommand, dryRunFanout, type DryRunSources } from '../client/dryRun.js';
import { ensureWorker } from '../client/workers.js';
import type { OutputPage } from '../runtime/outputStore.js';
import { UserError, type SubmitRequest } from '../client/tasks.js';
import type { WorkspaceMode } from '../shared.js';
import { archOption, capabilityOption, osOption } from './options.js';
import { columns } from './table.js';
import { exitCodeFor, oneLine, printPlan, printResult, withProgressBar, writeOut } from './taskOutput.js';

/** `logs -f`: how often to look for more output once caught up. */
const FOLLOW_POLL_MS = 500;

async function withApp<T>(work: (app: App) => Promise<T>): Promise<T> {
  const app = await openApp({ worker: false });
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

function readCommands(file: string): string[] {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

function dryRunSources(app: App): DryRunSources {
  // Without a worker the monitor cannot answer: plan with no load figures rather than wait.
  return { tasks: app.tasks, config: app.config, nodeStates: () => app.connection.withDeadline(Date.now() + 2000, () => app.clusterState.states()) };
}

/** --cwd (default: the current directory), --workspace, --output: how the node gets the files the command works on. */
function withWorkspaceOptions(cmd: Command): Command {
  return cmd
    .option('--cwd <dir>', 'the directory whose files the command works on (default: the current directory); synced to the node unless it sees it')
    .addOption(
      new Option(
        '--workspace <mode>',
        'auto (default): in place where the node sees cwd, else synced; sync; shared: the node mounts cwd; none: ignore cwd',
      ).choices(['auto', 'sync', 'shared', 'none']),
    )
    .option(
      '--output <glob>',
      'copy files matching this glob (relative to cwd) back from the node after the command (repeatable)',
      (v: string, all: string[] = []) => [...all, v],
    );
}

function workspaceRequest(o: {
  cwd?: string;
  workspace?: WorkspaceMode;
  output?: string[];
}): Pick<SubmitRequest, 'cwd' | 'workspace' | 'outputs' | 'cwdIsDefault'> {
  return {
    cwd: path.resolve(o.cwd ?? process.cwd()),
    ...(o.cwd ? {} : { cwdIsDefault: true }),
    ...(o.workspace ? { workspace: o.workspace } : {}),
    ...(o.output?.length ? { outputs: o.output } : {}),
  };
}

export function registerTaskCommands(program: Command): void {
  program
    .command('submit')
    .description('Run a command on the cluster; waits, prints its output and exits with its exit code')
    .argument('<command>', 'shell command (quote it)')
    .option('--node <id>', 'run on this node (no routing)')
    .addOption(osOption())
    .addOption(archOption())
    .addOption(capabilityOption())
    .option('--timeout <s>', 'kill after this many seconds', Number)
    .option('--detach', 'print the task id and return at once')
    .option('--json', 'print the result as JSON')
    .option('--no-start-worker', 'fail (within seconds) instead of starting a background worker when none serves the queues')
    .option('--dry-run', 'print where it would run and why (node, command, reason), without running it');
  withWorkspaceOptions(program.commands.at(-1)!).action(async (command: string, o) => {
    const code = await withApp(async (app) => {
      const files = workspaceRequest(o);
      if (o.dryRun)
        return printPlan(
          await dryRunCommand(dryRunSources(app), {
            command,
            nodeId: o.node,
            timeoutS: o.timeout,
            ...files,
            requires: { os: o.os, arch: o.arch, capabilities: o.capability },
          }),
          !!o.json,
        );
      await ensureWorker(app, { start: o.startWorker !== false, origin: files.workspace !== 'none' });
      const { taskId } = await app.tasks.submit({
        command,
        nodeId: o.node,
        timeoutS: o.timeout,
        ...files,
        requires: { os: o.os, arch: o.arch, capabilities: o.capability },
      });
      if (o.detach) {
        process.stdout.write(o.json ? JSON.stringify({ task_id: taskId, state: 'running', workflow_url: app.tasks.url(taskId) }) + '\n' : `${taskId}\n`);
        return 0;
      }
      const s = await app.tasks.wait(taskId, Infinity);
      printResult(s, !!o.json);
      return exitCodeFor(s);
    });
    process.exitCode = code;
  });

  program
    .command('parallel')
    .description('Run many commands in parallel across the cluster (results in input order)')
    .argument('[commands...]', 'shell commands (quote each)')
    .option('--file <path>', 'read commands from a file, one per line ("-" for stdin)')
    .addOption(osOption())
    .addOption(archOption())
    .addOption(capabilityOption())
    .option('--max-parallel <n>', 'commands in flight at once', Number)
    .option('--timeout <s>', 'kill each command after this many seconds', Number)
    .option('--detach', 'print the task id and return at once')
    .option('--json', 'print the result as JSON')
    .option('--no-start-worker', 'fail (within seconds) instead of starting a background worker when none serves the queues')
    .option('--dry-run', 'print the plan (node × command × reason), without running anything');
  withWorkspaceOptions(program.commands.at(-1)!).action(async (cmds: string[], o) => {
    const commands = [...cmds, ...(o.file ? readCommands(o.file) : [])];
    if (commands.length === 0) throw new UserError('no commands: give them as arguments or with --file');
    const code = await withApp(async (app) => {
      const files = workspaceRequest(o);
      if (o.dryRun)
        return printPlan(
          await dryRunFanout(dryRunSources(app), {
            commands,
            requires: { os: o.os, arch: o.arch, capabilities: o.capability },
            maxParallel: o.maxParallel,
            timeoutS: o.timeout,
            ...files,
          }),
          !!o.json,
        );
      await ensureWorker(app, { start: o.startWorker !== false, origin: files.workspace !== 'none' });
      const taskId = await app.tasks.submitParallel({
        commands,
        requires: { os: o.os, arch: o.arch, capabilities: o.capability },
        maxParallel: o.maxParallel,
        timeoutS: o.timeout,
        ...files,
      });
      if (o.detach) {
        process.stdout.write(`${taskId}\n`);
        return 0;
      }
      const s = await withProgressBar(app, taskId, commands.length, !o.json && process.stderr.isTTY);
      printResult(s, !!o.json);
      return exitCodeFor(s);
    });
    process.exitCode = code;
  });

  program
    .command('status')
    .description('Show a task: running, or its result')
    .argument('<task_id>')
    .option('--json', 'print as JSON')
    .option('--exit-code', "exit with the task's own code (124 timed out, 130 cancelled), as submit does; 0 while it runs")
    .action(async (taskId: string, o) => {
      const s = await withApp(async (app) => app.tasks.status(taskId));
      printResult(s, !!o.json);
      if (o.exitCode) process.exitCode = exitCodeFor(s);
    });

  program
    .command('cancel')
    .description('Cancel a task: its process group is killed on the node')
    .argument('<task_id>')
    .option('--json', 'print as JSON')
    .action(async (taskId: string, o) => {
      await withApp(async (app) => printResult(await app.tasks.cancel(taskId), !!o.json));
    });

  program
    .command('list')
    .description('List recent tasks')
    .addOption(new Option('--state <state>', 'only tasks in this state').choices(['running', 'completed', 'failed', 'cancelled', 'timed_out']))
    .option('--limit <n>', 'at most this many', Number, 50)
    .option('--json', 'print as JSON')
    .action(async (o) => {
      await withApp(async (app) => {
        const rows = await app.tasks.list(o.state, o.limit);
        if (o.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        if (rows.length === 0) return void process.stderr.write(`no tasks${o.state ? ` in state ${o.state}` : ''}\n`);
        process.stdout.write(
          columns(
            ['task_id', 'state', 'node', 'started', 'command'],
            rows.map((r) => [r.task_id, r.state, r.node || '-', r.started.replace(/\.\d+Z$/, 'Z'), oneLine(r.command)]),
          ),
        );
      });
    });

  program
    .command('logs')
    .description("Print a task's full output (live from the node while it runs)")
    .argument('<task_id>')
    .option('--stderr', 'print stderr instead of stdout')
    .option('-f, --follow', 'keep printing as the task writes, until it ends')
    .action(async (taskId: string, o) => {
      await withApp(async (app) => {
        const stream = o.stderr ? 'stderr' : 'stdout';
        for (let offset = 0; ;) {
          let page: OutputPage | undefined;
          try {
            page = await app.tasks.output(taskId, stream, offset, 1024 * 1024);
          } catch (err) {
            // Following a task that has not started yet: wait for it, as `tail -F` would.
            if (!(o.follow && err instanceof UserError && err.code === 'not-found' && (await app.tasks.status(taskId)).state === 'running')) throw err;
          }
          if (page) {
            await writeOut(page.data);
            offset = page.next_offset;
          }
          if (page && page.eof && !(o.follow && page.running)) break;
          if (!page || page.eof) await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
        }
      });
    });
}
