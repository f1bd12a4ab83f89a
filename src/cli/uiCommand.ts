// ui: how the owner sees decoded payloads. Everything in Temporal is encrypted (security/codec.ts);
// serve (and a worker) of this state dir answers the codec protocol and proxies the embedded
// server's Web UI on the codec port, behind the state dir's ui-token. This prints the login link
// for a browser and the flags for the `temporal` CLI. It starts nothing.
import net from 'node:net';
import { Command } from 'commander';
import { stateDir as defaultStateDir } from '../paths.js';
import { uiToken } from '../security/codecServer.js';
import { knownCodecPort } from '../temporal/codecPort.js';
import { UserError } from '../client/errors.js';

export function registerUiCommand(program: Command): void {
  program
    .command('ui')
    .description('Print the link that opens the Temporal Web UI with decoded payloads, and the `temporal` CLI flags that decode them')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const dir = defaultStateDir();
      const port = codecPort(dir);
      const token = uiToken(dir);
      const base = `http://127.0.0.1:${port}`;
      const listening = await answersTcp(port);
      const out = {
        login_url: `${base}/login?token=${encodeURIComponent(token)}`,
        codec_endpoint: `${base}/codec`,
        temporal_cli_flags: `--codec-endpoint ${base}/codec --codec-auth "Bearer ${token}"`,
        listening,
      };
      if (o.json) return void process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      process.stdout.write(`Web UI (decoded):  ${out.login_url}\ntemporal CLI:      temporal workflow show -w <task id> ${out.temporal_cli_flags}\n`);
      if (!listening)
        process.stderr.write(`note: nothing answers on ${base} now: it is served by \`cluster-router serve\` (or a worker) of this state dir; start one\n`);
    });
}

/** The port serve answers on (temporal/codecPort.ts), or the fix when none was chosen yet. */
function codecPort(dir: string): number {
  const port = knownCodecPort(dir);
  if (port) return port;
  throw new UserError(`no codec port recorded for ${dir} yet: run \`cluster-router serve\` once (it chooses one), or set CLUSTERFLOW_CODEC_PORT`);
}

function answersTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
