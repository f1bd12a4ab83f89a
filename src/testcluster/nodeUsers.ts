// Unprivileged per-node users (root only): each loopback node logs in as its own account, so
// tests see real user separation (`id -un`, `ps -u cf-n1`, file ownership) as on real nodes.
import { execFile } from 'node:child_process';
import { chown, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { processesOfUid } from './procTree.js';

const run = promisify(execFile);

// useradd's own limit is 32; names must be valid POSIX login names.
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
// Skeleton files that would make the node's shell differ from a clean `bash -c`.
const RC_FILES = ['.bashrc', '.profile', '.bash_logout', '.bash_profile', '.bash_login'];

export const isRoot = (): boolean => process.getuid?.() === 0;

export function nodeUserName(nodeId: string): string {
  const name = `cf-${nodeId}`;
  if (!USER_NAME.test(name)) {
    throw new Error(`testcluster: node user name "${name}" is not a valid login name (≤ 32 chars of a-z 0-9 _ -); pick a shorter or lower-case namePrefix`);
  }
  return name;
}

interface PasswdEntry {
  uid: number;
  gid: number;
  home: string;
}

async function lookupUser(name: string): Promise<PasswdEntry | null> {
  try {
    const { stdout } = await run('getent', ['passwd', name]);
    const fields = stdout.trim().split(':');
    return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '' };
  } catch {
    return null; // getent exits 2 when the user does not exist.
  }
}

/** passwd/shadow are locked files: concurrent useradd/userdel (parallel test runs) retry. */
async function runLocked(cmd: string, args: string[], okCodes: number[] = []): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await run(cmd, args);
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number' && okCodes.includes(code)) return;
      const stderr = String((err as { stderr?: unknown }).stderr ?? '');
      if (attempt < 20 && /lock/i.test(stderr)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      throw new Error(`testcluster: ${cmd} ${args.join(' ')} failed: ${stderr.trim() || String(err)}`, { cause: err });
    }
  }
}

/** True when the shadow entry starts with '!' (locked): sshd with UsePAM no refuses even key logins. */
async function isPasswordLocked(name: string): Promise<boolean> {
  const shadow = await readFile('/etc/shadow', 'utf8').catch(() => '');
  const line = shadow.split('\n').find((l) => l.startsWith(`${name}:`));
  return line === undefined || (line.split(':')[1] ?? '').startsWith('!');
}

/**
 * Creates the node user when missing (`useradd -m -s /bin/bash`), unlocks it for key login
 * (`usermod -p '*'`: no password, but not locked), and strips shell rc files so commands run
 * in a clean shell. Idempotent. Returns the home directory.
 */
export async function ensureNodeUser(name: string): Promise<string> {
  let entry = await lookupUser(name);
  if (!entry) {
    // Exit 9 = the name already exists (another run created it a moment ago).
    await runLocked('useradd', ['-m', '-s', '/bin/bash', '-p', '*', '-c', 'clusterflow test node', name], [9]);
    entry = await lookupUser(name);
    if (!entry) throw new Error(`testcluster: useradd ${name} reported success but getent cannot find the user`);
  }
  if (await isPasswordLocked(name)) await runLocked('usermod', ['-p', '*', name]);
  // The home may have been removed by hand while the account stayed: tests `cd ~`.
  await mkdir(entry.home, { recursive: true, mode: 0o750 });
  await chown(entry.home, entry.uid, entry.gid);
  await Promise.all(RC_FILES.map((file) => rm(join(entry!.home, file), { force: true })));
  return entry.home;
}

/** Kills what still runs as the user (by pid, from /proc), then `userdel -r`. Missing user is fine. */
export async function removeNodeUser(name: string): Promise<void> {
  const entry = await lookupUser(name);
  if (!entry) return;
  if (entry.uid === 0) throw new Error(`testcluster: refusing to remove ${name}: uid 0`);
  for (const pid of await processesOfUid(entry.uid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Ended on its own.
    }
  }
  // Exit 6 = no such user (raced), 12 = home could not be removed (already gone).
  await runLocked('userdel', ['-r', name], [6, 12]);
}
