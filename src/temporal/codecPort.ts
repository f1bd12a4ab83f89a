// Where serve answers the codec protocol and proxies the Web UI (security/codecServer.ts): the
// port serve chooses, and the same answer for `cluster-router ui`, which only looks.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { clusterflowEnv } from '../env.js';
import { embeddedServerInfo } from './embedded.js';
import { choosePort } from './ports.js';

const CODEC_PORT_FILE = 'codec-port';

function savedCodecPort(stateDir: string): number | undefined {
  try {
    return Number(readFileSync(path.join(stateDir, CODEC_PORT_FILE), 'utf8').trim()) || undefined;
  } catch {
    return undefined; // first start
  }
}

/** With a server of its own (TEMPORAL_ADDRESS), the codec port is CLUSTERFLOW_CODEC_PORT or one chosen once and kept in the state dir (every process of the state dir agrees on it). */
export async function codecPortOf(stateDir: string, env: NodeJS.ProcessEnv): Promise<number> {
  const prev = savedCodecPort(stateDir);
  const wanted = clusterflowEnv(env).codecPort;
  // Kept once chosen, even while it is taken: the process holding it is most likely this state
  // dir's serve (every other one waits to take it over), and links already given out name it.
  if (prev && (!wanted || wanted === '0' || Number(wanted) === prev)) return prev;
  const port = await choosePort(wanted, undefined, 8290);
  writeFileSync(path.join(stateDir, CODEC_PORT_FILE), String(port), { mode: 0o600 });
  return port;
}

/**
 * The codec port this state dir's serve uses, chosen by nothing here: the embedded server's
 * recorded one (a reused server keeps its port), else with TEMPORAL_ADDRESS the pinned or kept
 * one, as codecPortOf would pick. Undefined when no serve has chosen one yet.
 */
export function knownCodecPort(stateDir: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const wanted = clusterflowEnv(env).codecPort;
  const pinned = wanted && wanted !== '0' ? Number(wanted) : undefined;
  return env.TEMPORAL_ADDRESS ? (pinned ?? savedCodecPort(stateDir)) : (embeddedServerInfo(stateDir)?.codecPort ?? pinned);
}
