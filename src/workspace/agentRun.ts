// Runs one operation of the node agent (perl, sent with the exec) and talks to it: replies
// come as lines (and, for outputs, framed bytes) on stdout, our side writes to its stdin
// through ExecHandlers.feed. Errors are sorted out here once: the exec's own (SshError,
// AbortError) pass through; an `ERR <kind> <msg>` line becomes a WorkspaceError of that kind;
// a node without perl or its core modules is 'no-perl'; anything else that ends the
// conversation early is 'transport' (retryable).

import type { Exec } from '../engine/exec.js';
import { isAbortError } from '../ssh/errors.js';
import type { StdinSink } from '../ssh/pool.js';
import { shq, shqArgs } from '../ssh/quote.js';
import { AGENT_ADMIN } from './agent/admin.js';
import { AGENT_COMMON } from './agent/common.js';
import { AGENT_OUTPUTS } from './agent/outputs.js';
import { AGENT_SYNC } from './agent/sync.js';
import { AGENT_TREE } from './agent/tree.js';
import { decodeToken } from './relPath.js';
import { WorkspaceError, type NodeWorkspaceConfig, type WorkspaceErrorKind } from './types.js';

const OPS = { sync: AGENT_SYNC + AGENT_TREE, outputs: AGENT_OUTPUTS, release: AGENT_ADMIN, list: AGENT_ADMIN, prune: AGENT_ADMIN } as const;
export type AgentOp = keyof typeof OPS;

const NO_PERL = 'clusterflow: perl not found on this node';

/** The exec's command line: a perl check, then the agent (common part + the op's part) and its arguments. */
export function agentCommand(op: AgentOp, args: readonly string[]): string {
  const script = `${AGENT_COMMON}${OPS[op]}\nexit(op_${op}(@ARGV) // 0);\n`;
  return `command -v perl >/dev/null 2>&1 || { echo ${shq(NO_PERL)} "(PATH=$PATH)" >&2; exit 127; }; exec perl -e ${shq(script)} -- ${shqArgs(args)}`;
}

export const nodeLabel = (node: NodeWorkspaceConfig | undefined): string => `node ${node?.id ?? '?'}`;

/** The agent's stdout as an async source of lines and byte runs. */
export class AgentStream {
  private chunks: Buffer[] = [];
  private length = 0;
  private ended = false;
  private wake: (() => void) | null = null;
  nodeError: WorkspaceError | null = null;

