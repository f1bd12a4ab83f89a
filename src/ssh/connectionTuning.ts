// How a connection is set up beyond ssh2's defaults: host key algorithms ordered as OpenSSH
// orders them for a known host, and packet writes coalesced per tick.
import type net from 'node:net';

// ssh2's default host key algorithm order; the types already known for a host go first,
// as OpenSSH does, so a host recorded with one key type is not met with another.
const HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
export function hostKeyAlgorithms(knownTypes: string[]): string[] | undefined {
  const first = knownTypes.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t])).filter((a) => HOST_KEY_ALGOS.includes(a));
  return first.length ? [...new Set([...first, ...HOST_KEY_ALGOS])] : undefined;
}

/**
 * ssh2 writes every packet with its own socket.write, one syscall each (window adjusts, channel
 * open/exec/eof/close): under a fan-out that was a tenth of the client's CPU. Packets written
 * in the same tick go out in one writev; nothing waits longer than the current tick.
 */
export function coalesceWrites(sock: net.Socket): void {
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
  let corked = false;
  sock.write = ((...args: unknown[]) => {
    if (!corked && sock.writable) {
      corked = true;
      sock.cork();
      process.nextTick(() => {
        corked = false;
        sock.uncork();
      });
    }
    return write(...args);
  }) as typeof sock.write;
}
