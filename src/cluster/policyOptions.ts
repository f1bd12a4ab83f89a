// GNU-style option parsing for the programs the rules know: short clusters (`-rf`),
// options anywhere before `--`, and long options in any unambiguous abbreviation
// (getopt_long accepts `--recu` for `--recursive`, `--no-p` for `--no-preserve-root`).
import type { Arg } from './policyTypes.js';

export interface OptSpec {
  /** long option names, without dashes; a trailing '=' marks one that takes a value, '?' one whose value is optional (attached with '=' only) */
  long?: string[];
  /** short options that take a value (attached or as the next word) */
  shortArgs?: string;
  /** stop at the first operand (POSIX order), as find/ssh/xargs-run programs do */
  posix?: boolean;
}

export interface Options {
  /** short option letters given */
  short: Set<string>;
  /** full long option names given (abbreviations resolved) */
  long: Set<string>;
  /** values of options that take one: key '-x' or '--name' */
  values: Map<string, Arg[]>;
  operands: Arg[];
}

export function getopt(args: Arg[], spec: OptSpec): Options {
  const out: Options = { short: new Set(), long: new Set(), values: new Map(), operands: [] };
  const longs = (spec.long ?? []).map((l) => ({ name: l.replace(/[=?]$/, ''), takes: l.endsWith('='), optional: l.endsWith('?') }));
  const shortArgs = spec.shortArgs ?? '';
  const addValue = (key: string, value: Arg): void => {
    const list = out.values.get(key) ?? [];
    list.push(value);
    out.values.set(key, list);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const text = arg.text;
    if (arg.hidden !== undefined || text === '-' || !text.startsWith('-')) {
      out.operands.push(arg);
      if (spec.posix) {
        out.operands.push(...args.slice(i + 1));
        break;
      }
      continue;
    }
    if (text === '--') {
      out.operands.push(...args.slice(i + 1));
      break;
    }
    if (text.startsWith('--')) {
      const eq = text.indexOf('=');
      const given = text.slice(2, eq < 0 ? undefined : eq);
      const match = longs.find((l) => l.name === given) ?? unique(longs.filter((l) => l.name.startsWith(given)));
      if (!match) continue; // unknown or ambiguous: getopt rejects it, the program does not run
      out.long.add(match.name);
      if (match.takes || (match.optional && eq >= 0)) {
        if (eq >= 0) addValue(`--${match.name}`, { ...arg, text: text.slice(eq + 1), values: [text.slice(eq + 1)] });
        else if (i + 1 < args.length) addValue(`--${match.name}`, args[++i]!);
      }
      continue;
    }
    for (let k = 1; k < text.length; k++) {
      const c = text[k]!;
      out.short.add(c);
      if (shortArgs.includes(c)) {
        const rest = text.slice(k + 1);
        if (rest !== '') addValue(`-${c}`, { text: rest, values: [rest] });
        else if (i + 1 < args.length) addValue(`-${c}`, args[++i]!);
        break;
      }
    }
  }
  return out;
}

function unique<T>(list: T[]): T | undefined {
  return list.length === 1 ? list[0] : undefined;
}

