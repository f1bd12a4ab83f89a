// The embedded server's start: a port taken between our check and the server's bind is
// retried on fresh ports; any other failure is reported in the server's own first words.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../../src/temporal/embedded.js';
import { temporalCliPath } from '../../src/paths.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A `temporal` that fails like the real one does for its first `failures` starts, then is the real one. */
function flakyCli(dir: string, failures: number, complaint: string): { cli: string; calls: () => string[] } {
  const log = path.join(dir, 'calls');
  writeFileSync(log, '');
  const cli = path.join(dir, 'temporal');
  writeFileSync(
    cli,
    `#!/bin/sh
echo "$*" >> '${log}'
if [ "$(wc -l < '${log}')" -le ${failures} ]; then
  printf '%s\\n' 'time=2026-01-01T00:00:00 level=ERROR msg="Failed to start gRPC listener" error="${complaint}"' 'panic: runtime error: invalid memory address or nil pointer dereference' 'goroutine 1 [running]:' '  main.go:18 +0x8e'
  exit 2
fi
exec '${temporalCliPath()}' "$@"
`,
  );
  chmodSync(cli, 0o755);
  return { cli, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

const portOf = (args: string) => args.match(/--port (\d+)/)?.[1];

describe('embedded Temporal server start', () => {
  it('a port taken before the server binds it is retried on fresh ports', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-embedded-'));
    dirs.push(dir);
    const { cli, calls } = flakyCli(dir, 1, 'listen tcp 127.0.0.1:1: bind: address already in use');
    const env = { ...process.env, TEMPORAL_CLI: cli, CLUSTERFLOW_TEMPORAL_PORT: '0', CLUSTERFLOW_TEMPORAL_UI_PORT: '0' };
    const server = await ensureEmbeddedServer(path.join(dir, 'state'), env);
    try {
      const [first, second] = calls();
      assert.equal(calls().length, 2);
      assert.notEqual(portOf(first!), portOf(second!), 'the retry chose new ports');
      assert.equal(server.address, `127.0.0.1:${portOf(second!)}`);
    } finally {
      await stopEmbeddedServer(path.join(dir, 'state'));
    }
  });

  it("any other failure is not retried and names the server's first error, not its stack", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-embedded-'));
    dirs.push(dir);
    const { cli, calls } = flakyCli(dir, 5, 'open temporal.db: permission denied');
    const env = { ...process.env, TEMPORAL_CLI: cli, CLUSTERFLOW_TEMPORAL_PORT: '0', CLUSTERFLOW_TEMPORAL_UI_PORT: '0' };
    await assert.rejects(ensureEmbeddedServer(path.join(dir, 'state'), env), (err: Error) => {
      assert.match(err.message, /its log says: .*Failed to start gRPC listener.*permission denied/);
      assert.doesNotMatch(err.message, /main\.go/);
      return true;
    });
    assert.equal(calls().length, 1);
  });
});
