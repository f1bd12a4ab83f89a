// Every transport failure of the SSH layer becomes one SshError with a kind and a
// retryable flag, decided in one place (classifySshError) from ssh2's `err.level` and the
// socket error codes. Callers (activities, the Temporal retry policy) look only at these.

export type SshErrorKind =
  | 'auth' // the server refused our key: permanent
  | 'host-key' // the host key changed, is revoked, or is unknown under the strict policy: permanent
  | 'connect' // TCP connect refused / unreachable / dropped before the SSH handshake
  | 'dns' // the name did not resolve
  | 'timeout' // no handshake within the connect timeout
  | 'channel' // the connection is fine but the server would not open a session channel
  | 'protocol' // SSH protocol or negotiation failure
  | 'lost'; // an established connection died (keepalive timeout, reset) with work in flight

export class SshError extends Error {
  override name = 'SshError';
  constructor(
    message: string,
    readonly kind: SshErrorKind,
    readonly retryable: boolean,
    readonly nodeId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EADDRNOTAVAIL',
  'ECONNABORTED',
]);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL']);

interface Ssh2LikeError {
  message?: string;
  level?: string;
  code?: string;
}

/** Map anything ssh2, net or fs throws at us to an SshError. */
export function classifySshError(err: unknown, nodeId: string): SshError {
  if (err instanceof SshError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as Ssh2LikeError;
  const msg = e.message ?? String(err);
  const make = (kind: SshErrorKind, retryable: boolean, text: string) => new SshError(`node ${nodeId}: ${text}`, kind, retryable, nodeId, { cause: err });

  if (/Channel open failure|No free channels|Unable to exec|Unable to start subsystem/i.test(msg)) {
    return make('channel', true, `could not open an SSH session channel (${msg})`);
  }
  if (e.level === 'client-authentication') {
    return make('auth', false, `SSH authentication failed (${msg}): check the user and identity_file`);
  }
  if (/Host denied/i.test(msg)) {
    return make('host-key', false, `host key refused (${msg})`);
  }
  if (e.level === 'client-dns' || (e.code && DNS_CODES.has(e.code))) {
    return make('dns', true, `cannot resolve the host name (${msg})`);
  }
  if (e.level === 'client-timeout') {
    if (/keepalive/i.test(msg)) return make('lost', true, `connection lost: no keepalive reply (${msg})`);
    return make('timeout', true, `no SSH handshake within the connect timeout (${msg})`);
  }
  if (e.code && CONNECT_CODES.has(e.code)) {
    return make('connect', true, `cannot connect (${msg})`);
  }
  if (/Connection lost before handshake/i.test(msg)) {
    return make('connect', true, `connection dropped before the SSH handshake (${msg}); the server may be starting or throttling logins`);
  }
  if (e.level === 'client-socket') return make('connect', true, `socket error (${msg})`);
  // Key exchange / algorithm negotiation failures do not fix themselves.
  if (e.level === 'handshake') return make('protocol', false, `SSH handshake failed (${msg})`);
  if (/Not connected|No response from server/i.test(msg)) return make('lost', true, `connection lost (${msg})`);
  return make('protocol', true, `SSH error (${msg})`);
}

/** The error an aborted exec rejects with: recognisable by name, like fetch's AbortError. */
export class ExecAbortedError extends Error {
  override name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(reason?: unknown) {
    super('exec aborted', reason === undefined ? undefined : { cause: reason });
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
