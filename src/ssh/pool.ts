// SSH connection pool, per node. sshd allows MaxSessions (10) channels per connection but
// frees slots late, and MaxStartups throttles logins: so each node gets a few connections
// with a few channels each, a cap on concurrent handshakes, and a FIFO queue beyond that.
// Connections are kept (keepalive on); a command never pays for a new login.

import { readFile } from 'node:fs/promises';
import { SshConnection, type SshAuth } from './connection.js';
import { ExecAbortedError, SshError } from './errors.js';
import type { KnownHosts } from './hostKeys.js';

export interface SshTarget {
  nodeId: string;
  /** Resolved address. */
  host: string;
  port: number;
  user: string;
  identityFile?: string;
  connectTimeoutMs: number;
  /** The configured host name, when `host` is an address resolved from it: known_hosts entries under it count too. */
  hostName?: string;
}

export interface ExecHandlers {
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Abort → close the channel and reject with an AbortError; the caller kills the remote group separately. */
  signal?: AbortSignal;
  /** Called when the command is handed to a live connection: from then on it may run on the node. */
  onSent?: () => void;
  /** Written to the command's stdin when it resolves, then EOF. Without it (or feed) stdin is at EOF at once. */
  stdin?: Promise<string>;
  /**
   * Streams the command's stdin instead: write as much as wanted (each write resolves once the
   * data may be sent, so a big stream keeps to the channel's window), then EOF when feed settles.
   */
  feed?: (sink: StdinSink) => Promise<void>;
}

/** The writing end of a command's stdin (see ExecHandlers.feed). */
export interface StdinSink {
  write(data: Buffer | string): Promise<void>;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
}

export interface SshPoolOptions {
  knownHosts: KnownHosts;
  maxConnectionsPerNode?: number;
  maxChannelsPerConnection?: number;
  maxHandshakesPerNode?: number;
  keepaliveIntervalMs?: number;
  channelOpenRetries?: number;
  /** CLUSTER_SSH_TIMEOUT in ms: a session (channel + exec request) must open within it (see SshConnection). */
  sessionTimeoutMs?: number;
  log?: (msg: string, extra?: object) => void;
}

interface Waiter {
  command: string;
  h: ExecHandlers;
  resolve: (r: ExecResult) => void;
  reject: (e: unknown) => void;
  onAbort?: () => void;
}

interface NodePool {
  target: SshTarget;
  key: string;
  conns: SshConnection[];
  queue: Waiter[];
  handshakes: number;
}

const targetKey = (t: SshTarget) => JSON.stringify([t.host, t.port, t.user, t.identityFile ?? '']);

export class SshPool {
  private readonly nodes = new Map<string, NodePool>();
  private readonly keys = new Map<string, Promise<Buffer>>();
  private readonly maxConns: number;
  private readonly maxChannels: number;
  private readonly maxHandshakes: number;
  private closing = false;

  constructor(private readonly opts: SshPoolOptions) {
    this.maxConns = opts.maxConnectionsPerNode ?? 4;
    this.maxChannels = opts.maxChannelsPerConnection ?? 4;
    this.maxHandshakes = opts.maxHandshakesPerNode ?? 3;
  }

