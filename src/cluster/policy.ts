// The dangerous-command policy: a bounded guard against mistakes, not a sandbox. It
// parses the command line (shellSyntax.ts), walks it with what a reader can know
// (policyWalk.ts) and gives two verdicts: refuse (definitely destructive, or impossible to
// check) and confirm (code a parser cannot see, for a human to approve). Per-node
// `policy:` settings decide what the parser cannot. Pure; runs in the client before a
// workflow starts and in the worker before a command runs.
import { newBudget } from './shellAst.js';
import { Scope, Walker } from './policyWalk.js';
import { WalkLimit } from './policyWalkTypes.js';
import { nodeFindings } from './policyNode.js';
import { resolvePath } from './policyTargets.js';
import { formatMessage, type Dir, type PolicyFinding, type PolicyInput } from './policyTypes.js';

export type { NodePolicy, PolicyFinding, PolicyInput, PolicyVerdict } from './policyTypes.js';

/** Larger inputs are refused before parsing (the MCP and CLI fronts cap commands at 64 KiB). */
const MAX_COMMAND_BYTES = 128 * 1024;
const MAX_FINDINGS = 20;

/** Env names that subvert the runner or the shell, and why. */
const RESERVED_ENV: Array<[RegExp, string]> = [
  [/^(LD_PRELOAD|LD_AUDIT|DYLD_INSERT_LIBRARIES)$/, 'loads code into every program the command starts'],
  [/^(BASH_ENV|ENV)$/, 'makes every shell the command starts run a file first'],
  [/^(SHELLOPTS|BASHOPTS)$/, 'changes how the shell parses and runs the command'],
  [/^(PROMPT_COMMAND|PS4)$/, 'runs code while the shell runs'],
  [/^(IFS|CDPATH)$/, 'changes how the shell splits words or where `cd` goes, so the check would not see what runs'],
  [/^BASH_FUNC_/, 'defines shell functions that replace commands'],
  [/^(CF_|__CF)/, "belongs to the clusterflow runner; a task's env can never set the runner's variables"],
];
// LD_LIBRARY_PATH is allowed: builds and tests use it to run what they just built, and it
// only affects programs the command itself starts, which the command could do anyway.

const REFUSE_HINT = 'clusterflow never runs this; if you really mean it, a human can run it on the node outside clusterflow';
const HINTS: Record<string, string> = {
  'rm-root':
    'delete the exact subdirectory you mean (e.g. `rm -rf ./build`); system directories, home, ~/.ssh and the whole working directory are never deleted through clusterflow',
  'write-system': 'write into the project or /tmp instead; changing system files and devices is left to a human outside clusterflow',
  'hidden-target': "put the value in the task's env (or assign it literally earlier in the command) so the check can see it",
  'too-complex': 'split the command, or put the script in a file on the node and run that file',
  unparseable: 'fix the shell syntax (`bash -n` shows the error): bash would run the lines before it',
  'env-name': 'drop that variable from env; if a program needs it, set it inside the command for that program',
  'kill-all': 'name the process (`kill 1234`, `kill %1`, `pkill -u me myserver`)',
};

/** Every finding, most severe first (refuse before confirm); [] when it may run. Pure, bounded: < 100 ms for any input ≤ 64 KiB. */
export function checkPolicy(input: PolicyInput): PolicyFinding[] {
  const env = input.env ?? {};
  let findings: PolicyFinding[] = envFindings(env);
  const home = env['HOME']?.startsWith('/') ? env['HOME'].replace(/\/+$/, '') || '/' : '~';
  try {
    if (Buffer.byteLength(input.command, 'utf8') > MAX_COMMAND_BYTES) {
      throw new WalkLimit(`the command is longer than ${MAX_COMMAND_BYTES / 1024} KiB`);
    }
    const walker = new Walker(newBudget(), home, input.node?.policy !== undefined);
    walker.run(input.command, Scope.initial(env, cwdDir(input.cwd)), { kind: 'none' }, { depth: 0, probe: false });
    findings.push(...walker.findings.map(({ text: _text, ...f }) => f), ...nodeFindings(walker.visited, input.node));
  } catch (err) {
    const why =
      err instanceof WalkLimit
        ? `is too complex to check (${err.message})`
        : err instanceof RangeError
          ? 'is nested too deeply to check'
          : `could not be checked (${err instanceof Error ? err.message : String(err)})`;
    findings.push({ verdict: 'refuse', rule: 'too-complex', message: formatMessage('refuse', 'too-complex', input.command, why), hint: '' });
  }
  const allow = new Set(input.node?.policy?.allow ?? []);
  findings = findings.filter((f) => !(f.verdict === 'confirm' && f.program !== undefined && allow.has(f.program)));
  const seen = new Set<string>();
  return findings
    .filter((f) => !seen.has(f.message) && seen.add(f.message))
    .sort((a, b) => (a.verdict === b.verdict ? 0 : a.verdict === 'refuse' ? -1 : 1))
    .slice(0, MAX_FINDINGS)
    .map((f) => ({ ...f, hint: f.hint !== '' ? f.hint : hintFor(f, input.node?.id) }));
}

/** Compat wrapper (first refuse-or-confirm finding as {rule,message}) for callers that only need a yes or no. */
export function checkDangerous(command: string): { rule: string; message: string } | null {
  const first = checkPolicy({ command })[0];
  return first ? { rule: first.rule, message: first.message } : null;
}

function hintFor(f: PolicyFinding, nodeId: string | undefined): string {
  if (f.verdict === 'confirm') {
    const where = nodeId ? `node ${nodeId}` : 'the node that runs it';
    return f.program
      ? `approve it when asked, or add \`${f.program}\` to policy.allow of ${where} in cluster.yaml`
      : 'approve it when asked, or make the code visible (a literal string instead of a variable or download)';
  }
  return HINTS[f.rule] ?? REFUSE_HINT;
}

function envFindings(env: Record<string, string>): PolicyFinding[] {
  const out: PolicyFinding[] = [];
  for (const name of Object.keys(env)) {
    const reason = !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? 'is not a valid variable name' : RESERVED_ENV.find(([re]) => re.test(name))?.[1];
    if (!reason) continue;
    const shown = `env ${name}=${(env[name] ?? '').slice(0, 40)}`;
    out.push({ verdict: 'refuse', rule: 'env-name', message: formatMessage('refuse', 'env-name', shown, `sets ${name}, which ${reason}`), hint: '' });
  }
  return out;
}

/** The task's cwd: absolute, or relative to home (where the runner starts). */
function cwdDir(cwd: string | undefined): Dir {
  if (cwd === undefined || cwd.trim() === '') return { kind: 'default' };
  const path = cwd.startsWith('/') || cwd === '~' || cwd.startsWith('~/') ? cwd : `~/${cwd}`;
  return { kind: 'known', path: resolvePath(path, { kind: 'default' }) };
}
