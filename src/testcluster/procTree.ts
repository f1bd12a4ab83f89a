// Process helpers over /proc for the loopback test cluster (Linux only, like the cluster itself).
// Why /proc and not `pkill`: we only ever signal pids we can tie to one of our sshds, never by name.
import { readFile, readdir } from 'node:fs/promises';

interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
}

async function readStat(pid: number): Promise<ProcStat | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm sits in parentheses and may itself contain spaces or ')': split after the last one.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0] ?? '?', ppid: Number(rest[1]) };
  } catch {
    return null;
  }
}

/** True when `pid` runs (not a zombie) and, if given, its command line contains `marker`. */
export async function isProcessAlive(pid: number, marker?: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = await readStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  if (marker === undefined) return true;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').join(' ').includes(marker);
  } catch {
    return false;
  }
}

/** `pid` and every process below it (per-connection sshds, user shells, their children). */
export async function processTree(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readStat(Number(name));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(stat.pid);
    children.set(stat.ppid, list);
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    tree.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return tree;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone (ESRCH) is the goal; EPERM cannot happen for processes we started.
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ends `pid` and its descendants: SIGTERM, then SIGKILL after `graceMs`. Descendants are
 * signalled too because sshd's per-connection children (and the user's commands) outlive
 * the listener otherwise, and a "stopped node" must drop its sessions.
 */
export async function killProcessTree(pid: number, graceMs = 1500): Promise<void> {
  const tree = await processTree(pid);
  for (const p of tree) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let alive = tree;
  while (Date.now() < deadline) {
    alive = (await Promise.all(alive.map(async (p) => ((await isProcessAlive(p)) ? p : 0)))).filter((p) => p > 0);
    if (alive.length === 0) return;
    await sleep(15);
  }
  for (const p of alive) signal(p, 'SIGKILL');
}

/** Pids of processes owned by `uid` (real uid), for cleaning up a node user before removal. */
export async function processesOfUid(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      const match = /^Uid:\s+(\d+)/m.exec(status);
      if (match && Number(match[1]) === uid) pids.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
