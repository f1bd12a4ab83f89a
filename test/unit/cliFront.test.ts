// Issue I, items 1, 5 and 7 at the fronts: the MCP tool schemas and the CLI's shared options
// take the original tool's OS/arch spellings, options may precede the command, exit codes say
// how a task ended, and human tables carry no colour codes in a pipe.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { zodToJsonSchema } from 'zod-to-json-schema';
import { commandInput, parallelInput } from '../../src/mcp/schemas.js';
import { archOption, capabilityOption, osOption } from '../../src/cli/options.js';
import { columns, useColour } from '../../src/cli/table.js';
import { exitCodeFor } from '../../src/cli/taskOutput.js';
import type { TaskStatus } from '../../src/client/tasks.js';

describe('MCP tools: requires_os / requires_arch in the original spellings', () => {
  const cases: Array<[string, string, string]> = [
    ['requires_os', 'darwin', 'macos'],
    ['requires_os', 'macOS', 'macos'],
    ['requires_os', 'Linux', 'linux'],
    ['requires_os', 'LINUX', 'linux'],
    ['requires_arch', 'ARM64', 'arm64'],
    ['requires_arch', 'aarch64', 'arm64'],
    ['requires_arch', 'AMD64', 'x86_64'],
    ['requires_arch', 'x86-64', 'x86_64'],
  ];
  for (const [field, given, canonical] of cases) {
    it(`${field}: ${given} is accepted as ${canonical}`, () => {
      assert.equal((commandInput.parse({ command: 'make', [field]: given }) as Record<string, unknown>)[field], canonical);
      assert.equal((parallelInput.parse({ commands: ['make'], [field]: given }) as Record<string, unknown>)[field], canonical);
    });
  }
  it('an unknown OS is refused with what is accepted', () => {
    const r = commandInput.safeParse({ command: 'ls', requires_os: 'windows' });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /linux or macos \(any case; darwin/);
  });
  it('the advertised JSON Schema lists the canonical values and names the aliases', () => {
    // As the MCP SDK (v1, zod 3) converts input schemas for tools/list.
    const schema = zodToJsonSchema(commandInput, { strictUnions: true, pipeStrategy: 'input' }) as {
      properties: Record<string, { enum?: string[]; description?: string }>;
    };
    assert.deepEqual(schema.properties.requires_os?.enum, ['linux', 'macos']);
    assert.deepEqual(schema.properties.requires_arch?.enum, ['x86_64', 'arm64']);
    assert.match(schema.properties.requires_os?.description ?? '', /darwin/);
    assert.match(schema.properties.requires_arch?.description ?? '', /aarch64/);
  });
});

describe('CLI options', () => {
  const submit = () => {
    let got: { command?: string; opts?: Record<string, unknown> } = {};
    const program = new Command().exitOverride();
    program
      .command('submit')
      .argument('<command>')
      .option('--node <id>')
      .addOption(osOption())
      .addOption(archOption())
      .addOption(capabilityOption())
      .action((command: string, opts: Record<string, unknown>) => {
        got = { command, opts };
      });
    return {
      parse: (args: string[]) => {
        program.parse(['node', 'cr', 'submit', ...args]);
        return got;
      },
    };
  };
  it('--capability before the command does not swallow it', () => {
    const r = submit().parse(['--capability', 'docker', 'uname -n']);
    assert.equal(r.command, 'uname -n');
    assert.deepEqual(r.opts?.capability, ['docker']);
  });
  it('--capability repeats and splits on commas', () => {
    assert.deepEqual(submit().parse(['--capability', 'docker', '--capability', 'gpu,raid', 'x']).opts?.capability, ['docker', 'gpu', 'raid']);
  });
  it('--os / --arch take the original spellings in any case, as canonical values', () => {
    const r = submit().parse(['--os', 'Darwin', '--arch', 'AMD64', 'make']);
    assert.deepEqual([r.opts?.os, r.opts?.arch, r.command], ['macos', 'x86_64', 'make']);
  });
  it('an unknown --os is an error naming the accepted values', () => {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
    program
      .command('submit')
      .argument('<command>')
      .addOption(osOption())
      .action(() => undefined);
    assert.throws(() => program.parse(['node', 'cr', 'submit', '--os', 'beos', 'x']), /linux or macos/);
  });
});

describe('exit codes of submit and status --exit-code', () => {
  const result = (state: string, rc: number | null): TaskStatus =>
    ({
      success: state === 'completed',
      executed_on: 'n1',
      stdout: '',
      stderr: '',
      return_code: rc,
      auto_routed: true,
      task_id: 'cmd-x',
      error: null,
      duration_ms: 1,
      route_reason: '',
      truncated: false,
      workflow_url: '',
      state,
    }) as TaskStatus;
  const cases: Array<[string, number | null, number]> = [
    ['timed_out', 143, 124],
    ['timed_out', null, 124],
    ['cancelled', 143, 130],
    ['cancelled', null, 130],
    ['completed', 0, 0],
    ['failed', 3, 3],
    ['failed', 127, 127],
    ['failed', null, 1],
  ];
  for (const [state, rc, want] of cases) it(`${state} with return_code ${rc} exits ${want}`, () => assert.equal(exitCodeFor(result(state, rc)), want));
});

describe('human output in a pipe', () => {
  it('no colour unless stdout is a terminal and NO_COLOR is unset', () => {
    const tty = { isTTY: true } as NodeJS.WriteStream;
    const pipe = { isTTY: false } as NodeJS.WriteStream;
    assert.equal(useColour(pipe, {}), false);
    assert.equal(useColour(tty, {}), true);
    assert.equal(useColour(tty, { NO_COLOR: '1' }), false);
  });
  it('list columns have a header row', () => {
    assert.equal(columns(['task_id', 'state'], [['cmd-1', 'running']]), 'task_id  state\ncmd-1    running\n');
  });
});
