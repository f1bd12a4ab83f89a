// Loopback ports for the embedded server, its UI and the codec endpoint: the one asked for,
// else the previous or default one when free, else any free port.
import net from 'node:net';

/** `wanted` (env) wins; otherwise the previous port (or the default) when free, else any free port. */
export async function choosePort(wanted: string | undefined, previous: number | undefined, fallback: number): Promise<number> {
  if (wanted && wanted !== '0') return Number(wanted);
  // "0" (tests) never takes the well-known default, so it cannot clash with a user's instance.
  const preferred = previous ?? (wanted === '0' ? undefined : fallback);
  if (preferred !== undefined && (await portFree(preferred))) return preferred;
  return freePort();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
