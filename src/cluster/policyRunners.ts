// Programs that run a command later, repeatedly, or once per input line: xargs, GNU
// parallel, watch, script -c, at/batch. Their operands or code come from input the check
// may not see; visible code is walked like the command line itself.
import { fileRules } from './policyRules.js';
import { findDeletion, findParts, findExpression } from './policyFind.js';
import type { Found } from './policyFound.js';
import type { RuleContext, RunCmd } from './policyTypes.js';

export const DESTRUCTIVE = new Set(['rm', 'unlink', 'rmdir', 'shred', 'truncate', 'dd', 'chmod', 'chown', 'chgrp', 'mv', 'wipefs', 'mkfs', 'kill']);
export const RUNNERS = new Set(['parallel', 'watch', 'script', 'at', 'batch']);

function confirm(rule: string, why: string, program: string): Found {
  return { verdict: 'confirm', rule, why, program };
}

export function runnerRules(cmd: RunCmd, ctx: RuleContext): Found[] {
  if (cmd.program === 'parallel') return parallelRule(cmd);
  if (cmd.program === 'watch') return watchRule(cmd, ctx);
  if (cmd.program === 'script') return scriptRule(cmd, ctx);
  return atRule(cmd, ctx);
}

/** `watch -n 5 'cmd'`: the words after the options run through sh -c, over and over. */
function watchRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  let i = 0;
  while (i < cmd.args.length && cmd.args[i]!.text.startsWith('-')) i += /^(-n|--interval|-q|--equexit)$/.test(cmd.args[i]!.text) ? 2 : 1;
  const words = cmd.args.slice(i);
  if (words.length === 0) return [];
  const hidden = words.find((w) => w.hidden !== undefined);
  if (hidden) return [confirm('hidden-code', `repeats a command built from ${hidden.hidden}, which the check cannot see`, 'watch')];
  ctx.nested(words.map((w) => w.values[0] ?? '').join(' '), {});
  return [];
}

/** `script -c 'cmd' log`: the command runs under a shell. */
function scriptRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  const at = cmd.args.findIndex((a) => /^-[a-zA-Z]*c$/.test(a.text) || a.text === '--command');
  const code = at >= 0 ? cmd.args[at + 1] : cmd.args.find((a) => a.text.startsWith('--command='));
  if (!code) return [];
  if (code.hidden !== undefined) return [confirm('hidden-code', `runs shell code from ${code.hidden}, which the check cannot see`, 'script')];
  for (const v of code.values) ctx.nested(v.replace(/^--command=/, ''), {});
  return [];
}

/** at / batch read the commands to run later on stdin. */
function atRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  if (cmd.args.some((a) => /^-[a-zA-Z]*[lrdcf]/.test(a.text))) return []; // list, remove, cat a job, or commands from a file
  if (cmd.stdin.kind === 'hidden') return [confirm('shell-stdin', `schedules ${cmd.stdin.what} as shell code, which the check cannot see`, cmd.program)];
  if (cmd.stdin.kind === 'code') ctx.nested(cmd.stdin.text, {});
  return [];
}

export function xargsRule(cmd: RunCmd): Found[] {
  const at = cmd.words.findIndex((w) => w.text === 'xargs' || w.text.endsWith('/xargs'));
  const xargsArgs = cmd.words.slice(at + 1, cmd.words.length - cmd.args.length - 1);
  const fromFile = xargsArgs.some((a) => /^(-a|--arg-file)/.test(a.text));
  const direct = { ...cmd, wrappers: cmd.wrappers.filter((w) => w !== 'xargs') };
  if (!fromFile && cmd.upstream?.program === 'find') {
    const { starts, expr } = findParts(cmd.upstream.args);
    return findExpression(expr).deletes ? [] : findDeletion(starts, expr, direct);
  }
  if (!fromFile && cmd.stdin.kind === 'code') {
    const words = cmd.stdin.text
      .split(/\s+/)
      .filter((w) => w !== '')
      .slice(0, 256)
      .map((w) => ({ text: w, values: [w] }));
    return fileRules({ ...direct, args: [...cmd.args, ...words] });
  }
  const source = fromFile
    ? 'a file named by -a'
    : cmd.stdin.kind === 'file'
      ? `the file ${cmd.stdin.path}`
      : cmd.stdin.kind === 'hidden'
        ? cmd.stdin.what
        : 'its input';
  return [confirm('input-operands', `runs ${cmd.program} on paths read from ${source}, which the check cannot see`, cmd.program)];
}

/** GNU parallel runs its command once per input: `parallel rm -rf ::: a b` or fed on stdin. */
function parallelRule(cmd: RunCmd): Found[] {
  const sep = cmd.args.findIndex((a) => /^:::+$/.test(a.text));
  const head = sep < 0 ? cmd.args : cmd.args.slice(0, sep);
  const start = head.findIndex((a) => !a.text.startsWith('-'));
  if (start < 0) return [];
  const program = head[start]!.values[0] ?? '';
  const run: RunCmd = { ...cmd, program, args: head.slice(start + 1).filter((a) => a.text !== '{}'), wrappers: [...cmd.wrappers, 'parallel'] };
  if (sep >= 0) return fileRules({ ...run, args: [...run.args, ...cmd.args.slice(sep + 1).filter((a) => !/^:::+$/.test(a.text))] });
  return DESTRUCTIVE.has(program) ? [confirm('input-operands', `runs ${program} on paths read from its input, which the check cannot see`, program)] : [];
}

/**
 * `xargs -I{} sh -c 'rm -rf {}'`: the replace string stands for input the check cannot see,
 * so arguments that contain it are hidden.
 */
export function markXargsInput(cmd: RunCmd): RunCmd {
  const at = cmd.words.findIndex((w) => w.text === 'xargs' || w.text.endsWith('/xargs'));
  const options = cmd.words.slice(at + 1, cmd.words.length - cmd.args.length - 1).map((w) => w.text);
  let replace: string | undefined;
  options.forEach((o, i) => {
    if (o === '-I') replace = options[i + 1];
    else if (o.startsWith('-I')) replace = o.slice(2);
    else if (o === '-i' || o === '--replace') replace = '{}';
    else if (o.startsWith('-i') || o.startsWith('--replace=')) replace = o.slice(o.startsWith('-i') ? 2 : 10);
  });
  if (!replace) return cmd;
  const marker = replace;
  const args = cmd.args.map((a) =>
    a.hidden === undefined && a.text.includes(marker) ? { ...a, values: [], hidden: `${marker} (replaced by xargs with its input)` } : a,
  );
  return { ...cmd, args };
}
