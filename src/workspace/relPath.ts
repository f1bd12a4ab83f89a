// Relative paths as they travel between origin and node, and the checks both sides apply.
// On the wire a path is one space-free token: `%`, space, control bytes and DEL are written
// %XX (so a newline in a file name cannot end a protocol line); other bytes, UTF-8 included,
// pass as they are. The node's agent uses the same encoding (see agent/common.ts).

import { WorkspaceError } from './types.js';

/** A name as one wire token. */
export function encodeToken(value: string): string {
  if (!/[\x00-\x20%\x7f]/.test(value)) return value;
  return value.replace(/[\x00-\x20%\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The inverse of encodeToken (and of the agent's enc): bytes → UTF-8; bad UTF-8 is refused. */
export function decodeToken(token: string): string {
  if (!token.includes('%')) return token;
  // Raw UTF-8 passes through and %XX stands for one byte: rebuild the bytes, decode once.
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of token.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    parts.push(Buffer.from(token.slice(last, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 16)]));
    last = m.index! + m[0].length;
  }
  parts.push(Buffer.from(token.slice(last), 'utf8'));
  const bytes = Buffer.concat(parts);
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) {
    throw new WorkspaceError('unsafe-path', `a path from the node is not valid UTF-8: ${JSON.stringify(text)}`);
  }
  return text;
}

/** Why a relative path is unsafe, or null when it is fine: no `..`, not absolute, no empty or `.` parts, no NUL. */
export function relPathProblem(path: string): string | null {
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  for (const part of path.split('/')) {
    if (part === '..') return 'contains ..';
    if (part === '' || part === '.') return 'has an empty or "." component';
  }
  return null;
}

export function assertSafeRelPath(path: string, what: string): void {
  const problem = relPathProblem(path);
  if (problem) throw new WorkspaceError('unsafe-path', `${what} ${JSON.stringify(path)} ${problem}: paths must stay inside the tree`);
}
