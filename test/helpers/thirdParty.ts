// A real C project none of us wrote, from a package registry: bzip2 1.0.8 with its own Makefile,
// as the crate bzip2-sys vendors it (fetched once with `cargo vendor`, cached under .tools/).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../src/paths.js';

const run = promisify(execFile);
const CRATE = 'bzip2-sys';
const VERSION = '0.1.13+1.0.8';
const CACHE = path.join(PACKAGE_ROOT, '.tools', 'thirdparty', `bzip2-sys-${VERSION}`);

/** The pristine bzip2-1.0.8 source tree (Makefile, *.c, *.h), fetched on first use. */
export async function bzip2Source(): Promise<string> {
  const src = path.join(CACHE, 'bzip2-1.0.8');
  if (existsSync(path.join(src, 'Makefile'))) return src;
  const work = mkdtempSync(path.join(tmpdir(), 'cf-vendor-'));
  try {
    writeFileSync(
      path.join(work, 'Cargo.toml'),
      `[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n${CRATE} = "=${VERSION.split('+')[0]}"\n`,
    );
    mkdirSync(path.join(work, 'src'));
    writeFileSync(path.join(work, 'src', 'main.rs'), 'fn main() {}\n');
    await run('cargo', ['vendor', '--versioned-dirs', 'vendor'], { cwd: work, timeout: 300_000 });
    mkdirSync(path.dirname(CACHE), { recursive: true });
    rmSync(CACHE, { recursive: true, force: true });
    cpSync(path.join(work, 'vendor', `${CRATE}-${VERSION}`), CACHE, { recursive: true });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!existsSync(path.join(src, 'Makefile'))) throw new Error(`${CRATE} ${VERSION} did not bring bzip2-1.0.8/Makefile`);
  return src;
}
