// What a parser cannot decide, a person does: a command the policy flags for confirmation (code
// handed to an interpreter, a shell fed from a pipe, ...) is shown to the user through MCP
// elicitation, with the node and the rule; yes runs it (the approved rules travel with the task,
// encrypted, and the worker checks them again), no refuses it. A client without elicitation gets
// the refusal with the rule and how to allow it.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { NeedsApproval, UserError } from '../client/errors.js';

const MAX_SHOWN = 10;

/** The approved rules, or a UserError saying why it does not run. */
export async function askApproval(server: McpServer, need: NeedsApproval, what: { commands: string[]; node?: string }): Promise<string[]> {
  if (!server.server.getClientCapabilities()?.elicitation) {
    throw new UserError(
      `${need.message}. This MCP client cannot ask you to confirm (it does not support elicitation): run it from a client that does, or allow the program in the node's policy (cluster.yaml: policy.allow)`,
      'refused',
    );
  }
  const shown = what.commands
    .slice(0, MAX_SHOWN)
    .map((c) => `  ${c.length > 300 ? `${c.slice(0, 297)}...` : c}`)
    .join('\n');
  const more = what.commands.length > MAX_SHOWN ? `\n  ... and ${what.commands.length - MAX_SHOWN} more` : '';
  const why = need.findings.map((f) => `- ${f.message}`).join('\n');
  const res = await server.server.elicitInput({
    message: `clusterflow wants to run on ${what.node ?? 'the node placement picks'}:\n${shown}${more}\n\nThe policy cannot tell whether this is safe:\n${why}\n\nRun it?`,
    requestedSchema: {
      type: 'object',
      properties: { run: { type: 'boolean', title: 'Run it', description: 'Yes: run the command(s) as shown. No: do not run anything.' } },
      required: ['run'],
    },
  });
  if (res.action === 'accept' && res.content?.run === true) return [...new Set(need.findings.map((f) => f.rule))];
  throw new UserError(
    `not run: ${res.action === 'accept' ? 'you answered no' : `the confirmation was ${res.action === 'decline' ? 'declined' : 'cancelled'}`} (${need.findings.map((f) => f.rule).join(', ')})`,
    'refused',
  );
}
