// Rules for code a command runs: shells and `eval` given a string or fed code on stdin,
// interpreters with inline code, `ssh host <command>`, destructive programs under xargs
// fed their operands from input, and programs whose name is hidden in a variable.
// Visible code is parsed and checked like the command line itself; code the check cannot
// see needs a human's confirmation.
import { getopt } from './policyOptions.js';
import { deleteTarget } from './policyTargets.js';
import { DESTRUCTIVE, RUNNERS, runnerRules, xargsRule } from './policyRunners.js';
import { escapes, hasEscape } from './policyEscapes.js';
import { AWKS, awkRule, codeRule, confirm, INTERPRETERS, interpreterRule, nested, stdinCode, writtenCode, type Found } from './policyInterpreters.js';
import type { Arg, RuleContext, RunCmd } from './policyTypes.js';

export const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash', 'posh', 'fish', 'csh', 'tcsh']);

const STDIN_PATHS = new Set(['-', '/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);
const INTERPRETED = new RegExp([AWKS, ...INTERPRETERS.map(([re]) => re)].map((re) => `(?:${re.source})`).join('|'));

const EXEC_PROGRAMS = new Set([...SHELLS, ...RUNNERS, 'eval', 'source', '.', 'su', 'ssh', 'deno', 'alias']);

/** Whether any rule here looks at `cmd` (most commands skip them all). */
export function hasExecRule(cmd: RunCmd): boolean {
  return (
    cmd.programHidden !== undefined ||
    EXEC_PROGRAMS.has(cmd.program) ||
    cmd.wrappers.includes('xargs') ||
    INTERPRETED.test(cmd.program) ||
    hasEscape(cmd.program)
  );
}

export function execRules(cmd: RunCmd, ctx: RuleContext): Found[] {
  const out: Found[] = [];
  if (cmd.programHidden !== undefined) out.push(...hiddenProgram(cmd, ctx));
  else if (SHELLS.has(cmd.program)) out.push(...shellRule(cmd, ctx));
  else if (cmd.program === 'eval') out.push(...evalRule(cmd, ctx));
  else if (cmd.program === 'source' || cmd.program === '.') out.push(...sourceRule(cmd, ctx));
  else if (cmd.program === 'su') out.push(...suRule(cmd, ctx));
  else if (cmd.program === 'ssh') out.push(...sshRule(cmd, ctx));
  else if (cmd.program === 'deno' && cmd.args[0]?.text === 'eval')
    out.push(
      ...codeRule(
        cmd,
        ctx,
        'node',
        cmd.args
          .slice(1)
          .filter((a) => !a.text.startsWith('-'))
          .slice(0, 1),
      ),
    );
  else if (AWKS.test(cmd.program)) out.push(...awkRule(cmd, ctx));
  else if (cmd.program === 'alias') out.push(...aliasRule(cmd, ctx));
  else if (RUNNERS.has(cmd.program)) out.push(...runnerRules(cmd, ctx));
  else {
    const spec = INTERPRETERS.find(([re]) => re.test(cmd.program))?.[1];
    if (spec) out.push(...interpreterRule(cmd, ctx, spec));
  }
  if (cmd.wrappers.includes('xargs') && (DESTRUCTIVE.has(cmd.program) || cmd.program.startsWith('mkfs'))) out.push(...xargsRule(cmd));
  if (hasEscape(cmd.program)) {
    for (const e of escapes(cmd)) {
      if (e.opaque) out.push(confirm('hidden-code', `uses ${e.via}, which runs text as shell commands the check cannot follow`, cmd.program));
      else if (e.hidden !== undefined)
        out.push(confirm('hidden-code', `runs a command line from ${e.hidden} through ${e.via}, which the check cannot see`, cmd.program));
      else nested(ctx, e.code!, {});
    }
  }
  return out;
}

function shellRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  let hasC = false;
  let readsStdin = false;
  let operand: Arg | undefined;
  for (let i = 0; i < cmd.args.length; i++) {
    const arg = cmd.args[i]!;
    const t = arg.text;
    if (arg.hidden === undefined && t === '--') {
      operand = cmd.args[i + 1];
      break;
    }
    if (arg.hidden === undefined && /^[-+][A-Za-z]+$/.test(t)) {
      if (t.startsWith('-') && t.includes('c')) hasC = true;
      if (t.startsWith('-') && t.includes('s')) readsStdin = true;
      if (/[oO]/.test(t)) i++;
      continue;
    }
    if (arg.hidden === undefined && t.startsWith('--')) {
      if (['--rcfile', '--init-file'].includes(t)) i++;
      continue;
    }
    operand = arg;
    break;
  }
  if (hasC) {
    if (!operand) return [];
    if (operand.hidden !== undefined) return [confirm('hidden-code', `runs shell code from ${operand.hidden}, which the check cannot see`, cmd.program)];
    return operand.values.flatMap((v) => nested(ctx, v, {}));
  }
  if (operand && !readsStdin) {
    if (operand.stream) return stdinCode(operand.stream, cmd, ctx, 'shell');
    if (STDIN_PATHS.has(operand.text)) return stdinCode(cmd.stdin, cmd, ctx, 'shell');
    return writtenCode(operand, cmd, ctx, 'shell');
  }
  return stdinCode(cmd.stdin, cmd, ctx, 'shell');
}

function evalRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  const hidden = cmd.args.find((a) => a.hidden !== undefined);
  if (hidden) return [confirm('hidden-code', `evaluates ${hidden.hidden} as shell code, which the check cannot see`, 'eval')];
  if (cmd.args.length === 1) return cmd.args[0]!.values.flatMap((v) => nested(ctx, v, { sameScope: true }));
  return nested(ctx, cmd.args.map((a) => a.values[0] ?? '').join(' '), { sameScope: true });
}

function sourceRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  const file = cmd.args[0];
  if (!file) return [];
  if (file.stream) return stdinCode(file.stream, cmd, ctx, 'shell');
  return STDIN_PATHS.has(file.text) ? stdinCode(cmd.stdin, cmd, ctx, 'shell') : writtenCode(file, cmd, ctx, 'shell');
}

function suRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  const o = getopt(cmd.args, { long: ['command=', 'login', 'shell=', 'group=', 'preserve-environment', 'pty', 'whitelist-environment='], shortArgs: 'cgGsw' });
  const code = o.values.get('-c')?.[0] ?? o.values.get('--command')?.[0];
  if (!code) return o.operands.length <= 1 ? stdinCode(cmd.stdin, cmd, ctx, 'shell') : [];
  if (code.hidden !== undefined) return [confirm('hidden-code', `runs shell code from ${code.hidden}, which the check cannot see`, 'su')];
  return code.values.flatMap((v) => nested(ctx, v, {}));
}

function sshRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  const spec = { shortArgs: 'BbcDEeFIiJLlmOopQRSWw', posix: true };
  const o = getopt(cmd.args, spec);
  const host = o.operands[0];
  // like OpenSSH, options may follow the host too; `--` ends them
  const after = getopt(o.operands.slice(1), spec);
  if (!host || o.short.has('N') || after.short.has('N')) return [];
  const name = host.hidden ?? host.values[0]!;
  const remote = after.operands;
  if (remote.length === 0) return stdinCode(cmd.stdin, cmd, ctx, 'shell', name);
  const hidden = remote.find((a) => a.hidden !== undefined);
  if (hidden) return [confirm('hidden-code', `runs a command on ${name} built from ${hidden.hidden}, which the check cannot see`, 'ssh')];
  return nested(ctx, remote.map((a) => a.values[0] ?? '').join(' '), { remote: name, stdin: cmd.stdin });
}

/** `alias x='…'`: with expand_aliases the value runs as code wherever `x` is used. */
function aliasRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  for (const a of cmd.args) {
    const eq = a.text.indexOf('=');
    if (eq <= 0) continue;
    if (a.hidden !== undefined) return [confirm('hidden-code', `defines an alias from ${a.hidden}, which the check cannot see`, 'alias')];
    for (const v of a.values) nested(ctx, v.slice(v.indexOf('=') + 1), {});
  }
  return [];
}

function hiddenProgram(cmd: RunCmd, ctx: RuleContext): Found[] {
  const hidden = cmd.programHidden!;
  const wide = cmd.args
    .flatMap((a) => a.values)
    .map((v) => deleteTarget(v, cmd.dir, cmd.home))
    .find((t) => t && ['root', 'system', 'home'].includes(t.kind));
  if (wide) return [{ verdict: 'refuse', rule: 'hidden-target', why: `runs a program named by ${hidden}, which the check cannot see, on ${wide.what}` }];
  if (/^\$\(|^`|^<\(/.test(hidden)) return [confirm('hidden-code', `runs a program named by the output of ${hidden}, which the check cannot see`, '')];
  // `"$SHELL" -c '…'`: it may well be a shell, so its code is checked as one
  const c = cmd.args.findIndex((a) => /^-[A-Za-z]*c$/.test(a.text));
  const code = c >= 0 ? cmd.args[c + 1] : undefined;
  if (code && code.hidden === undefined) for (const v of code.values) nested(ctx, v, {});
  return [];
}
