// cluster-router doctor: one line per check, OK or what to do; --json for scripts. Exit 0 when
// nothing failed (warnings do not fail), 1 otherwise. The checks live in client/doctor.ts.
import type { Command } from 'commander';
import { runDoctor, type Check } from '../client/doctor.js';
import { stateDir } from '../paths.js';
import { useColour } from './table.js';

const LABEL: Record<Check['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' };
const COLOUR: Record<Check['status'], string> = { ok: '32', warn: '33', fail: '31', skip: '90' };

export function formatCheck(c: Check, colour = false): string {
  const label = LABEL[c.status].padEnd(4);
  const shown = colour ? `\x1b[${COLOUR[c.status]}m${label}\x1b[0m` : label;
  return `${shown}  ${c.check.padEnd(17)} ${c.target}: ${c.detail}${c.fix && c.status !== 'ok' ? ` — fix: ${c.fix}` : ''}`;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('Check the config, every node (address, host key, login, clock, disk), Temporal and the workers; each line OK or the fix')
    .option('--json', 'print the checks as JSON')
    .action(async (o) => {
      const report = await runDoctor({ stateDir: stateDir() });
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else {
        const colour = useColour();
        process.stdout.write(report.checks.map((c) => formatCheck(c, colour)).join('\n') + '\n');
        const failed = report.checks.filter((c) => c.status === 'fail').length;
        process.stdout.write(failed ? `${failed} check(s) failed\n` : 'all checks passed\n');
      }
      process.exitCode = report.ok ? 0 : 1;
    });
}
