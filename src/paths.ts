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
