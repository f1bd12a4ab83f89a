// One pooled SSH connection: our own TCP socket with TCP_NODELAY (ssh2 never sets it, which
// costs ~44 ms per exec), host key checked by KnownHosts, and execs on session channels
// that settle exactly once. The pool (pool.ts) decides which connection runs what.

import net from 'node:net';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { classifySshError, ExecAbortedError, SshError } from './errors.js';
import type { KnownHosts } from './hostKeys.js';
import { coalesceWrites, hostKeyAlgorithms } from './connectionTuning.js';
import { watchChannel } from './channelWatch.js';
import type { ExecHandlers, ExecResult, SshTarget } from './pool.js';

/** Unanswered keepalives before ssh2 drops a connection: with the interval, how long silence may last. */
const KEEPALIVE_COUNT_MAX = 3;

export interface SshAuth {
  privateKey?: Buffer;
  agent?: string;
}

export interface ConnectionOptions {
  target: SshTarget;
  knownHosts: KnownHosts;
  auth: Promise<SshAuth>;
  keepaliveIntervalMs: number;
  channelOpenRetries: number;
  /**
   * CLUSTER_SSH_TIMEOUT: how long opening a session and starting the command on it may take. A
   * server that does not answer in time gets no new commands on this connection (it drains); the
   * exec fails with a retryable error once the server is seen answering other requests (or a
   * keepalive window later), instead of waiting forever.
   */
  sessionTimeoutMs?: number;
  log?: (msg: string, extra?: object) => void;
  /** A channel slot came free (or the connection died): the pool may run queued work. */
  onChange: (conn: SshConnection) => void;
}

export class SshConnection {
  state: 'connecting' | 'ready' | 'dead' = 'connecting';
  /** No new channels; closed once idle (the node's address or user changed). */
  draining = false;
  /** Channels held: opening, open, or closing. */
  busy = 0;
  /** It completed its login once (so its death, unlike a failed handshake, may warrant a new one). */
  wasReady = false;
  private closing = false;
  readonly ready: Promise<void>;
  readonly closed: Promise<void>;
  private readonly client = new Client();
  private readonly inflight = new Set<(err: SshError) => void>();
  private markClosed!: () => void;

