// Issue J.4: every source file stays at most 300 lines (one concern each; see STYLE.md). The
// TypeScript sources are read from the package root, not dist/: the rule is about what people
// read and edit. Lines are counted as `wc -l` counts them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths.js';

const MAX_LINES = 300;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return /\.c?ts$/.test(e.name) ? [full] : [];
  });
}

test(`every src/**/*.ts and *.cts file has at most ${MAX_LINES} lines`, () => {
  const files = sourceFiles(path.join(PACKAGE_ROOT, 'src'));
  assert.ok(files.length > 50, `expected the TypeScript sources under ${PACKAGE_ROOT}/src, found ${files.length} files`);
  const over = files
    .map((file) => ({ file: path.relative(PACKAGE_ROOT, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `${f.file} (${f.lines} lines)`);
  assert.deepEqual(over, [], `over ${MAX_LINES} lines: split them into cohesive modules:\n  ${over.join('\n  ')}`);
});
