import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultStateDir } from './cluster/config.js';

/** Root of the installed package (works from src/ via tsx and from dist/src/). */
export const PACKAGE_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('clusterflow: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/**
 * The CLI as users start it: bin/cluster-router runs dist/src/cli/main.js with the process
 * settings of a long-running serve or worker. CLUSTERFLOW_NODE (its node binary) lets a child
 * keep the node of its parent: pass `launcherEnv()`.
 */
export const LAUNCHER = path.join(PACKAGE_ROOT, 'bin', 'cluster-router');

export function launcherEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, CLUSTERFLOW_NODE: process.execPath };
}

/** State dir: db, spilled output, keys, known_hosts ($CLUSTERFLOW_HOME, else ~/.local/state/clusterflow). */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(defaultStateDir(env));
}

/** The `temporal` CLI: $TEMPORAL_CLI, then the copy scripts/setup.sh installs, then PATH. */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TEMPORAL_CLI) return env.TEMPORAL_CLI;
  const bundled = path.join(PACKAGE_ROOT, '.tools', 'temporal', 'bin', 'temporal');
  return existsSync(bundled) ? bundled : 'temporal';
}
