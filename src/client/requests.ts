// What a caller asks the task client for, and the shapes it answers with; the checks every
// request passes before a workflow starts (size of the input, task ids).
import { monotonicFactory } from 'ulid';
import { commandKinds } from '../cluster/specialties.js';
import { TASK_ID_PATTERN, type CommandResult, type ParallelResult, type Requirements, type TaskState, type WorkspaceMode } from '../shared.js';
import { UserError } from './errors.js';

export interface SubmitRequest {
  command: string;
  nodeId?: string;
  requires?: Requirements;
  timeoutS?: number;
  cwd?: string;
  env?: Record<string, string>;
  /** Policy rules a person approved for this command (MCP elicitation). */
  approved?: string[];
  workspace?: WorkspaceMode;
  /** Globs (relative to cwd) copied back after the command, from a synced workspace. */
  outputs?: string[];
  /** The cwd is the CLI's default, not asked for: a tree over the limits runs without a workspace. */
  cwdIsDefault?: boolean;
}

export interface ParallelRequest {
  commands: string[];
  requires?: Requirements;
  maxParallel?: number;
  timeoutS?: number;
  cwd?: string;
  env?: Record<string, string>;
  approved?: string[];
  workspace?: WorkspaceMode;
  outputs?: string[];
  cwdIsDefault?: boolean;
}

export interface RunningTask {
  task_id: string;
  state: 'running';
  workflow_url: string;
  executed_on?: string;
}

export type TaskStatus = (CommandResult & { state: TaskState }) | RunningTask | (ParallelResult & { workflow_url: string });

const newUlid = monotonicFactory();
export const newTaskId = (kind: 'cmd' | 'par' = 'cmd'): string => `${kind}-${newUlid().toLowerCase()}`;

/** `par-…/17` names command 17 of fan-out `par-…`. */
export function subTask(taskId: string): { parent: string; index: number } | null {
  const m = /^(par-[0-9a-z]+)\/(\d+)$/.exec(taskId);
  return m ? { parent: m[1]!, index: Number(m[2]) } : null;
}

/** Commands in flight at once across the cluster for a fan-out that does not say. */
export const DEFAULT_MAX_PARALLEL = 64;

/**
 * A workflow's input travels as one Temporal payload, and payloads over 2 MiB are refused (a
 * warning starts at 512 KiB). Bigger requests are refused here, with a message that says so.
 */
const MAX_INPUT_BYTES = 1536 * 1024;

/** Refuses an input over MAX_INPUT_BYTES (UserError); returns its size in bytes. */
export function checkInputSize(what: string, input: unknown): number {
  const bytes = inputBytes(input);
  if (bytes > MAX_INPUT_BYTES) {
    throw new UserError(
      `${what} is ${(bytes / 1024 / 1024).toFixed(1)} MiB as a workflow input; the limit is ${MAX_INPUT_BYTES / 1024 / 1024} MiB ` +
        '(Temporal refuses payloads over 2 MiB): split it into several calls, or put long scripts in files on the nodes',
    );
  }
  return bytes;
}

/** An input's size as a workflow payload (JSON), in bytes. */
export function inputBytes(input: unknown): number {
  return Buffer.byteLength(JSON.stringify(input));
}

/** Whether `extraBytes` more still fit an input of `bytes` (something optional it may carry). */
export function inputRoomFor(bytes: number, extraBytes: number): boolean {
  return bytes + extraBytes <= MAX_INPUT_BYTES;
}

/** Task tools act on tasks only: the cluster monitor and other workflows are not theirs to cancel or read. */
export function checkTaskId(taskId: string): void {
  if (!TASK_ID_PATTERN.test(taskId))
    throw new UserError(`"${taskId.slice(0, 80)}" is not a task id of clusterflow (task ids look like cmd-01j…, par-01j… or par-01j…/3)`, 'invalid');
}

/** `{ kinds }` of the commands together, only when a node could care (placement's tie-break); else nothing. */
export function kindsOf(commands: readonly string[]): { kinds?: string[] } {
  const kinds = [...new Set(commands.flatMap(commandKinds))];
  return kinds.length ? { kinds } : {};
}

/** Whitespace folded, at most `max` characters. */
export function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}
