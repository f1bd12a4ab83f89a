import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifySshError, SshError, type SshErrorKind } from '../../src/ssh/errors.js';

const err = (message: string, extra: { level?: string; code?: string } = {}) => Object.assign(new Error(message), extra);

test('classifySshError: kind and retryable from ssh2 levels, socket codes and messages', () => {
  const cases: Array<[string, unknown, SshErrorKind, boolean]> = [
    ['auth', err('All configured authentication methods failed', { level: 'client-authentication' }), 'auth', false],
    ['host key denied', err('Host denied (verification failed)', { level: 'handshake' }), 'host-key', false],
    ['refused', err('connect ECONNREFUSED 127.0.1.2:22', { level: 'client-socket', code: 'ECONNREFUSED' }), 'connect', true],
    ['unreachable', err('connect EHOSTUNREACH', { level: 'client-socket', code: 'EHOSTUNREACH' }), 'connect', true],
    ['tcp timeout', err('connect ETIMEDOUT', { code: 'ETIMEDOUT' }), 'connect', true],
    ['dns level', err('lookup failed', { level: 'client-dns' }), 'dns', true],
    ['dns code', err('getaddrinfo ENOTFOUND x', { level: 'client-socket', code: 'ENOTFOUND' }), 'dns', true],
    ['handshake timeout', err('Timed out while waiting for handshake', { level: 'client-timeout' }), 'timeout', true],
    ['keepalive', err('Keepalive timeout', { level: 'client-timeout' }), 'lost', true],
    ['channel', err('(SSH) Channel open failure: open failed'), 'channel', true],
    ['no ident', err('Connection lost before handshake', { level: 'protocol' }), 'connect', true],
    ['kex failure', err('Handshake failed: no matching key exchange algorithm', { level: 'handshake' }), 'protocol', false],
    ['not connected', err('Not connected'), 'lost', true],
    ['a string', 'weird', 'protocol', true],
  ];
  for (const [name, input, kind, retryable] of cases) {
    const e = classifySshError(input, 'n1');
    assert.ok(e instanceof SshError, name);
    assert.deepEqual([e.kind, e.retryable, e.nodeId], [kind, retryable, 'n1'], name);
    assert.match(e.message, /^node n1: /, name);
  }
  const already = new SshError('x', 'auth', false, 'n2');
  assert.equal(classifySshError(already, 'n1'), already);
});
