#!/usr/bin/env node
// cluster-router: one error boundary around every subcommand. Errors print as
// `cluster-router: Kind: message` on stderr with exit 1 (130 on Ctrl-C, 143 on SIGTERM); EPIPE is quiet.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../cluster/config.js';
import { UserError } from '../client/tasks.js';
import { clusterflowEnv } from '../env.js';
import { VERSION } from '../version.js';
import { registerClusterCommands } from './clusterCommands.js';
import { registerHostsCommands } from './hostsCommands.js';
import { registerServeCommands } from './serveCommands.js';
import { installSignalHandlers } from './signals.js';
import { registerTaskCommands } from './taskCommands.js';
import { registerWorkerCommands } from './workerCommands.js';

const program = new Command('cluster-router')
  .description('Run shell commands across a cluster as durable Temporal workflows (MCP server + CLI)')
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride();

registerServeCommands(program);
registerTaskCommands(program);
registerWorkerCommands(program);
registerClusterCommands(program);
registerHostsCommands(program);

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});
installSignalHandlers();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const kind = err instanceof ConfigError ? 'ConfigError' : err instanceof UserError ? 'Error' : err instanceof Error ? err.name || 'Error' : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`cluster-router: ${kind}: ${message}\n`);
  if (clusterflowEnv().debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
