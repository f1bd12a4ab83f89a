// Shapes shared by the policy modules: the public verdict types and what the walker hands
// to each rule about one command.

export type PolicyVerdict = 'refuse' | 'confirm';

export interface PolicyFinding {
  /** refuse: definitely destructive or uncheckable; confirm: a parser cannot be sure (needs a human's yes) */
  verdict: PolicyVerdict;
  /** stable id, e.g. 'rm-root', 'interpreter-code', 'shell-stdin', 'node-deny', 'read-only', 'unparseable', 'too-complex' */
  rule: string;
  /** one line: what matched and why */
  message: string;
  /** how to allow it, or what to do instead */
  hint: string;
  /** the program the finding is about, when there is one (per-node allow matches it) */
  program?: string;
}

export interface NodePolicy {
  allow?: string[];
  deny?: string[];
  readOnly?: boolean;
}

export interface PolicyInput {
  command: string;
  /** the task's working directory (absolute, or relative to home) */
  cwd?: string;
  /** the task's env: a variable defined here is a literal the check can see */
  env?: Record<string, string>;
  /** the node it will run on, when known */
  node?: { id: string; policy?: NodePolicy };
}

/** Where relative paths start: a known directory ('/x' or '~/x'), the task's default one, or one the check cannot see. */
export type Dir = { kind: 'known'; path: string } | { kind: 'default' } | { kind: 'unknown' };

/** What a command reads on stdin, as far as the check can see it. */
export type Stdin =
  | { kind: 'none' }
  | { kind: 'file'; path: string }
  /** visible text: a literal here-document or here-string, `echo '…' |` */
  | { kind: 'code'; text: string }
  /** a pipe or substitution whose text cannot be seen */
  | { kind: 'hidden'; what: string };

/** A word after the expansions the check can see. */
export interface Arg {
  /** the text as far as it is visible (a hidden part keeps its source, e.g. `$X`) */
  text: string;
  /** the values it may take (several when a loop variable or branch gives it several); [] when hidden */
  values: string[];
  /** the expansion that cannot be seen, e.g. `$X` or `$(cat list)` */
  hidden?: string;
  /** too many alternatives to check (a brace expansion past the cap) */
  complex?: boolean;
  /** a process substitution `<( … )`: what reading it yields */
  stream?: Stdin;
}

/** One simple command as it would run, after wrappers, with what the check knows around it. */
export interface RunCmd {
  program: string;
  args: Arg[];
  /** every word, wrappers included (xargs options, …) */
  words: Arg[];
  wrappers: string[];
  /** the program word could not be seen (`$CMD …`, `$(curl …) …`) */
  programHidden?: string;
  text: string;
  stdin: Stdin;
  /** the command before it in a pipeline, when it is a simple one */
  upstream?: { program: string; args: Arg[] };
  dir: Dir;
  home: string;
}

/** Rules reach the walker through this, to check text that is itself a command line. */
export interface RuleContext {
  /** check a visible command line run by this command (`bash -c`, `eval`, a here-document fed to sh, an ssh remote command) */
  nested(source: string, how: { remote?: string; sameScope?: boolean; stdin?: Stdin; probe?: boolean }): PolicyFinding[];
  /** the ssh host whose remote command is being checked */
  remote?: string;
  /** what this command line wrote into `path` earlier (a script it then runs), if anything */
  written?(path: string): Stdin | undefined;
}

export type RuleResult = Array<Omit<PolicyFinding, 'message' | 'hint'> & { why: string; hint?: string; text?: string }>;

/** `refused by rule rm-root: \`rm -rf /\` would delete the root filesystem` */
export function formatMessage(verdict: PolicyVerdict, rule: string, text: string, why: string): string {
  const shown = shorten(text.trim());
  return verdict === 'refuse' ? `refused by rule ${rule}: \`${shown}\` ${why}` : `needs confirmation (rule ${rule}): \`${shown}\` ${why}`;
}

export function shorten(text: string, max = 160): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' ⏎ ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}
