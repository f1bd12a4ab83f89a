// The trees bench/workspace syncs, both git work trees as an agent's would be:
//  - bzip2: the real C project (bzip2 1.0.8 with its Makefile, from crates.io: test/helpers/thirdParty.ts),
//    build products ignored (.gitignore), plus a plain copy for the local incremental build;
//  - synth: a synthetic tree, deterministic (same bytes every run, any machine): `files` files
//    and `mb` MB in all, three directories deep; 40% of the bytes in a few big files (one per
//    2,000 files: assets/blobN.bin), the rest in many small ones (0.1-1.9× their mean size).
//    Contents come from an AES-CTR keystream with a fixed key (incompressible, like built
//    assets), each file with its own header line, so no two files share a blob.
import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bzip2Source } from '../test/helpers/thirdParty.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-C', cwd, '-c', 'user.name=bench', '-c', 'user.email=bench@bench', '-c', 'gc.auto=0', '-c', 'core.looseCompression=0', ...args], {
    stdio: 'ignore',
  });

/** A git repo of everything under dir, committed (as an agent's checkout would be). */
function commitAll(dir: string, message: string): void {
  git(dir, 'init', '-q');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', message);
}

export interface Tree {
  name: string;
  /** The tree at the origin (hidden from the node). */
  dir: string;
  files: number;
  bytes: number;
  /** A file the one-change case rewrites. */
  changeFile: string;
}

export async function bzip2Tree(origin: string, localCopy: string): Promise<Tree> {
  const dir = path.join(origin, 'bzip2');
  const src = await bzip2Source();
  cpSync(src, dir, { recursive: true });
  cpSync(src, localCopy, { recursive: true });
  writeFileSync(path.join(dir, '.gitignore'), 'bzip2\nbzip2recover\n*.o\n*.a\n*.so*\n');
  commitAll(dir, 'bzip2 1.0.8');
  const listed = execFileSync('git', ['-C', dir, 'ls-files', '-z'], { encoding: 'utf8' }).split('\0').filter(Boolean);
  const bytes = Number(execFileSync('sh', ['-c', 'git ls-files -z | xargs -0 cat | wc -c'], { cwd: dir, encoding: 'utf8' }).trim());
  return { name: 'bzip2 1.0.8 (C project)', dir, files: listed.length, bytes, changeFile: 'README' };
}

/** Deterministic pseudo-random bytes: the AES-256-CTR keystream of a fixed key. */
function keystream(bytes: number): Buffer {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16, 0));
  return Buffer.concat([cipher.update(Buffer.alloc(bytes)), cipher.final()]);
}

export function synthTree(origin: string, files: number, mb: number): Tree {
  const dir = path.join(origin, 'synth');
  const total = mb * 1e6;
  const big = Math.max(1, Math.round(files / 2000));
  const bigSize = Math.floor((0.4 * total) / big);
  const small = files - big;
  const smallMean = (total - big * bigSize) / Math.max(1, small);
  const pool = keystream(Math.max(bigSize, Math.ceil(smallMean * 2)) + 4_000_000);
  const sizeRng = keystream(small * 2);
  const exts = ['.c', '.h', '.ts', '.json', '.md'];
  let bytes = 0;
  const write = (rel: string, i: number, size: number) => {
    const header = Buffer.from(`// ${rel} (${i})\n`);
    const off = (i * 104_729) % (pool.length - size);
    const body = pool.subarray(off, off + Math.max(0, size - header.length));
    writeFileSync(path.join(dir, rel), Buffer.concat([header, body]));
    bytes += header.length + body.length;
  };
  for (let i = 0; i < small; i++) {
    // src/mA/pB/: 20 files per leaf directory, 50 leaves per mid directory.
    const rel = path.join('src', `m${Math.floor(i / 1000)}`, `p${Math.floor(i / 20) % 50}`, `f${i}${exts[i % exts.length]}`);
    if (i % 20 === 0) mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    write(rel, i, Math.round(smallMean * (0.1 + (1.8 * sizeRng.readUInt16LE(2 * i)) / 65535)));
  }
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  for (let k = 0; k < big; k++) write(path.join('assets', `blob${k}.bin`), small + k, bigSize);
  commitAll(dir, 'synthetic tree');
  return { name: `synthetic (${files} files, ${mb} MB)`, dir, files, bytes, changeFile: path.join('src', 'm0', 'p0', 'f0.c') };
}
