// Programs that run another program (sudo, nice, env, xargs, …) and shells that run a
// string (`bash -c`, `eval`): knowing their option syntax lets classification and the
// danger policy see the program that really runs.

interface WrapperSpec {
  /** options that consume the next word (or the rest of a short-option cluster) */
  argFlags?: string[];
  /** words after the options and before the command, e.g. the duration of `timeout 5 make` */
  positionals?: number;
  /** accepts VAR=value words before the command (env, sudo) */
  assignments?: boolean;
  /** options that mean "no command follows": `command -v make` only looks make up */
  queryFlags?: string[];
  /** options whose value is itself a command line (`env -S 'make -j4'`) */
  stringFlags?: string[];
}

const WRAPPERS: Record<string, WrapperSpec> = {
  sudo: {
    argFlags: [
      '-u',
      '-g',
      '-C',
      '-D',
      '-h',
      '-p',
      '-r',
      '-t',
      '-T',
      '-U',
      '--user',
      '--group',
      '--close-from',
      '--chdir',
      '--host',
      '--prompt',
      '--role',
      '--type',
      '--command-timeout',
      '--other-user',
    ],
    assignments: true,
    queryFlags: ['-l', '--list', '-v', '--validate', '-V', '--version'],
  },
  doas: { argFlags: ['-u', '-C'], queryFlags: ['-C'] },
  time: { argFlags: ['-f', '-o', '--format', '--output'] },
  nice: { argFlags: ['-n', '--adjustment'] },
  nohup: {},
  env: { argFlags: ['-u', '-C', '--unset', '--chdir'], assignments: true, stringFlags: ['-S', '--split-string'] },
  timeout: { argFlags: ['-s', '-k', '--signal', '--kill-after'], positionals: 1 },
  xargs: {
    argFlags: [
      '-I',
      '-L',
      '-n',
      '-P',
      '-s',
      '-d',
      '-E',
      '-a',
      '--max-args',
      '--max-procs',
      '--delimiter',
      '--arg-file',
      '--max-lines',
      '--eof',
      '--max-chars',
      '--process-slot-var',
    ],
  },
  command: { queryFlags: ['-v', '-V'] },
  exec: { argFlags: ['-a'] },
  stdbuf: { argFlags: ['-i', '-o', '-e', '--input', '--output', '--error'] },
  ionice: { argFlags: ['-c', '-n', '--class', '--classdata'], queryFlags: ['-p', '--pid', '-P', '--pgid', '-u', '--uid'] },
  taskset: { positionals: 1, queryFlags: ['-p', '--pid'] },
  chrt: { positionals: 1, queryFlags: ['-p', '--pid', '-m', '--max'] },
  busybox: { queryFlags: ['--list', '--help', '--install'] },
  toybox: { queryFlags: ['--help', '--long'] },
  setsid: {},
  chroot: { argFlags: ['--userspec', '--groups'], positionals: 1 },
  flock: { argFlags: ['-w', '--timeout', '-E', '--conflict-exit-code'], positionals: 1 },
  runuser: { argFlags: ['-u', '--user', '-g', '--group', '-G', '--supp-group', '-s', '--shell'], stringFlags: ['-c', '--command'] },
  builtin: {},
  pkexec: { argFlags: ['--user'] },
  run0: { argFlags: ['-u', '--user', '-g', '--group', '-D', '--chdir', '--setenv', '--unit', '--property', '--description', '--slice', '--nice', '--machine'] },
  'systemd-run': {
    argFlags: [
      '-u',
      '--unit',
      '-p',
      '--property',
      '--uid',
      '--gid',
      '-E',
      '--setenv',
      '--description',
      '--slice',
      '-M',
      '--machine',
      '-H',
      '--host',
      '--working-directory',
      '--on-active',
      '--on-boot',
      '--on-startup',
      '--on-unit-active',
      '--on-unit-inactive',
      '--on-calendar',
      '--timer-property',
      '--path-property',
      '--socket-property',
      '--nice',
      '--expand-environment',
    ],
  },
  unbuffer: {},
  caffeinate: { argFlags: ['-t', '-w'] },
  arch: {},
  strace: { argFlags: ['-o', '-e', '-p', '-s', '-u', '-E', '-I', '-a', '-b', '-P', '-X', '-S', '-O'] },
};

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'busybox']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const MAX_WRAPPERS = 8;

export interface Unwrapped {
  /** the command that really runs: program first */
  words: string[];
  wrappers: string[];
  env: Record<string, string>;
  /** command lines given as option values (`env -S`), to be parsed in turn */
  nested: string[];
}