/** Long options of the programs the rules look at (from their GNU coreutils/util-linux manuals). */
export const SPECS: Record<string, OptSpec> = {
  rm: { long: ['force', 'interactive?', 'one-file-system', 'no-preserve-root', 'preserve-root?', 'recursive', 'dir', 'verbose', 'help', 'version'] },
  chmod: { long: ['changes', 'silent', 'quiet', 'verbose', 'no-preserve-root', 'preserve-root', 'reference=', 'recursive', 'help', 'version'] },
  chown: {
    long: [
      'changes',
      'dereference',
      'no-dereference',
      'from=',
      'no-preserve-root',
      'preserve-root',
      'quiet',
      'silent',
      'reference=',
      'recursive',
      'verbose',
      'help',
      'version',
    ],
  },
  mv: {
    long: [
      'backup?',
      'force',
      'interactive',
      'no-clobber',
      'no-copy',
      'strip-trailing-slashes',
      'suffix=',
      'target-directory=',
      'no-target-directory',
      'update?',
      'verbose',
      'context',
      'exchange',
      'help',
      'version',
    ],
    shortArgs: 'St',
  },
  cp: {
    long: [
      'archive',
      'attributes-only',
      'backup?',
      'copy-contents',
      'force',
      'interactive',
      'link',
      'dereference',
      'no-clobber',
      'no-dereference',
      'preserve?',
      'no-preserve=',
      'parents',
      'recursive',
      'reflink?',
      'remove-destination',
      'sparse=',
      'strip-trailing-slashes',
      'symbolic-link',
      'suffix=',
      'target-directory=',
      'no-target-directory',
      'update?',
      'verbose',
      'one-file-system',
      'context',
      'help',
      'version',
    ],
    shortArgs: 'St',
  },
  install: {
    long: [
      'backup?',
      'compare',
      'directory',
      'group=',
      'mode=',
      'owner=',
      'preserve-timestamps',
      'strip',
      'strip-program=',
      'suffix=',
      'target-directory=',
      'no-target-directory',
      'verbose',
      'preserve-context',
      'context',
      'help',
      'version',
    ],
    shortArgs: 'gmoStC',
  },
  ln: {
    long: [
      'backup?',
      'directory',
      'force',
      'interactive',
      'logical',
      'no-dereference',
      'physical',
      'relative',
      'symbolic',
      'suffix=',
      'target-directory=',
      'no-target-directory',
      'verbose',
      'help',
      'version',
    ],
    shortArgs: 'St',
  },
  truncate: { long: ['no-create', 'io-blocks', 'reference=', 'size=', 'help', 'version'], shortArgs: 'rs' },
  tee: { long: ['append', 'ignore-interrupts', 'output-error?', 'help', 'version'] },
  sed: {
    long: [
      'quiet',
      'silent',
      'debug',
      'expression=',
      'file=',
      'follow-symlinks',
      'in-place?',
      'line-length=',
      'null-data',
      'zero-terminated',
      'posix',
      'regexp-extended',
      'separate',
      'sandbox',
      'unbuffered',
      'help',
      'version',
    ],
    shortArgs: 'efl',
  },
  shred: { long: ['force', 'iterations=', 'random-source=', 'size=', 'remove?', 'verbose', 'exact', 'zero', 'help', 'version'], shortArgs: 'ns' },
  wipefs: {
    long: ['all', 'backup=', 'force', 'help', 'lock=', 'no-act', 'noheadings', 'json', 'output=', 'offset=', 'parsable', 'quiet', 'types=', 'version'],
    shortArgs: 'oOt',
  },
  kill: { long: ['signal=', 'list?', 'table', 'queue=', 'timeout=', 'verbose', 'help', 'version'], shortArgs: 'snq' },
  pkill: {
    long: [
      'signal=',
      'euid=',
      'uid=',
      'group=',
      'pgroup=',
      'parent=',
      'session=',
      'terminal=',
      'full',
      'exact',
      'newest',
      'oldest',
      'count',
      'ignore-case',
      'inverse',
      'ns=',
      'nslist=',
      'older=',
      'pidfile=',
      'logpidfile',
      'runstates=',
      'cgroup=',
      'echo',
      'require-handler',
      'help',
      'version',
    ],
    shortArgs: 'gGPsUutF',
  },
  killall: {
    long: [
      'exact',
      'ignore-case',
      'process-group',
      'younger-than=',
      'older-than=',
      'interactive',
      'regexp',
      'signal=',
      'user=',
      'verbose',
      'wait',
      'ns=',
      'context=',
      'quiet',
      'version',
      'help',
    ],
    shortArgs: 'yosuZn',
  },
};
SPECS['unlink'] = SPECS['rm']!;
SPECS['chgrp'] = SPECS['chown']!;
