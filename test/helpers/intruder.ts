// A second local account on the test machine: "anyone else who can log in here". Created by the
// test as root (useradd, no home), used with runuser to try what another user could do.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isRoot } from '../../src/testcluster/nodeUsers.js';

const run = promisify(execFile);
export const INTRUDER = 'cf-intruder';

/** Why the intruder tests cannot run here, or null when they can (root, with useradd and runuser). */
export async function intruderUnavailable(): Promise<string | null> {
  if (!isRoot()) return 'not root: cannot create a second local account (run the suite as root, as CI does)';
  try {
    await run('getent', ['passwd', INTRUDER]).catch(async () => {
      await run('useradd', ['-M', '-s', '/bin/sh', '-c', 'clusterflow test - another local user', INTRUDER]);
    });
    return null;
  } catch (err) {
    return `cannot create ${INTRUDER}: ${String(err)}`;
  }
}

/** Run a program as the intruder; never throws for a non-zero exit. */
export async function asIntruder(file: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('runuser', ['-u', INTRUDER, '--', file, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, cwd: '/' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}