export function unwrapCommand(words: string[]): Unwrapped {
  const out: Unwrapped = { words, wrappers: [], env: {}, nested: [] };
  let start = 0;
  for (let depth = 0; depth < MAX_WRAPPERS; depth++) {
    const name = baseName(words[start] ?? '');
    const spec = WRAPPERS[name];
    if (!spec) break;
    const scanned = scanOptions(words, start + 1, spec);
    if (!scanned) break; // a query form such as `command -v make`: the wrapper itself is the command
    Object.assign(out.env, scanned.env);
    out.nested.push(...scanned.strings);
    const commandAt = scanned.next + (spec.positionals ?? 0);
    if (commandAt >= words.length) break; // `env` alone, `sudo -k`: nothing wrapped
    out.wrappers.push(name);
    start = commandAt;
  }
  out.words = words.slice(start);
  return out;
}

function scanOptions(words: string[], from: number, spec: WrapperSpec): { next: number; env: Record<string, string>; strings: string[] } | null {
  const takesArg = new Set(spec.argFlags ?? []);
  const isString = new Set(spec.stringFlags ?? []);
  const isQuery = new Set(spec.queryFlags ?? []);
  const env: Record<string, string> = {};
  const strings: string[] = [];
  let i = from;
  while (i < words.length) {
    const word = words[i]!;
    if (word === '--') return { next: i + 1, env, strings };
    if (spec.assignments && ASSIGNMENT.test(word)) {
      const eq = word.indexOf('=');
      env[word.slice(0, eq)] = word.slice(eq + 1);
      i++;
      continue;
    }
    if (word.startsWith('--')) {
      const [flag, inlineValue] = splitLong(word);
      if (isQuery.has(flag)) return null;
      const consumes = (takesArg.has(flag) || isString.has(flag)) && inlineValue === undefined;
      const value = inlineValue ?? (consumes ? words[i + 1] : undefined);
      if (isString.has(flag) && value !== undefined) strings.push(value);
      i += consumes ? 2 : 1;
      continue;
    }
    if (/^-\d+$/.test(word)) {
      i++;
      continue;
    } // `nice -5 make`
    if (!word.startsWith('-') || word === '-') break;
    // a short-option cluster such as -Eu or -n5: an option taking a value ends it
    let consumedNext = false;
    for (let k = 1; k < word.length; k++) {
      const flag = `-${word[k]}`;
      if (isQuery.has(flag)) return null;
      if (takesArg.has(flag) || isString.has(flag)) {
        const attached = word.slice(k + 1);
        const value = attached !== '' ? attached : words[i + 1];
        if (attached === '') consumedNext = true;
        if (isString.has(flag) && value !== undefined) strings.push(value);
        break;
      }
    }
    i += consumedNext ? 2 : 1;
  }
  return { next: i, env, strings };
}

function splitLong(word: string): [string, string | undefined] {
  const eq = word.indexOf('=');
  return eq < 0 ? [word, undefined] : [word.slice(0, eq), word.slice(eq + 1)];
}

/** `/usr/bin/make` → `make`; a trailing slash keeps the word as it is. */
export function baseName(program: string): string {
  const slash = program.lastIndexOf('/');
  return slash >= 0 && slash < program.length - 1 ? program.slice(slash + 1) : program;
}

/**
 * Command lines hidden in arguments: `bash -c '…'`, `eval …`, `su -c '…'` (strings to
 * parse) and `find … -exec cmd … ;` (word lists).
 */
export function nestedShellSource(program: string, args: string[]): Array<string | string[]> {
  if (SHELLS.has(program)) {
    const shellArgs = program === 'busybox' && SHELLS.has(args[0] ?? '') ? args.slice(1) : args;
    const script = shellCommandString(shellArgs);
    return script === undefined ? [] : [script];
  }
  if (program === 'eval') return args.length > 0 ? [args.join(' ')] : [];
  if (program === 'su') {
    const i = args.findIndex((a) => a === '-c' || a === '--command' || a.startsWith('--command='));
    if (i < 0) return [];
    const value = args[i]!.startsWith('--command=') ? args[i]!.slice('--command='.length) : args[i + 1];
    return value === undefined ? [] : [value];
  }
  if (program === 'find') return findExecCommands(args);
  return [];
}

/** The string after `-c` for sh-like shells (`bash -lc 'make'`, `sh -e -c 'make'`). */
function shellCommandString(args: string[]): string | undefined {
  let hasC = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return hasC ? args[i + 1] : undefined;
    if (/^[-+][A-Za-z]+$/.test(arg)) {
      if (arg.startsWith('-') && arg.includes('c')) hasC = true;
      if (/[oO]/.test(arg)) i++; // -o option / -O shopt take a value
      continue;
    }
    if (arg.startsWith('--')) continue; // --login, --norc, …
    return hasC ? arg : undefined;
  }
  return undefined;
}

function findExecCommands(args: string[]): string[][] {
  const found: string[][] = [];
  for (let i = 0; i < args.length; i++) {
    if (!['-exec', '-execdir', '-ok', '-okdir'].includes(args[i]!)) continue;
    const end = args.findIndex((a, j) => j > i && (a === ';' || a === '+'));
    found.push(args.slice(i + 1, end < 0 ? args.length : end));
    if (end > i) i = end;
  }
  return found;
}