  constructor(private readonly o: ConnectionOptions) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.ready = this.connect();
    this.ready.catch(() => undefined); // the pool handles it; never an unhandled rejection
  }

  get nodeId(): string {
    return this.o.target.nodeId;
  }

  private async connect(): Promise<void> {
    const { target, knownHosts } = this.o;
    const started = Date.now();
    let auth: SshAuth;
    try {
      auth = await this.o.auth;
    } catch (err) {
      this.die();
      throw err;
    }
    if (this.closing) {
      this.die();
      throw new SshError(`node ${target.nodeId}: connection closed before it was established`, 'lost', true, target.nodeId);
    }
    return new Promise<void>((resolve, reject) => {
      let hostKeyError: SshError | undefined;
      let lastError: unknown;
      const hostNames = target.hostName && target.hostName !== target.host ? [target.host, target.hostName] : [target.host];
      const sock = net.connect({ host: target.host, port: target.port });
      sock.setNoDelay(true);
      coalesceWrites(sock);
      this.client.on('error', (err) => {
        lastError ??= err; // the first error is the cause; ssh2 adds "Connection lost before handshake" after a timeout
        if (this.state === 'ready') this.o.log?.('ssh connection error', { nodeId: target.nodeId, error: err.message });
      });
      this.client.once('ready', () => {
        this.state = 'ready';
        this.wasReady = true;
        this.o.log?.('ssh connected', { nodeId: target.nodeId, host: target.host, port: target.port, ms: Date.now() - started });
        resolve();
      });
      this.client.once('close', () => {
        const id = target.nodeId;
        const reason = lastError instanceof Error ? lastError.message : 'the server closed the connection';
        if (this.state !== 'ready') {
          reject(
            hostKeyError ??
              (lastError
                ? classifySshError(lastError, id)
                : new SshError(`node ${id}: the server closed the connection before the SSH login completed`, 'connect', true, id)),
          );
        } else if (!this.closing) {
          this.o.log?.('ssh connection lost', { nodeId: id, error: reason });
        }
        this.die(new SshError(`node ${id}: SSH connection lost with the command in flight (${reason})`, 'lost', true, id, { cause: lastError }));
      });
      const config: ConnectConfig = {
        sock,
        username: target.user,
        privateKey: auth.privateKey,
        agent: auth.agent,
        readyTimeout: target.connectTimeoutMs,
        keepaliveInterval: this.o.keepaliveIntervalMs,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        hostVerifier: (key: Buffer) => {
          let verdict: ReturnType<KnownHosts['verify']>;
          try {
            verdict = knownHosts.verify(hostNames, target.port, key, target.nodeId);
          } catch (err) {
            // e.g. accept-new could not write the known_hosts file: never connect unchecked
            const why = `cannot check or record the host key (${(err as Error).message})`;
            verdict = { ok: false, error: new SshError(`node ${target.nodeId}: ${why}`, 'host-key', false, target.nodeId, { cause: err }) };
          }
          if (verdict.ok) {
            if (verdict.added) this.o.log?.('recorded new host key', { nodeId: target.nodeId, host: target.host, port: target.port });
            return true;
          }
          hostKeyError = verdict.error;
          return false;
        },
      };
      const preferred = hostKeyAlgorithms(knownHosts.knownKeyTypes(hostNames, target.port));
      if (preferred) config.algorithms = { serverHostKey: preferred as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] };
      try {
        this.client.connect(config);
      } catch (err) {
        // e.g. an encrypted or malformed key: ssh2 throws before it owns the socket
        sock.destroy();
        this.die();
        reject(new SshError(`node ${target.nodeId}: unusable SSH key (${(err as Error).message})`, 'auth', false, target.nodeId, { cause: err }));
      }
    });
  }

  /** Mark dead once, fail what is in flight, tell the pool. */
  private die(err?: SshError): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    const fail = err ?? new SshError(`node ${this.nodeId}: SSH connection closed`, 'lost', true, this.nodeId);
    for (const reject of [...this.inflight]) reject(fail);
    this.inflight.clear();
    this.markClosed();
    this.o.onChange(this);
  }

  close(): void {
    this.closing = true;
    this.client.end();
    // A socket that never connected emits no ssh2 'close'.
    if (this.state === 'connecting') setTimeout(() => this.client.destroy(), 1000).unref();
  }

  /** Run one command on a new session channel. Rejects only for transport problems. */
  exec(command: string, h: ExecHandlers = {}): Promise<ExecResult> {
    const nodeId = this.nodeId;
    this.busy++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.busy--;
      this.o.onChange(this);
    };
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | undefined;
      let openTimer: NodeJS.Timeout | undefined;
      let opened = false; // the server answered the exec request: no more open timeouts
      const settle = (done: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(openTimer);
        this.inflight.delete(onLost);
        h.signal?.removeEventListener('abort', onAbort);
        done();
      };
      const onLost = (err: SshError) => {
        settle(() => reject(err));
        release();
      };
      // Closing the channel is all we can do; the caller kills the detached group itself.
      const onAbort = () => {
        settle(() => reject(new ExecAbortedError(h.signal?.reason)));
        channel?.close();
      };
      if (h.signal?.aborted) return (onAbort(), release());
      this.inflight.add(onLost);
      h.signal?.addEventListener('abort', onAbort, { once: true });

      const timeoutMs = this.o.sessionTimeoutMs;
      const open = (attempt: number) => {
        if (settled) return release();
        if (this.state !== 'ready') return onLost(new SshError(`node ${nodeId}: SSH connection closed before the command started`, 'lost', true, nodeId));
        if (timeoutMs) {
          // Past CLUSTER_SSH_TIMEOUT the connection takes no new work. The open is given up only
          // if the server answers requests meanwhile: a network that drops packets for a few
          // seconds delays its answer by TCP's retransmission backoff (6 s for a 4 s outage),
          // and a silent connection is keepalive's to declare dead (which fails this exec).
          openTimer = setTimeout(() => {
            if (settled) return;
            this.draining = true;
            this.o.log?.('ssh session open slow: no new work on this connection', { nodeId, timeoutMs });
            const giveUp = (why: string) => {
              if (settled || opened) return;
              this.o.log?.('ssh session open timed out', { nodeId, timeoutMs, why: why.replace(/^\W+/, '') });
              settle(() =>
                reject(
                  new SshError(
                    `node ${nodeId}: the SSH server did not open a session and start the command within CLUSTER_SSH_TIMEOUT (${timeoutMs / 1000} s)${why}; a new connection will be used`,
                    'lost',
                    true,
                    nodeId,
                  ),
                ),
              );
              release();
            };
            const graceMs = this.o.keepaliveIntervalMs * KEEPALIVE_COUNT_MAX;
            openTimer = setTimeout(() => giveUp(`, nor answered anything for ${graceMs / 1000} s more`), graceMs);
            // Two round trips: the second leaves after the first's answer, so after any exec
            // request that an open confirmation arriving meanwhile set off. Both answered and
            // still no exec reply: the server is up and not starting the command.
            void this.roundTrip()
              .then(() => this.roundTrip())
              .then(() => giveUp(' although it answers other requests'));
          }, timeoutMs);
        }
        try {
          this.client.exec(command, (err, ch) => {
            opened = !err;
            clearTimeout(openTimer);
            if (err) {
              const e = classifySshError(err, nodeId);
              // sshd frees session slots late: a short backoff usually finds one free.
              if (e.kind === 'channel' && attempt < this.o.channelOpenRetries && !settled && this.state === 'ready') {
                this.o.log?.('ssh channel open retry', { nodeId, attempt: attempt + 1, error: e.message });
                setTimeout(() => open(attempt + 1), 10 * 2 ** attempt + Math.random() * 10);
                return;
              }
              settle(() => reject(e));
              return release();
            }
            channel = ch;
            if (settled) {
              // aborted while opening: the slot is free once the server confirms the close
              ch.once('close', release);
              return void ch.close();
            }
            watchChannel(
              ch,
              h,
              nodeId,
              () => settled,
              release,
              (result) => settle(() => (result instanceof SshError ? reject(result) : resolve(result))),
            );
          });
        } catch (err) {
          onLost(classifySshError(err, nodeId));
        }
      };
      open(0);
    });
  }

  /**
   * Resolves once the server has answered a request sent now, so it has read everything sent
   * before. The request cancels a port forward we never asked for: every server answers it (no)
   * and nothing changes. A connection that dies first leaves it pending; die() fails the exec.
   */
  private roundTrip(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.client.unforwardIn('127.0.0.1', 0, () => resolve());
      } catch {
        /* not connected */
      }
    });
  }
}
