// Code handed to an interpreter on the command line (`python3 -c`, `perl -e`, `node -e`,
// awk programs, …). A parser for every language is out of reach, so this looks for the
// calls that delete, write, run programs or build code at run time. A literal path to a
// protected place, or a shell string that the shell rules refuse, is refused; any other
// such call needs a human's confirmation; plain computations pass.
import { deleteTarget, writeTarget } from './policyTargets.js';
import type { Dir, PolicyFinding } from './policyTypes.js';

export type Lang = 'python' | 'perl' | 'ruby' | 'node' | 'php' | 'lua' | 'r' | 'osascript' | 'awk';

interface Catalog {
  /** deleting calls; group 1: the call, group 3: a literal path argument */
  deletes?: RegExp;
  /** writing calls; group 1: the call, group 3: a literal path */
  writes?: RegExp;
  /** calls that run other programs (their string literals are checked as shell) */
  execs?: RegExp;
  /** code built at run time, signals, other effects a reader cannot follow */
  other?: RegExp;
}

const Q = `(['"\`])([^'"\`\\n]{0,512})\\2`;
const CATALOGS: Record<Lang, Catalog> = {
  python: {
    deletes: new RegExp(
      `\\b(shutil\\s*\\.\\s*rmtree|rmtree|os\\s*\\.\\s*(?:remove|unlink|rmdir|removedirs|truncate|rename|replace)|shutil\\s*\\.\\s*move|\\.unlink|\\.rmdir)\\s*\\(\\s*(?:r?${Q})?`,
    ),
    writes: new RegExp(
      `\\b(open|Path)\\s*\\(\\s*(?:r?${Q})?[^)]*(?:,\\s*(?:mode\\s*=\\s*)?['"][^'"]*[wax+]|\\)\\s*\\.\\s*(?:write_text|write_bytes|open\\s*\\(\\s*['"][wax]))`,
    ),
    execs: /\b(os\s*\.\s*(?:system|popen|exec\w*|spawn\w*|posix_spawn\w*)|subprocess|pty\s*\.\s*spawn|commands\s*\.\s*getoutput)\b/,
    other:
      /\b(exec|eval|compile)\s*\(|\b(__import__|importlib|ctypes|marshal|os\s*\.\s*(?:kill|killpg|chmod|chown|setuid|fork)|getattr\s*\(\s*(?:os|shutil|subprocess)\b)/,
  },
  perl: {
    deletes: new RegExp(`\\b(unlink|rmdir|rmtree|remove_tree|rename)\\b\\s*\\(?\\s*(?:${Q})?`),
    writes: /\b(open)\s*\(?\s*(?:my\s+)?[$\w]+\s*,\s*(?:['"]\s*(?:\+?>>?|\+<)\s*['"]\s*,\s*(['"])([^'"\n]{0,512})\2|(['"])\s*\+?>>?\s*([^'"\n]{0,512})\4)/,
    execs: /\b(system|exec|qx)\b|`|\bopen\b[^;]*\|/,
    other: /\b(eval|kill|syscall|chmod|chown|fork)\b|\bdo\s+['"$]|\brequire\s+\$/,
  },
  ruby: {
    deletes: new RegExp(
      `\\b(FileUtils\\s*\\.\\s*(?:rm_rf|rm_r|rm_f|rm|remove_dir|remove_entry(?:_secure)?|rmtree|remove|mv|move)|File\\s*\\.\\s*(?:delete|unlink)|Dir\\s*\\.\\s*(?:rmdir|delete|unlink)|\\.rmtree)\\b\\s*\\(?\\s*(?:${Q})?`,
    ),
    writes: new RegExp(`\\b(File\\s*\\.\\s*write|IO\\s*\\.\\s*write)\\s*\\(?\\s*(?:${Q})?`),
    execs: /\b(system|exec|spawn|IO\s*\.\s*popen|Open3|Kernel\s*\.\s*(?:system|exec|spawn))\b|`|%x[({[]/,
    other: /\b(eval|instance_eval|class_eval|send|fork|Process\s*\.\s*kill|File\s*\.\s*(?:chmod|chown)|File\s*\.\s*open\s*\([^)]*['"][wa])\b/,
  },
  node: {
    deletes: new RegExp(`\\b(rmSync|rmdirSync|unlinkSync|rm|rmdir|unlink|remove|removeSync|emptyDirSync|Deno\\s*\\.\\s*remove)\\s*\\(\\s*(?:${Q})?`),
    writes: new RegExp(
      `\\b(writeFileSync|appendFileSync|writeFile|appendFile|createWriteStream|truncateSync|truncate|Deno\\s*\\.\\s*writeTextFile|Bun\\s*\\.\\s*write)\\s*\\(\\s*(?:${Q})?`,
    ),
    execs:
      /\bchild_process\b|(?<![.\w])(?:execSync|execFileSync|spawnSync|execFile|spawn|exec)\s*\(|\.\s*(?:execSync|execFileSync|spawnSync|spawn)\s*\(|\bDeno\s*\.\s*(?:Command|run)\b|\bBun\s*\.\s*(?:spawn|\$)/,
    other: /\beval\s*\(|\bFunction\s*\(|\bvm\s*\.\s*run|\brequire\s*\(\s*[^'"`\s)]|\bprocess\s*\.\s*kill\b|\bchmodSync\b|\bchownSync\b/,
  },
  php: {
    deletes: new RegExp(`\\b(unlink|rmdir|rename)\\s*\\(\\s*(?:${Q})?`),
    writes: new RegExp(`\\b(file_put_contents|fopen(?=\\s*\\([^)]*,\\s*['"][waxc+]))\\s*\\(\\s*(?:${Q})?`),
    execs: /\b(system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(|`/,
    other: /\b(eval|assert|create_function|chmod|chown|posix_kill)\s*\(/,
  },
  lua: {
    deletes: new RegExp(`\\b(os\\s*\\.\\s*(?:remove|rename))\\s*\\(\\s*(?:${Q})?`),
    writes: new RegExp(`\\b(io\\s*\\.\\s*open)(?=\\s*\\([^)]*,\\s*['"][wa])\\s*\\(\\s*(?:${Q})?`),
    execs: /\b(os\s*\.\s*execute|io\s*\.\s*popen)\b/,
    other: /\b(load|loadstring|dofile|loadfile)\s*\(/,
  },
  r: {
    deletes: new RegExp(`\\b(unlink|file\\.remove|file\\.rename)\\s*\\(\\s*(?:${Q})?`),
    execs: /\b(system2?|shell)\s*\(/,
    other: /\beval\s*\(\s*parse\b/,
  },
  osascript: {
    execs: /\bdo\s+shell\s+script\b/,
    other: /\b(delete|restart|shut\s+down|System\s+Events)\b/,
  },
  awk: {
    writes: /\b(printf?)\b[^;}]*?>>?\s*(")([^"]*)"/,
    execs: /\bsystem\s*\(|\|\s*getline|\bprintf?\b[^;}]*\|/,
  },
};

const STRING_LITERALS = /'((?:[^'\\\n]|\\.){1,4096})'|"((?:[^"\\\n]|\\.){1,4096})"|`([^`]{1,4096})`/g;
const MAX_LITERALS = 32;
const RECURSIVE = /rmtree|rm_rf|rm_r\b|remove_dir|remove_tree|removedirs|rmSync|rmdir|emptyDir|move|mv|rename|replace|Deno\s*\.\s*remove|remove_entry/;

export interface CodeVerdict {
  verdict: 'refuse' | 'confirm';
  rule: string;
  why: string;
}

/**
 * `probe` runs the shell rules on a string without reporting it, so a string literal
 * that is no command line (a message, a path) costs nothing.
 */
export function scanCode(lang: Lang, code: string, probe: (shell: string) => PolicyFinding[], dir: Dir, home: string): CodeVerdict | null {
  const cat = CATALOGS[lang];
  const name = lang === 'node' ? 'JavaScript' : lang === 'r' ? 'R' : lang === 'osascript' ? 'AppleScript' : lang[0]!.toUpperCase() + lang.slice(1);
  for (const [re, write] of [
    [cat.deletes, false],
    [cat.writes, true],
  ] as const) {
    if (!re) continue;
    const global = new RegExp(re.source, 'g');
    for (const m of code.matchAll(global)) {
      const path = m[3] ?? m[5];
      if (path === undefined) continue;
      const t = write || !RECURSIVE.test(m[1]!) ? writeTarget(path, dir, home) : deleteTarget(path, dir, home);
      if (t && t.kind !== 'cwd' && t.kind !== 'hidden') {
        return { verdict: 'refuse', rule: 'interpreter-code', why: `${write ? 'writes' : 'deletes'} ${t.what} (\`${m[1]}\` in ${name} code)` };
      }
    }
  }
  const exec = cat.execs?.exec(code);
  if (exec) {
    let seen = 0;
    for (const m of code.matchAll(STRING_LITERALS)) {
      if (++seen > MAX_LITERALS) break;
      const literal = (m[1] ?? m[2] ?? m[3] ?? '').replace(/\\(["'\\])/g, '$1');
      const refused = probe(literal).find((f) => f.verdict === 'refuse' && f.rule !== 'unparseable' && f.rule !== 'too-complex');
      if (refused)
        return {
          verdict: 'refuse',
          rule: refused.rule,
          why: `runs \`${literal.slice(0, 80)}\` from ${name} code (\`${exec[0].trim()}\`): ${refused.message.replace(/^refused by rule [\w-]+: /, '')}`,
        };
    }
  }
  const kinds: Array<[RegExp | undefined, string]> = [
    [cat.deletes, 'deletes files'],
    [cat.writes, 'writes files'],
    [cat.execs, 'runs other programs'],
    [cat.other, 'does things a reader of the command line cannot follow'],
  ];
  let found: RegExpExecArray | null = null;
  let kind = '';
  for (const [re, k] of kinds) {
    found = re?.exec(code) ?? null;
    if (found) {
      kind = k;
      break;
    }
  }
  if (!found) return null;
  const call = found[0].replace(/\s*\(?\s*(['"`].*)?$/s, '').slice(0, 40);
  return { verdict: 'confirm', rule: 'interpreter-code', why: `runs ${name} code that ${kind} (\`${call}\`)` };
}
