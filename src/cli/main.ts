#!/usr/bin/env node
// cluster-router: one error boundary around every subcommand. Errors print as
// `cluster-router: Kind: message` on stderr with exit 1 (130 on Ctrl-C); EPIPE is quiet.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../cluster/config.js';
import { UserError } from '../client/tasks.js';
import { registerClusterCommands } from './clusterCommands.js';
import { registerDoctorCommand } from './doctorCommand.js';
import { registerHostsCommands } from './hostsCommands.js';
import { registerServeCommands } from './serveCommands.js';
import { registerTaskCommands } from './taskCommands.js';

const program = new Command('cluster-router')
  .description('Run shell commands across a cluster as durable Temporal workflows (MCP server + CLI)')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerServeCommands(program);
registerTaskCommands(program);
registerClusterCommands(program);
registerHostsCommands(program);
registerDoctorCommand(program);

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});
process.once('SIGINT', () => process.exit(130));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const kind = err instanceof ConfigError ? 'ConfigError' : err instanceof UserError ? 'Error' : err instanceof Error ? err.name || 'Error' : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`cluster-router: ${kind}: ${message}\n`);
  if (process.env.CLUSTERFLOW_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
