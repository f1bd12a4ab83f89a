// zod schemas of every tool's input and output. Inputs are strict about what may reach a shell
// or a Temporal id: length caps, no NUL bytes, no control characters where none belong.
import { z } from 'zod';
import { ARCH_ACCEPTED, normaliseArch, normaliseOs, OS_ACCEPTED } from '../cluster/placement.js';
import { RESERVED_ENV, TASK_ID_PATTERN } from '../shared.js';
import { strictInput } from './schemaParse.js';
import { commandProblems, noNul, NOT_UNICODE, plainChars, wellFormed } from './textChecks.js';

export const MAX_COMMAND_LENGTH = 64 * 1024;
export const MAX_WAIT_S = 600;
export const MAX_TIMEOUT_S = 7 * 24 * 3600;

export const commandField = z
  .string()
  .min(1, 'command is empty')
  .max(MAX_COMMAND_LENGTH, `command is longer than ${MAX_COMMAND_LENGTH} characters`)
  // One check naming every problem, not four .refine()s: each is a layer of zod effects (a promise
  // per layer per command under the MCP SDK's async parse), 4× the time for a 10,000-command fan-out.
  .superRefine((s, ctx) => {
    for (const message of commandProblems(s)) ctx.addIssue({ code: z.ZodIssueCode.custom, message });
  })
  .describe('Shell command, run with bash -c on the chosen node');

export const nodeIdField = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'node ids are letters, digits, "-" and "_"')
  .describe('Node id from cluster_status, e.g. "n1"');

export const taskIdField = z
  .string()
  .min(1)
  .max(200)
  .regex(TASK_ID_PATTERN, 'not a task id of clusterflow (task ids look like cmd-01j…, par-01j… or par-01j…/3)')
  .describe('Task id returned by cluster_bash, offload_to or parallel_execute');

/**
 * The original tool took "darwin", "macOS", "ARM64", "x86-64"...: they are folded to the
 * canonical value before the enum check, so the advertised JSON Schema still lists the
 * canonical values (preprocess converts as its inner enum) and results show those.
 */
const fold = (normalise: (s: string) => string | undefined) => (v: unknown) => (typeof v === 'string' ? (normalise(v) ?? v) : v);
export const osField = z
  .preprocess(fold(normaliseOs), z.enum(['linux', 'macos'], { errorMap: () => ({ message: `expected ${OS_ACCEPTED}` }) }))
  .describe(`Required operating system: ${OS_ACCEPTED}`);
export const archField = z
  .preprocess(fold(normaliseArch), z.enum(['x86_64', 'arm64'], { errorMap: () => ({ message: `expected ${ARCH_ACCEPTED}` }) }))
  .describe(`Required CPU architecture: ${ARCH_ACCEPTED}`);
export const capabilitiesField = z
  .array(
    z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_.:-]+$/, 'capability names are letters, digits and _ . : -'),
  )
  .max(32)
  .describe('Capabilities the node must have, e.g. ["docker"]');

export const timeoutField = z
  .number()
  .positive()
  .max(MAX_TIMEOUT_S)
  .describe('Kill the command (its whole process group) after this many seconds; default CLUSTER_CMD_TIMEOUT (300)');
export const waitField = z
  .number()
  .min(0)
  .max(MAX_WAIT_S)
  .describe('Seconds to wait for the result before returning {task_id, state:"running"} (default 30); finish with task_status');
export const cwdField = z
  .string()
  .min(1)
  .max(4096)
  .refine(plainChars, 'cwd contains control characters')
  .refine(wellFormed, `cwd ${NOT_UNICODE}`)
  .describe(
    'Directory of the files the command works on, here on the machine of the MCP server (absolute). With workspace auto (default) the node runs in it where it sees it (the local node, a shared path), else in a copy synced to the node first',
  );
