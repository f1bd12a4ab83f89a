// workspace list|prune [--node]: the synced trees each node keeps (its LRU cap prunes them too).
import { Command } from 'commander';
import { openApp } from '../app.js';
import { findNode, unknownNodeMessage } from '../cluster/nodes.js';
import { newTaskId, UserError } from '../client/tasks.js';
import { HUB_QUEUE } from '../shared.js';
import type { workspaceAdminWorkflow } from '../workflows/admin.js';

export function registerWorkspaceCommands(program: Command): void {
  program
    .command('workspace')
    .description('The workspaces synced to nodes: `workspace list` or `workspace prune [--all | --name N...]` (least recently used beyond the cap by default)')
    .argument('<action>', 'list | prune')
    .option('--node <id...>', 'only these nodes (default: every remote node)')
    .option('--all', 'prune: every tree not in use')
    .option('--name <tree...>', 'prune: these trees')
    .option('--json', 'print as JSON')
    .action(async (action: string, o: { node?: string[]; all?: boolean; name?: string[]; json?: boolean }) => {
      if (action !== 'list' && action !== 'prune') throw new UserError(`workspace: unknown action "${action}" (list or prune)`);
      const app = await openApp({ worker: false });
      try {
        for (const id of o.node ?? []) if (!findNode(app.config, id)) throw new UserError(unknownNodeMessage(app.config, id));
        const nodes = o.node ?? app.config.nodes.filter((n) => !n.local).map((n) => n.id);
        const answers = await Promise.all(
          nodes.map(async (nodeId) => {
            try {
              return [
                nodeId,
                await app.client.workflow.execute<typeof workspaceAdminWorkflow>('workspaceAdminWorkflow', {
                  taskQueue: HUB_QUEUE,
                  workflowId: `admin-${newTaskId('cmd').slice(4)}`,
                  args: [{ nodeId, op: action, ...(o.all ? { all: true } : {}), ...(o.name ? { names: o.name } : {}) }],
                }),
              ] as const;
            } catch (err) {
              return [nodeId, { error: err instanceof Error ? err.message : String(err) }] as const;
            }
          }),
        );
        if (o.json) return void process.stdout.write(`${JSON.stringify(Object.fromEntries(answers), null, 2)}\n`);
        for (const [nodeId, a] of answers) {
          if ('error' in a) process.stdout.write(`${nodeId}: ${a.error}\n`);
          else if ('trees' in a) {
            process.stdout.write(`${nodeId}: ${a.trees.length} trees, blobs ${mb(a.blobBytes)} (${a.blobCount})\n`);
            for (const t of a.trees)
              process.stdout.write(
                `  ${t.name}  ${t.origin_host}:${t.origin_path}  ${mb(t.bytes)}  ${t.files} files  used ${t.last_used}${t.locked ? `  in use by ${t.lock_task}` : ''}\n`,
              );
          } else {
            process.stdout.write(
              `${nodeId}: removed ${a.removed.length} trees, freed ${mb(a.freedBytes)}${a.skippedLocked.length ? `; in use, kept: ${a.skippedLocked.join(', ')}` : ''}\n`,
            );
          }
        }
      } finally {
        await app.close();
      }
    });
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