  constructor(private readonly label: string) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async more(): Promise<void> {
    if (this.ended) throw new WorkspaceError('transport', `${this.label}: the workspace agent stopped in the middle of the conversation`);
    await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** The next line (without "\n"); an `ERR kind msg` line throws that error. */
  async line(): Promise<string> {
    for (;;) {
      const head = this.chunks.length > 1 ? this.flatten() : this.chunks[0];
      const nl = head ? head.indexOf(10) : -1;
      if (nl >= 0) {
        const text = head!.subarray(0, nl).toString('utf8');
        this.take(nl + 1);
        if (text.startsWith('ERR ')) throw this.fail(text);
        return text;
      }
      await this.more();
    }
  }

  /** Passes the next n bytes to onChunk, as they arrive. */
  async bytes(n: number, onChunk: (b: Buffer) => void): Promise<void> {
    while (n > 0) {
      if (this.length === 0) {
        await this.more();
        continue;
      }
      const head = this.chunks[0]!;
      const part = head.length <= n ? head : head.subarray(0, n);
      onChunk(part);
      this.take(part.length);
      n -= part.length;
    }
  }

  /** After the agent ended: an `ERR` line left unread (the conversation was busy writing) still counts. */
  scanForError(): void {
    if (this.nodeError || this.length === 0) return;
    const line = this.flatten()
      .toString('latin1')
      .split('\n')
      .find((l) => l.startsWith('ERR '));
    if (line) this.fail(Buffer.from(line, 'latin1').toString('utf8'));
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all;
  }

  private take(n: number): void {
    const head = this.chunks[0]!;
    if (n === head.length) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.length -= n;
  }

  private fail(line: string): WorkspaceError {
    const [, kind = 'node', msg = ''] = /^ERR (\S+) ?(.*)$/.exec(line) ?? [];
    const known: WorkspaceErrorKind[] = ['bad-input', 'limits', 'unsafe-path', 'no-perl', 'disk-full', 'busy', 'node', 'transport'];
    const k = (known as string[]).includes(kind) ? (kind as WorkspaceErrorKind) : 'node';
    let text: string;
    try {
      text = decodeToken(msg);
    } catch {
      text = msg;
    }
    this.nodeError = new WorkspaceError(k, `${this.label}: ${text}`);
    return this.nodeError;
  }
}

export interface AgentCall {
  op: AgentOp;
  args: readonly string[];
  node?: NodeWorkspaceConfig;
  signal?: AbortSignal;
  /** The conversation: reads replies, writes to stdin when `sink` is given (feed). */
  converse: (replies: AgentStream, sink: StdinSink | null) => Promise<void>;
  /** Whether the agent reads stdin (otherwise stdin is at EOF at once). */
  stdin: boolean;
}

/** Runs the agent and the conversation; resolves when both finished well. */
export async function runAgent(exec: Exec, call: AgentCall): Promise<void> {
  const label = nodeLabel(call.node);
  const replies = new AgentStream(label);
  const stderr: Buffer[] = [];
  let stderrBytes = 0;
  let convo!: Promise<void>;
  let started = false;
  const start = (sink: StdinSink | null) => {
    started = true;
    convo = call.converse(replies, sink);
    convo.catch(() => undefined); // judged below, after the exec
    return convo;
  };
  let result;
  try {
    result = await exec(agentCommand(call.op, call.args), {
      signal: call.signal,
      onStdout: (chunk) => replies.push(chunk),
      onStderr: (chunk) => {
        if (stderrBytes < 65536) stderr.push(chunk);
        stderrBytes += chunk.length;
      },
      ...(call.stdin ? { feed: (sink: StdinSink) => start(sink) } : {}),
    });
  } finally {
    replies.end();
  }
  if (!call.stdin) void start(null); // its outcome is judged below, through `convo`
  if (!started) throw new WorkspaceError('transport', `${label}: the workspace agent never received its input`);
  const convoError = await convo.then(
    () => null,
    (e: unknown) => e,
  );
  const errText = Buffer.concat(stderr).toString('utf8').trim();
  replies.scanForError();
  if (replies.nodeError) throw replies.nodeError;
  if (result.code === 127 && errText.includes(NO_PERL)) {
    throw new WorkspaceError('no-perl', `${label}: perl is not installed (or not on PATH); workspace sync needs perl with its core modules`);
  }
  const missing = /Can't locate (\S+)\.pm in @INC/.exec(errText);
  if (missing) {
    throw new WorkspaceError(
      'no-perl',
      `${label}: perl lacks the core module ${missing[1]!.replace(/\//g, '::')}; install the full perl package (not only perl-base)`,
    );
  }
  if (convoError) {
    if ((convoError instanceof WorkspaceError && convoError.kind !== 'transport') || isAbortError(convoError)) throw convoError;
    const why = result.code !== 0 ? ` (agent exit ${result.code ?? result.signal}${errText ? `: ${errText.slice(-500)}` : ''})` : '';
    const base = convoError instanceof Error ? convoError.message : String(convoError);
    throw new WorkspaceError('transport', `${base}${why}`, { cause: convoError });
  }
  if (result.code !== 0) {
    throw new WorkspaceError(
      'transport',
      `${label}: the workspace agent exited with ${result.code ?? result.signal}${errText ? `: ${errText.slice(-500)}` : ''}`,
    );
  }
}