export const workspaceField = z
  .enum(['auto', 'sync', 'shared', 'none'])
  .describe(
    "How the node gets cwd: auto (default) = in place where the node sees it, else synced; sync = always copy it first; shared = the node mounts it at the same path; none = ignore cwd (run in the node user's home)",
  );
export const outputsField = z
  .array(z.string().min(1).max(1024).refine(plainChars, 'an outputs glob contains control characters'))
  .max(64)
  .describe('Globs relative to cwd (e.g. ["build/app", "dist/**"]) copied back from the synced workspace after the command, whatever its exit code');
export const envField = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names are letters, digits and _, not starting with a digit')
      .refine((k) => !RESERVED_ENV.test(k), "environment variable names starting with __cf are reserved for clusterflow's runner"),
    z
      .string()
      .max(32 * 1024)
      .refine(noNul, 'environment values cannot contain NUL bytes')
      .refine(wellFormed, `an environment value ${NOT_UNICODE}`),
  )
  .refine((e) => Object.keys(e).length <= 64, 'at most 64 environment variables')
  .describe('Extra environment variables for the command');

export const commandInput = strictInput({
  command: commandField,
  requires_os: osField.optional(),
  requires_arch: archField.optional(),
  requires_capabilities: capabilitiesField.optional(),
  auto_route: z.boolean().default(true).describe('Route by load/OS/arch (true) or run on the local node (false)'),
  timeout_s: timeoutField.optional(),
  cwd: cwdField.optional(),
  workspace: workspaceField.optional(),
  outputs: outputsField.optional(),
  env: envField.optional(),
  wait_s: waitField.optional(),
});

export const offloadInput = strictInput({
  command: commandField,
  node_id: nodeIdField,
  timeout_s: timeoutField.optional(),
  cwd: cwdField.optional(),
  workspace: workspaceField.optional(),
  outputs: outputsField.optional(),
  env: envField.optional(),
  wait_s: waitField.optional(),
});

const state = z.enum(['running', 'completed', 'failed', 'cancelled', 'timed_out']);

/** A finished command, or {task_id, state:"running"} when wait_s passed first. */
export const commandResultShape = {
  task_id: z.string(),
  state,
  workflow_url: z.string(),
  success: z.boolean().optional(),
  executed_on: z.string().optional(),
  stdout: z.string().optional(),
  stderr: z.string().optional(),
  return_code: z.number().int().nullable().optional(),
  auto_routed: z.boolean().optional(),
  error: z.string().nullable().optional(),
  duration_ms: z.number().optional(),
  route_reason: z.string().optional(),
  truncated: z.boolean().optional(),
  output_capped: z.boolean().optional().describe('more than CLUSTERFLOW_MAX_OUTPUT was printed on a stream: only that much was stored'),
  workspace: z
    .object({
      mode: z.enum(['sync', 'in-place', 'skipped']),
      node_path: z.string(),
      files: z.number().optional(),
      bytes_sent: z.number().optional(),
      blobs_reused: z.number().optional(),
      sync_ms: z.number().optional(),
      note: z.string().optional(),
    })
    .optional()
    .describe('how the node got cwd: synced (what it cost) or in place'),
  outputs_returned: z
    .array(z.object({ path: z.string(), size: z.number() }))
    .optional()
    .describe('files copied back to cwd'),
};
export const commandResultSchema = z.object(commandResultShape);

export const nodeStateSchema = z.object({
  id: z.string(),
  status: z.enum(['healthy', 'busy', 'unreachable', 'unknown']),
  os: z.string().optional(),
  arch: z.string().optional(),
  cpu_percent: z.number().optional(),
  memory_percent: z.number().optional(),
  load_avg: z.array(z.number()).optional(),
  cores: z.number().optional(),
  in_flight: z.number(),
  capabilities: z.array(z.string()),
  specialties: z
    .array(z.string())
    .optional()
    .describe("what the node is best at (the original tool's specialties): breaks ties between equally loaded nodes for commands of that kind"),
  last_seen: z.string().optional(),
  reason: z.string().optional(),
  worker: z.boolean().optional().describe("a worker serves this node's queue (false: nobody does; commands sent there wait)"),
  host: z.string().optional(),
  priority: z.number().optional(),
  max_parallel: z.number().optional(),
});

