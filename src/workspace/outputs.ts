// Outputs back: after the command (whatever its exit code), files matching `globs` (relative
// to the command's directory on the node) are copied into the origin cwd at the same relative
// paths. The node lists every match first; the origin checks the whole list (no `..`, no
// absolute path, no symlink on the way or at the file, size cap) and only then says GO, so a
// refused list writes nothing. Each file is written to a temp file next to its destination
// and renamed into place (atomic). See agent/outputs.ts for the node side.

import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Exec } from '../engine/exec.js';
import { runAgent, nodeLabel } from './agentRun.js';
import { assertSafeRelPath, decodeToken, encodeToken } from './relPath.js';
import { DEFAULT_LIMITS, WorkspaceError, type OutputsRequest, type ReturnedFile } from './types.js';

interface Listed {
  path: string;
  size: number;
  exec: boolean;
}

export async function returnOutputs(exec: Exec, req: OutputsRequest): Promise<ReturnedFile[]> {
  if (req.globs.length === 0) return [];
  for (const g of req.globs) {
    assertSafeRelPath(g, 'output glob');
    if (/[\x00-\x1f\x7f]/.test(g)) throw new WorkspaceError('unsafe-path', `output glob ${JSON.stringify(g)} contains control characters`);
  }
  try {
    if (!statSync(req.originCwd).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new WorkspaceError('bad-input', `the origin cwd ${req.originCwd} is gone or not a directory (${(err as Error).message})`);
  }
  const maxBytes = req.maxBytes ?? DEFAULT_LIMITS.maxBytes;
  const label = nodeLabel(req.node);
  const returned: ReturnedFile[] = [];
  await runAgent(exec, {
    op: 'outputs',
    node: req.node,
    signal: req.signal,
    stdin: true,
    args: [encodeToken(req.tree), encodeToken(req.nodeCwd), String(maxBytes), ...req.globs.map(encodeToken)],
    converse: async (replies, sink) => {
      const head = /^L (\d+) (\d+)$/.exec(await replies.line());
      if (!head) throw new WorkspaceError('transport', `${label}: the workspace agent did not list the outputs`);
      const listed: Listed[] = [];
      for (let i = Number(head[1]); i > 0; i--) {
        const f = /^F (\d+) ([x-]) (\S+)$/.exec(await replies.line());
        if (!f) throw new WorkspaceError('transport', `${label}: bad output list line from the workspace agent`);
        listed.push({ size: Number(f[1]), exec: f[2] === 'x', path: decodeToken(f[3]!) });
      }
      try {
        const total = listed.reduce((s, f) => s + f.size, 0);
        if (total > maxBytes) throw new WorkspaceError('limits', `the outputs hold ${total} bytes, more than the ${maxBytes} allowed`);
        for (const f of listed) {
          assertSafeRelPath(f.path, 'output path from the node');
          destination(req.originCwd, f.path, false);
        }
      } catch (err) {
        await sink!.write('NO\n');
        throw err;
      }
      await sink!.write('GO\n');
      for (let i = 0; i < listed.length; i++) {
        if ((await replies.line()) !== `D ${i}`) throw new WorkspaceError('transport', `${label}: output ${i} was not framed as expected`);
        returned.push(await receiveFile(replies, req.originCwd, listed[i]!, label));
      }
      if ((await replies.line()) !== 'E') throw new WorkspaceError('transport', `${label}: the output stream did not end as expected`);
    },
  });
  return returned;
}

/**
 * The absolute destination of `rel` under `cwd`, refusing a symlink (or a non-directory) at any
 * component and a symlink or directory at the file itself. With `create`, missing directories
 * are made (and checked again).
 */
function destination(cwd: string, rel: string, create: boolean): string {
  let cur = cwd;
  const parts = rel.split('/');
  for (const part of parts.slice(0, -1)) {
    cur = join(cur, part);
    let st = lstatOrNull(cur);
    if (!st) {
      if (!create) return join(cwd, rel); // nothing below exists yet: nothing to be tricked by
      mkdirSync(cur);
      st = lstatSync(cur);
    }
    if (st.isSymbolicLink())
      throw new WorkspaceError('unsafe-path', `output ${rel}: ${cur} is a symlink on the origin; outputs are never written through symlinks`);
    if (!st.isDirectory()) throw new WorkspaceError('unsafe-path', `output ${rel}: ${cur} on the origin is not a directory`);
  }
  const dest = join(cwd, rel);
  const st = lstatOrNull(dest);
  if (st?.isSymbolicLink())
    throw new WorkspaceError('unsafe-path', `output ${rel}: ${dest} is a symlink on the origin; outputs are never written through symlinks`);
  if (st?.isDirectory()) throw new WorkspaceError('unsafe-path', `output ${rel}: ${dest} is a directory on the origin`);
  return dest;
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

async function receiveFile(replies: import('./agentRun.js').AgentStream, cwd: string, f: Listed, label: string): Promise<ReturnedFile> {
  const dest = destination(cwd, f.path, true);
  const temp = join(dirname(dest), `.${basename(dest)}.cf-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', f.exec ? 0o777 : 0o666);
  let ok = false;
  try {
    await replies.bytes(f.size, (chunk) => {
      for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off);
    });
    const end = await replies.line();
    if (end !== 'K') throw new WorkspaceError('transport', `${label}: output ${f.path} did not end as expected`);
    closeSync(fd);
    ok = true;
    destination(cwd, f.path, false); // still no symlink where it lands
    renameSync(temp, dest);
    return { path: f.path, size: f.size };
  } finally {
    if (!ok) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      /* renamed into place */
    }
  }
}
