// The workers of one state dir (serve's in-process worker, `cluster-router worker`, background
// workers the CLI started), each a file <state>/workers/<pid>.json naming its live process: a
// dead process cannot claim to serve (unlike a poller Temporal saw a minute ago). `submit`
// decides from it whether a worker runs here; `worker status|stop` lists and stops them.
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { processTag, tagAlive } from './processTag.js';

export interface WorkerEntry {
  tag: string;
  pid: number;
  kind: 'serve' | 'worker';
  /** Started by the CLI to run tasks after it exits (restarts itself on a config or binary change). */
  background: boolean;
  hub: boolean;
  nodes: string[];
  started: string;
  config: string;
  log?: string;
}

const dirOf = (stateDir: string) => path.join(stateDir, 'workers');

/** Record this process as a worker of the state dir; the returned function removes the record. */
export function registerWorker(stateDir: string, entry: Omit<WorkerEntry, 'tag' | 'pid' | 'started'>): () => void {
  const dir = dirOf(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${process.pid}.json`);
  const full: WorkerEntry = { ...entry, tag: processTag(process.pid), pid: process.pid, started: new Date().toISOString() };
  writeFileSync(`${file}.tmp`, JSON.stringify(full), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return () => {
    try {
      unlinkSync(file);
    } catch {
      /* already gone */
    }
  };
}

/** The workers of this state dir whose process is alive (records of dead ones are removed). */
export function liveWorkers(stateDir: string): WorkerEntry[] {
  const dir = dirOf(stateDir);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: WorkerEntry[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const e = JSON.parse(readFileSync(file, 'utf8')) as WorkerEntry;
      if (tagAlive(e.tag)) out.push(e);
      else unlinkSync(file);
    } catch {
      /* being written, or gone */
    }
  }
  return out.sort((a, b) => a.started.localeCompare(b.started));
}
