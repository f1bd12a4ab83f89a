// What shell builtins do to what the check knows: `cd` moves the directory relative paths
// resolve against, `export X=…` assigns, `read`/`mapfile` make variables unknowable,
// `source` may change any of them.
import { resolvePath } from './policyTargets.js';
import type { Values } from './policyWords.js';
import type { Scope } from './policyScope.js';
import type { Arg, Dir } from './policyTypes.js';

type Assign = (name: string, values: Values, array: boolean) => void;

const DECLARERS = new Set(['export', 'declare', 'typeset', 'local', 'readonly']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function applyEffects(program: string, args: Arg[], scope: Scope, home: string): void {
  const assign: Assign = (name, values, array) => (array ? scope.setArray(name, values) : scope.set(name, values));
  if (program === 'cd' || program === 'pushd') scope.dir = changeDir(args, scope.dir, home);
  else if (program === 'popd') scope.dir = { kind: 'unknown' };
  else if (DECLARERS.has(program)) declare(args, assign);
  else if (program === 'read') readNames(args, assign);
  else if (program === 'mapfile' || program === 'readarray') {
    const names = args.filter((a) => NAME.test(a.text));
    assign(names[names.length - 1]?.text ?? 'MAPFILE', null, true);
  } else if (program === 'getopts' && args[1]) assign(args[1].text, null, false);
  else if (program === 'printf') {
    const i = args.findIndex((a) => a.text === '-v');
    if (i >= 0 && args[i + 1]) assign(args[i + 1]!.text, null, false);
  } else if (program === 'unset') {
    for (const a of args) {
      if (!NAME.test(a.text)) continue;
      scope.setArray(a.text, []);
      scope.set(a.text, ['']);
    }
  } else if (program === 'source' || program === '.') scope.forgetAll();
}

function changeDir(args: Arg[], dir: Dir, home: string): Dir {
  const operands = args.filter((a) => a.hidden !== undefined || !/^-[LPe@]+$/.test(a.text));
  const target = operands[0];
  if (!target) return { kind: 'known', path: home };
  if (target.hidden !== undefined || target.values.length !== 1 || target.text === '-') return { kind: 'unknown' };
  const path = resolvePath(target.values[0]!, dir, home);
  return path.startsWith('?') ? { kind: 'unknown' } : { kind: 'known', path };
}

function declare(args: Arg[], assign: Assign): void {
  for (const a of args) {
    const eq = a.text.indexOf('=');
    if (eq <= 0) continue;
    const name = a.text.slice(0, eq).replace(/\+$/, '');
    if (!NAME.test(name)) continue;
    assign(name, a.hidden !== undefined ? null : a.values.map((v) => v.slice(v.indexOf('=') + 1)), false);
  }
}

function readNames(args: Arg[], assign: Assign): void {
  let named = false;
  for (let i = 0; i < args.length; i++) {
    const t = args[i]!.text;
    if (t === '-a' && args[i + 1]) {
      assign(args[++i]!.text, null, true);
      named = true;
      continue;
    }
    if (/^-[dnNptu]$/.test(t)) {
      i++;
      continue;
    }
    if (t.startsWith('-')) continue;
    if (NAME.test(t)) {
      assign(t, null, false);
      named = true;
    }
  }
  if (!named) assign('REPLY', null, false);
}
