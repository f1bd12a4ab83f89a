// Heavy/light classification of a command line for routing. Built on the shell parser so
// that `git merge` is not "make", `echo make` runs echo, and `cd x && make` runs make.
import { parseShell, type SimpleCommand } from './shellParse.js';

/**
 * Entries are `program` (any use), `program sub` (first non-option argument is `sub`, e.g.
 * `go test`) or `program -x` / `program --long` (that option is given, e.g. `grep -r`
 * also matches `grep -rn`). Launchers are looked through: `npx jest` matches `jest`,
 * `python -m pytest` matches `pytest`.
 */
export const DEFAULT_OFFLOAD_COMMANDS: string[] = [
  // builds
  'make',
  'gmake',
  'ninja',
  'cmake',
  'meson',
  'bazel',
  'bazelisk',
  'scons',
  'mvn',
  'mvnw',
  'gradle',
  'gradlew',
  'ant',
  'sbt',
  'cargo',
  'rustc',
  'go build',
  'go test',
  'go install',
  'go run',
  'go vet',
  'go generate',
  'npm',
  'yarn',
  'pnpm',
  'bun',
  'tsc',
  'dotnet',
  'xcodebuild',
  'swift build',
  'swift test',
  'gcc',
  'g++',
  'clang',
  'clang++',
  'cc',
  'c++',
  'javac',
  // test runners (`test`: a program of that name run by path, ./test or scripts/test; the bare
  // word is the shell's test builtin, `test -f x` / `[ -f x ]`, and stays light: see testBuiltin)
  'test',
  'pytest',
  'py.test',
  'tox',
  'nox',
  'unittest',
  'jest',
  'vitest',
  'mocha',
  'ava',
  'karma',
  'playwright',
  'cypress',
  'ctest',
  // containers and clusters
  'docker',
  'podman',
  'buildah',
  'kubectl',
  'helm',
  // bulk file work
  'rsync',
  'scp',
  'tar',
  'zip',
  'unzip',
  '7z',
  'find',
  'ffmpeg',
  'grep -r',
  'grep -R',
  'grep --recursive',
  'egrep -r',
  'egrep -R',
  'fgrep -r',
  'fgrep -R',
  'rg',
  'ag',
];

export const DEFAULT_LOCAL_COMMANDS: string[] = [
  'ls',
  'pwd',
  'cd',
  'echo',
  'cat',
  'head',
  'tail',
  'which',
  'type',
  'true',
  'false',
  'printf',
  'date',
  'whoami',
  'id',
  'hostname',
  'uname',
  'env',
];

export interface Classification {
  weight: 'heavy' | 'light';
  reason: string;
  programs: string[];
}

export interface ListEntry {
  text: string;
  program: string;
  qualifier?: string;
}

/**
 * Heavy when any part of the command line (pipeline, list, subshell, `$( )`, `bash -c`)
 * runs an offload program; otherwise light. Given lists replace the defaults.
 */
export function classifyCommand(command: string, lists?: { offload?: string[]; local?: string[] }): Classification {
  const offload = compile(lists?.offload ?? DEFAULT_OFFLOAD_COMMANDS);
  const local = compile(lists?.local ?? DEFAULT_LOCAL_COMMANDS);
  const shown = `\`${shorten(command.trim())}\``;
  const parsed = parseShell(command);
  if (!parsed.ok) {
    return { weight: 'light', reason: `light: ${shown} did not parse as a shell command (${parsed.error}), so it is not offloaded`, programs: [] };
  }
  const runs = parsed.commands.flatMap((cmd) => {
    const launched = launchedCommand(cmd);
    return launched
      ? [
          { cmd, via: '' },
          { cmd: launched, via: ` (via ${cmd.program})` },
        ]
      : [{ cmd, via: '' }];
  });
  const programs = [...new Set(runs.map((r) => r.cmd.program).filter((p) => p !== ''))];
  for (const { cmd, via } of runs) {
    const entry = offload.find((e) => matches(e, cmd));
    if (entry) return { weight: 'heavy', reason: `heavy: \`${entry.text}\`${via} in ${shown} is in the offload set`, programs };
  }
  if (programs.length === 0) return { weight: 'light', reason: `light: ${shown} runs no program`, programs };
  const unknown = [...new Set(runs.filter((r) => r.cmd.program !== '' && !local.some((e) => matches(e, r.cmd))).map((r) => r.cmd.program))];
  if (unknown.length === 0) {
    return { weight: 'light', reason: `light: every program in ${shown} (${programs.join(', ')}) is in the stay-local set`, programs };
  }
  return { weight: 'light', reason: `light: nothing in ${shown} is in the offload set (not listed: ${unknown.join(', ')})`, programs };
}

export const compileEntries = (list: string[]): ListEntry[] => compile(list);
export const matchesEntry = (entry: ListEntry, cmd: SimpleCommand): boolean => matches(entry, cmd);

function compile(list: string[]): ListEntry[] {
  return list.map((text) => {
    const [program = '', qualifier] = text.trim().split(/\s+/);
    return qualifier === undefined ? { text, program } : { text, program, qualifier };
  });
}

/**
 * `test` / `[` written as a bare word run the shell's builtin (a file or string test, cheap and
 * about this machine's files), not a program called test: an entry `test` does not match them.
 * `./test` or `scripts/test` (a path) is a program, typically a project's test script.
 */
function testBuiltin(cmd: SimpleCommand): boolean {
  return (cmd.program === 'test' || cmd.program === '[') && !cmd.invokedByPath;
}

function matches(entry: ListEntry, cmd: SimpleCommand): boolean {
  if (cmd.program !== entry.program || testBuiltin(cmd)) return false;
  const q = entry.qualifier;
  if (q === undefined) return true;
  const options = cmd.args.slice(0, endOfOptions(cmd.args));
  if (q.startsWith('--')) return options.some((a) => a === q || a.startsWith(`${q}=`));
  if (q.startsWith('-')) return options.some((a) => /^-[A-Za-z0-9]+$/.test(a) && a.includes(q.slice(1)));
  return firstOperand(cmd.args) === q;
}

function endOfOptions(args: string[]): number {
  const i = args.indexOf('--');
  return i < 0 ? args.length : i;
}

function firstOperand(args: string[]): string | undefined {
  return args.find((a) => !a.startsWith('-'));
}

/** `npx jest`, `pnpx vitest`, `python3 -m pytest`, `uv run pytest`: the tool being launched. */
export function launchedCommand(cmd: SimpleCommand): SimpleCommand | null {
  let rest: string[] | undefined;
  if (['npx', 'pnpx', 'bunx'].includes(cmd.program)) {
    const tool = cmd.args.findIndex((a) => !a.startsWith('-'));
    rest = tool >= 0 ? cmd.args.slice(tool) : undefined;
  } else if (/^python[0-9.]*$/.test(cmd.program) || cmd.program === 'pypy3') {
    const m = cmd.args.indexOf('-m');
    rest = m >= 0 ? cmd.args.slice(m + 1) : undefined;
  } else if (['uv', 'poetry', 'pipenv', 'hatch', 'pdm'].includes(cmd.program) && cmd.args[0] === 'run') {
    rest = cmd.args.slice(1);
  }
  if (!rest || rest.length === 0 || rest[0]!.startsWith('-')) return null;
  return { ...cmd, program: rest[0]!.replace(/@[^/]*$/, ''), args: rest.slice(1) };
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 120 ? `${oneLine.slice(0, 117)}...` : oneLine;
}