  /** Run `command` on the node. Rejects with SshError for transport problems only; a non-zero exit is a result. */
  exec(target: SshTarget, command: string, h: ExecHandlers = {}): Promise<ExecResult> {
    if (this.closing) return Promise.reject(new SshError(`node ${target.nodeId}: SSH pool is closed`, 'lost', false, target.nodeId));
    if (h.signal?.aborted) return Promise.reject(new ExecAbortedError(h.signal.reason));
    const node = this.nodeFor(target);
    return new Promise<ExecResult>((resolve, reject) => {
      const w: Waiter = { command, h, resolve, reject };
      if (h.signal) {
        const signal = h.signal;
        w.onAbort = () => {
          const i = node.queue.indexOf(w);
          if (i >= 0) node.queue.splice(i, 1);
          reject(new ExecAbortedError(signal.reason));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      node.queue.push(w);
      this.pump(node);
    });
  }

  stats(): Record<string, { connections: number; busyChannels: number; queued: number }> {
    const out: Record<string, { connections: number; busyChannels: number; queued: number }> = {};
    for (const [id, n] of this.nodes) {
      const live = n.conns.filter((c) => c.state !== 'dead');
      out[id] = { connections: live.length, busyChannels: live.reduce((s, c) => s + c.busy, 0), queued: n.queue.length };
    }
    return out;
  }

  /** Drop a node's connections: queued and in-flight execs fail with a retryable 'lost' error. */
  closeNode(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (!node) return;
    this.nodes.delete(nodeId);
    this.failQueue(node, new SshError(`node ${nodeId}: SSH connections closed by the pool`, 'lost', true, nodeId));
    for (const c of node.conns) c.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    const conns = [...this.nodes.values()].flatMap((n) => n.conns);
    for (const id of [...this.nodes.keys()]) this.closeNode(id);
    await Promise.all(conns.map((c) => c.closed));
  }

  private nodeFor(target: SshTarget): NodePool {
    const key = targetKey(target);
    let node = this.nodes.get(target.nodeId);
    if (!node) {
      node = { target, key, conns: [], queue: [], handshakes: 0 };
      this.nodes.set(target.nodeId, node);
    } else if (node.key !== key) {
      // Address, port, user or key changed: old connections finish their work, then go.
      this.opts.log?.('ssh target changed, draining old connections', { nodeId: target.nodeId });
      for (const c of node.conns) {
        c.draining = true;
        if (c.busy === 0) c.close();
      }
      node.target = target;
      node.key = key;
    } else {
      node.target = target; // e.g. a new connect timeout
    }
    return node;
  }

  private pump(node: NodePool): void {
    while (node.queue.length > 0) {
      let best: SshConnection | undefined;
      for (const c of node.conns) {
        if (c.state === 'ready' && !c.draining && c.busy < this.maxChannels && (!best || c.busy < best.busy)) best = c;
      }
      if (!best) return this.maybeOpen(node);
      const w = node.queue.shift()!;
      if (w.onAbort) w.h.signal?.removeEventListener('abort', w.onAbort);
      w.h.onSent?.();
      best.exec(w.command, w.h).then(w.resolve, w.reject);
    }
  }

  /** Open connections while the queue is longer than what is already on its way. */
  private maybeOpen(node: NodePool): void {
    for (;;) {
      const live = node.conns.filter((c) => c.state !== 'dead' && !c.draining);
      const coming = live.filter((c) => c.state === 'connecting').length * this.maxChannels;
      if (node.queue.length <= coming || live.length >= this.maxConns || node.handshakes >= this.maxHandshakes) return;
      this.open(node);
    }
  }

  private open(node: NodePool): void {
    const target = node.target;
    node.handshakes++;
    const conn = new SshConnection({
      target,
      knownHosts: this.opts.knownHosts,
      auth: this.authFor(target),
      keepaliveIntervalMs: this.opts.keepaliveIntervalMs ?? 5000,
      channelOpenRetries: this.opts.channelOpenRetries ?? 4,
      ...(this.opts.sessionTimeoutMs ? { sessionTimeoutMs: this.opts.sessionTimeoutMs } : {}),
      log: this.opts.log,
      onChange: (c) => this.onConnectionChange(node, c),
    });
    node.conns.push(conn);
    conn.ready.then(
      () => {
        node.handshakes--;
        this.pump(node);
      },
      (err: unknown) => {
        node.handshakes--;
        this.opts.log?.('ssh connect failed', { nodeId: target.nodeId, error: String((err as Error)?.message ?? err) });
        // Another connection may still serve the queue; if none, the queue fails now (no reconnect loop).
        const others = node.conns.filter((c) => c !== conn && c.state !== 'dead' && !c.draining);
        if (others.length === 0) this.failQueue(node, err);
        else if (others.some((c) => c.state === 'ready')) this.pump(node);
      },
    );
  }

  private onConnectionChange(node: NodePool, conn: SshConnection): void {
    if (conn.state === 'dead') {
      const i = node.conns.indexOf(conn);
      if (i >= 0) node.conns.splice(i, 1);
      // Work queued behind a connection that died may need a fresh one; a failed handshake
      // is handled by the ready rejection in open() instead (no reconnect loop).
      if (conn.wasReady && node.queue.length > 0 && this.nodes.get(node.target.nodeId) === node) this.pump(node);
      return;
    }
    if (conn.draining && conn.busy === 0) conn.close();
    else this.pump(node);
  }

  private failQueue(node: NodePool, err: unknown): void {
    for (const w of node.queue.splice(0)) {
      if (w.onAbort) w.h.signal?.removeEventListener('abort', w.onAbort);
      w.reject(err);
    }
  }

  /** Key file read once per path (a failed read is retried next time); else the agent. */
  private authFor(target: SshTarget): Promise<SshAuth> {
    const path = target.identityFile;
    if (!path) {
      const agent = process.env.SSH_AUTH_SOCK;
      if (agent) return Promise.resolve({ agent });
      return Promise.reject(
        new SshError(`node ${target.nodeId}: no identity_file configured and no SSH agent (SSH_AUTH_SOCK) to use`, 'auth', false, target.nodeId),
      );
    }
    let key = this.keys.get(path);
    if (!key) {
      key = readFile(path);
      this.keys.set(path, key);
      key.catch(() => this.keys.delete(path));
    }
    return key.then(
      (privateKey) => ({ privateKey }),
      (err: Error) => {
        throw new SshError(`node ${target.nodeId}: cannot read identity_file ${path} (${err.message})`, 'auth', false, target.nodeId, { cause: err });
      },
    );
  }
}
