// `.clusterflowignore` (gitignore syntax) for trees outside git. Pure: parse a file's text
// into rules, then ask whether a path relative to that file's directory is ignored.
// Supported as in gitignore(5): comments, `\#` `\!` escapes, trailing-space trimming, `!`
// negation (last match wins), trailing `/` = directories only, a `/` elsewhere anchors the
// pattern to the file's directory, `*` `?` `[...]` within one component, `**/` `/**` `/**/`.
// As in git, a file under an ignored directory cannot be re-included (the walk never enters it).

export interface IgnoreRule {
  negate: boolean;
  dirOnly: boolean;
  re: RegExp;
}

export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (let line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    line = line.replace(/(?<!\\)\s+$/, '');
    if (line === '') continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith('\\!') || line.startsWith('\\#')) {
      line = line.slice(1);
    }
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.replace(/\/+$/, '');
    }
    if (line === '') continue;
    // A slash at the start or in the middle anchors the pattern; otherwise it matches at any depth.
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    const body = globToRegex(line);
    rules.push({ negate, dirOnly, re: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`, 's') });
  }
  return rules;
}

/** `**` segments span directories; `*`, `?`, `[...]` stay within one component. */
function globToRegex(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*' && (i === 0 || pattern[i - 1] === '/') && (i + 2 === pattern.length || pattern[i + 2] === '/')) {
      if (i + 2 === pattern.length)
        out += '.*'; // trailing /**: everything inside
      else {
        out += '(?:.*/)?'; // **/ : zero or more directories
        i++;
      }
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        out += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      out += escapeRe(pattern[++i]!);
    } else out += escapeRe(c);
  }
  return out;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * A stack of rule sets, one per directory that has a `.clusterflowignore`, each with the path
 * of its directory relative to the tree root ('' for the root). Deeper files override.
 */
export interface IgnoreLayer {
  base: string;
  rules: IgnoreRule[];
}

export function isIgnored(layers: readonly IgnoreLayer[], relPath: string, isDir: boolean): boolean {
  let ignored = false;
  for (const layer of layers) {
    const sub = layer.base === '' ? relPath : relPath.startsWith(`${layer.base}/`) ? relPath.slice(layer.base.length + 1) : null;
    if (sub === null) continue;
    for (const rule of layer.rules) {
      if (rule.dirOnly && !isDir) continue;
      if (rule.re.test(sub)) ignored = !rule.negate;
    }
  }
  return ignored;
}
