// Code handed to an interpreter (python -c, perl -e, node -e, awk '…', a script file, code
// on stdin) and checked in its language; the helpers every exec rule shares for code it sees
// or cannot see. Apart from policyExec.ts, which decides which rule a command goes to.
import { getopt } from './policyOptions.js';
import { fileRules } from './policyRules.js';
import { scanCode, type Lang } from './policyCode.js';
import type { Arg, RuleContext, RuleResult, RunCmd, Stdin } from './policyTypes.js';

export type Found = RuleResult[number];

interface InterpSpec {
  lang: Lang;
  /** short options whose value is code */
  code: string;
  codeLong?: string[];
  /** short options that take a value (attached or next word) */
  args?: string;
  argLong?: string[];
  /** short options whose value is only ever attached (`-Ilib`, `-i.bak`) */
  attached?: string;
  /** options after which no code follows (`python -m mod`) */
  stop?: string;
}

export const INTERPRETERS: Array<[RegExp, InterpSpec]> = [
  [/^(python|pypy)[\d.]*$/, { lang: 'python', code: 'c', args: 'WXQ', stop: 'm' }],
  [/^perl[\d.]*$/, { lang: 'perl', code: 'eE', attached: 'IMmxlCd0iDVF' }],
  [/^ruby[\d.]*$/, { lang: 'ruby', code: 'e', args: 'rICEF', attached: 'x0lTiKW' }],
  [/^(node|nodejs|bun)$/, { lang: 'node', code: 'ep', codeLong: ['--eval', '--print'], args: 'r', argLong: ['--require', '--import', '--loader'] }],
  [/^php[\d.]*$/, { lang: 'php', code: 'r', args: 'fcdz' }],
  [/^(lua[\d.]*|luajit)$/, { lang: 'lua', code: 'e', args: 'l' }],
  [/^(Rscript|R)$/, { lang: 'r', code: 'e' }],
  [/^osascript$/, { lang: 'osascript', code: 'e', args: 'ls' }],
];
export const AWKS = /^(awk|gawk|mawk|nawk)$/;

/** Walk a visible command line; its findings are recorded by the walker itself. */
export function nested(ctx: RuleContext, source: string, how: Parameters<RuleContext['nested']>[1]): Found[] {
  ctx.nested(source, how);
  return [];
}

export function confirm(rule: string, why: string, program: string): Found {
  return { verdict: 'confirm', rule, why, program };
}

/** Code a shell (or `lang`) reads on stdin. */
export function stdinCode(stdin: Stdin, cmd: RunCmd, ctx: RuleContext, lang: Lang | 'shell', remote?: string): Found[] {
  if (stdin.kind === 'hidden')
    return [confirm('shell-stdin', `runs ${stdin.what} as ${remote ? `shell code on ${remote}` : 'code'}, which the check cannot see`, cmd.program)];
  if (stdin.kind !== 'code') return [];
  if (lang === 'shell') return nested(ctx, stdin.text, remote ? { remote } : {});
  return codeVerdict(lang, stdin.text, cmd, ctx);
}

/** A script file this command line wrote earlier is checked like inline code; any other is the user's script. */
export function writtenCode(file: Arg, cmd: RunCmd, ctx: RuleContext, lang: Lang | 'shell'): Found[] {
  const content = file.hidden === undefined ? ctx.written?.(file.values[0] ?? '') : undefined;
  return content ? stdinCode(content, cmd, ctx, lang) : [];
}

export function interpreterRule(cmd: RunCmd, ctx: RuleContext, spec: InterpSpec): Found[] {
  const codes: Arg[] = [];
  let script: Arg | undefined;
  let rest: Arg[] = [];
  let inPlace = false;
  for (let i = 0; i < cmd.args.length; i++) {
    const arg = cmd.args[i]!;
    const t = arg.text;
    if (arg.hidden !== undefined || !t.startsWith('-') || t === '-') {
      script = arg;
      rest = cmd.args.slice(i + 1);
      break;
    }
    if (t === '--') {
      script = cmd.args[i + 1];
      rest = cmd.args.slice(i + 2);
      break;
    }
    if (t.startsWith('--')) {
      const [name, value] = t.includes('=') ? [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)] : [t, undefined];
      if (spec.codeLong?.includes(name)) {
        const code = value !== undefined ? { text: value, values: [value] } : cmd.args[++i];
        if (code) codes.push(code);
      } else if (spec.argLong?.includes(name) && value === undefined) i++;
      continue;
    }
    let stop = false;
    for (let k = 1; k < t.length; k++) {
      const c = t[k]!;
      const attached = t.slice(k + 1);
      if (spec.stop?.includes(c)) return [];
      if (spec.code.includes(c)) {
        const code = attached !== '' ? { text: attached, values: [attached] } : cmd.args[++i];
        if (code) codes.push(code);
        stop = spec.lang === 'python';
        break;
      }
      if (c === 'i' && spec.lang === 'perl') inPlace = true;
      if (spec.attached?.includes(c)) break;
      if (spec.args?.includes(c)) {
        if (attached === '') i++;
        break;
      }
    }
    if (stop) {
      rest = cmd.args.slice(i + 1);
      break;
    }
  }
  if (codes.length > 0) {
    const found = codeRule(cmd, ctx, spec.lang, codes);
    if (inPlace) {
      const files = script ? [script, ...rest] : rest;
      return [
        ...found,
        ...fileRules({ ...cmd, program: 'sed', args: [{ text: '-i', values: ['-i'] }, { text: '-e', values: ['-e'] }, { text: '', values: [''] }, ...files] }),
      ];
    }
    return found;
  }
  if (script && script.text !== '-') return script.stream ? stdinCode(script.stream, cmd, ctx, spec.lang) : writtenCode(script, cmd, ctx, spec.lang);
  return stdinCode(cmd.stdin, cmd, ctx, spec.lang);
}

export function awkRule(cmd: RunCmd, ctx: RuleContext): Found[] {
  const o = getopt(cmd.args, { shortArgs: 'fvFeiE', long: ['file=', 'assign=', 'field-separator=', 'source=', 'include='], posix: true });
  if (o.values.has('-f') || o.values.has('--file')) return [];
  const program = [...(o.values.get('-e') ?? []), ...(o.values.get('--source') ?? [])];
  return codeRule(cmd, ctx, 'awk', program.length > 0 ? program : o.operands.slice(0, 1));
}

export function codeRule(cmd: RunCmd, ctx: RuleContext, lang: Lang, codes: Arg[]): Found[] {
  const hidden = codes.find((c) => c.hidden !== undefined);
  if (hidden) return [confirm('hidden-code', `runs code from ${hidden.hidden}, which the check cannot see`, cmd.program)];
  return codeVerdict(lang, codes.map((c) => c.values.join('\n')).join('\n'), cmd, ctx);
}

function codeVerdict(lang: Lang, code: string, cmd: RunCmd, ctx: RuleContext): Found[] {
  const v = scanCode(lang, code, (shell) => ctx.nested(shell, { probe: true }), cmd.dir, cmd.home);
  if (!v) return [];
  return [v.verdict === 'refuse' ? { verdict: 'refuse', rule: v.rule, why: v.why, program: cmd.program } : confirm(v.rule, v.why, cmd.program)];
}
