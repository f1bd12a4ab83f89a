// Naming a live process in a file that other processes read (slots, published reservations,
// worker locks): pid plus start time, so a reused pid does not pass for the process that died.
import { readFileSync, unlinkSync } from 'node:fs';

/** "<pid> <start time>": the start time tells a live holder from a reused pid (Linux; elsewhere the pid alone). */
export function processTag(pid: number): string {
  return `${pid} ${startTimeOf(pid) ?? '-'}`;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Does the process named in this file (a processTag) still run? */
export function holderAlive(file: string): boolean {
  let tag: string;
  try {
    tag = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  return tagAlive(tag);
}

export function tagAlive(tag: string): boolean {
  const [pidText, started] = tag.split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (started === '-' || started === undefined) return true;
  const now = startTimeOf(pid);
  return now === undefined || now === started;
}

/** Removes a file that another process (say, one sweeping the files of dead holders) may have removed first. */
export function rmQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already.
  }
}
