#!/usr/bin/env node
// cluster-router: one error boundary around every subcommand. Errors print as
// `cluster-router: Kind: message` on stderr with exit 1 (130 on Ctrl-C, 143 on SIGTERM); EPIPE is quiet.
// Signal handlers come first, and only the modules of the subcommand asked for are loaded: a
// one-shot command starts in a fraction of the time it takes to load the worker and MCP server.
import { installSignalHandlers } from './signals.js';

installSignalHandlers();
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

const { Command, CommanderError } = await import('commander');
const { VERSION } = await import('../version.js');

/** Which module registers which subcommands (unknown or no subcommand: all of them, for help). */
const MODULES: Record<string, () => Promise<{ register(program: InstanceType<typeof Command>): void }>> = {
  serve: async () => ({ register: (await import('./serveCommands.js')).registerServeCommands }),
  task: async () => ({ register: (await import('./taskCommands.js')).registerTaskCommands }),
  worker: async () => ({ register: (await import('./workerCommands.js')).registerWorkerCommands }),
  cluster: async () => ({ register: (await import('./clusterCommands.js')).registerClusterCommands }),
  hosts: async () => ({ register: (await import('./hostsCommands.js')).registerHostsCommands }),
  workspace: async () => ({ register: (await import('./workspaceCommands.js')).registerWorkspaceCommands }),
  doctor: async () => ({ register: (await import('./doctorCommand.js')).registerDoctorCommand }),
  ui: async () => ({ register: (await import('./uiCommand.js')).registerUiCommand }),
};
const MODULE_OF: Record<string, keyof typeof MODULES> = {
  serve: 'serve',
  submit: 'task',
  parallel: 'task',
  status: 'task',
  cancel: 'task',
  logs: 'task',
  list: 'task',
  worker: 'worker',
  server: 'worker',
  'cluster-status': 'cluster',
  cluster: 'cluster',
  hosts: 'hosts',
  workspace: 'workspace',
  doctor: 'doctor',
  ui: 'ui',
};

const program = new Command('cluster-router')
  .description('Run shell commands across a cluster as durable Temporal workflows (MCP server + CLI)')
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride();

const wanted = MODULE_OF[process.argv.slice(2).find((a) => !a.startsWith('-')) ?? ''];
for (const key of wanted ? [wanted] : Object.keys(MODULES)) (await MODULES[key]!()).register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // By name: the error classes live in modules this command may not have loaded.
  const name = err instanceof Error ? err.name : '';
  const kind = name === 'ConfigError' ? 'ConfigError' : name === 'UserError' ? 'Error' : name || 'Error';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`cluster-router: ${kind}: ${message}\n`);
  if (err instanceof Error && (await import('../env.js')).clusterflowEnv().debug) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