export const clusterStatusShape = {
  local_node: z.string().nullable(),
  probed_at: z.string().nullable(),
  nodes: z.record(nodeStateSchema),
};

export const parallelInput = strictInput({
  commands: z
    .array(commandField)
    .min(1, 'commands is empty')
    .max(20_000, 'at most 20000 commands per call')
    .describe('Shell commands to run in parallel across the cluster; results come back in this order'),
  requires_os: osField.optional(),
  requires_arch: archField.optional(),
  max_parallel: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .optional()
    .describe('Commands in flight at once across the cluster (default 64; each node also caps at its max_parallel)'),
  timeout_s: timeoutField.optional(),
  cwd: cwdField.optional(),
  workspace: workspaceField.optional(),
  outputs: outputsField.optional(),
  wait_s: waitField.optional(),
});

const summaryShape = z.object({
  total: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  cancelled: z.number(),
  by_node: z.record(z.object({ succeeded: z.number(), failed: z.number() })),
});

/** A fan-out's result, or {task_id, state:"running", progress} when wait_s passed first. */
export const parallelResultShape = {
  task_id: z.string(),
  state,
  workflow_url: z.string(),
  summary: summaryShape.optional(),
  results: z.array(commandResultSchema.partial({ workflow_url: true })).optional(),
  results_omitted: z.boolean().optional(),
  duration_ms: z.number().optional(),
  progress: z.object({ total: z.number(), done: z.number(), by_node: z.record(z.number()) }).optional(),
  outputs_returned: z
    .record(z.array(z.object({ path: z.string(), size: z.number() })))
    .optional()
    .describe('files copied back to cwd, by node'),
};

export const taskStatusShape = {
  ...commandResultShape,
  summary: summaryShape.optional(),
  results: z.array(commandResultSchema.partial({ workflow_url: true })).optional(),
  results_omitted: z.boolean().optional(),
  progress: z.object({ total: z.number(), done: z.number(), by_node: z.record(z.number()) }).optional(),
};

export const taskOutputInput = strictInput({
  task_id: taskIdField,
  stream: z.enum(['stdout', 'stderr']).default('stdout').describe('Which stream'),
  offset: z.number().int().min(0).default(0).describe('Byte offset to start at (next_offset of the previous page)'),
  limit: z
    .number()
    .int()
    .min(1)
    .max(1024 * 1024)
    .default(256 * 1024)
    .describe('Bytes per page (max 1 MiB)'),
  encoding: z.enum(['utf8', 'base64']).default('utf8').describe('base64 for binary output'),
});

export const taskOutputShape = {
  task_id: z.string(),
  stream: z.enum(['stdout', 'stderr']),
  offset: z.number(),
  next_offset: z.number(),
  total_bytes: z.number(),
  eof: z.boolean(),
  data: z.string(),
  encoding: z.enum(['utf8', 'base64']),
  running: z.boolean().optional().describe('read live from the node while the task runs: the stream may grow'),
};

export const taskListInput = strictInput({
  state: state.optional().describe('Only tasks in this state'),
  limit: z.number().int().min(1).max(1000).default(50).describe('At most this many, newest first'),
});

/** For the tools whose input is one task id (task_status, task_cancel). */
export const taskIdInput = strictInput({ task_id: taskIdField });
export const clusterStatusInput = strictInput({ refresh: z.boolean().default(false).describe('Probe every node now instead of reading the last probe') });

export const taskListShape = {
  tasks: z.array(z.object({ task_id: z.string(), state: z.string(), node: z.string(), command: z.string(), started: z.string(), workflow_url: z.string() })),
};
