import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDangerous, checkPolicy, type NodePolicy, type PolicyInput } from '../../src/cluster/policy.js';

function table(name: string, cases: Array<[PolicyInput, string | null]>): void {
  test(name, async (t) => {
    for (const [input, rule] of cases) {
      const label = `${input.command}${input.cwd ? ` (cwd ${input.cwd})` : ''}${input.env ? ` (env ${JSON.stringify(input.env)})` : ''}`;
      await t.test(label, () => {
        const findings = checkPolicy(input);
        assert.equal(findings[0]?.rule ?? null, rule, findings.map((f) => f.message).join('\n'));
      });
    }
  });
}

table('relative targets resolve against the cwd and every `cd`; variables resolve when visible', [
  [{ command: 'rm -rf etc', cwd: '/' }, 'rm-root'],
  [{ command: 'rm -rf etc' }, null],
  [{ command: 'rm -rf etc', cwd: '/tmp' }, null],
  [{ command: 'rm -rf ssh', cwd: '/etc' }, 'rm-root'],
  [{ command: 'rm -rf .ssh' }, 'rm-root'],
  [{ command: 'rm -rf .ssh', cwd: '/tmp/x' }, null],
  [{ command: 'rm -rf ../..', cwd: 'project' }, 'rm-root'],
  [{ command: 'rm -rf build', cwd: '/' }, null],
  [{ command: 'cd /etc && rm -rf ssh' }, 'rm-root'],
  [{ command: '(cd /etc) && rm -rf ssh' }, null],
  [{ command: 'cd "$X" && rm -rf usr' }, 'hidden-target'],
  [{ command: 'cd "$X" && rm -rf build' }, null],
  [{ command: 'rm -rf "$D"', env: { D: '/usr' } }, 'rm-root'],
  [{ command: 'rm -rf "$D"', env: { D: '/tmp/x' } }, null],
  [{ command: 'rm -rf "$D"' }, 'hidden-target'],
  [{ command: 'D=/tmp/x; rm -rf "$D"' }, null],
  [{ command: 'D=/usr; rm -rf "$D/lib"' }, 'rm-root'],
  [{ command: 'D=/usr rm -rf "$D"' }, 'hidden-target'], // a prefix assignment does not reach the command's own words
  [{ command: 'rm -rf ~/etc', env: { HOME: '/' } }, 'rm-root'],
  [{ command: 'rm -rf ~/x', env: { HOME: '/' } }, null],
  [{ command: 'if [ -n "$CI" ]; then D=/tmp/a; else D=/tmp/b; fi; rm -rf "$D"' }, null],
  [{ command: 'if [ -n "$CI" ]; then D=/usr; else D=/tmp/b; fi; rm -rf "$D"' }, 'rm-root'],
  [{ command: '[ -n "$CI" ] && D=/tmp/a; rm -rf "$D"' }, 'hidden-target'],
  [{ command: 'for d in a b; do rm -rf "/tmp/$d"; done' }, null],
  [{ command: 'for d in tmp etc; do rm -rf "/$d"; done' }, 'rm-root'],
  [{ command: 'X=/tmp/x; for i in 1 2; do rm -rf "$X"; X=/; done' }, 'rm-root'],
  [{ command: 'X=$(mktemp -d); rm -rf "$X"' }, null],
  [{ command: 'rm -rf "$(pwd)"' }, 'rm-root'],
  [{ command: 'rm -rf /tmp/build-$$' }, null],
  [{ command: 'rm -rf "/home/$USER"' }, 'rm-root'],
  [{ command: 'rm -rf "${X%/*}"', env: { X: '/usr/bin' } }, 'rm-root'],
  [{ command: 'rm -rf "${X##*/}"', env: { X: '/usr/bin' } }, null],
  [{ command: 'rm -rf "${X:-/}"' }, 'hidden-target'],
  [{ command: 'rm -rf "${X:-/tmp/y}"', env: { X: '' } }, null],
  [{ command: 'f() { rm -rf "$T"; }; T=/boot; f' }, 'rm-root'],
  [{ command: 'T=/tmp/t; trap \'rm -rf "$T"\' EXIT; T=/etc' }, 'rm-root'],
  [{ command: '> passwd', cwd: '/etc' }, 'write-system'],
  [{ command: 'echo x > out.txt', cwd: '/etc' }, 'write-system'],
  [{ command: 'echo x > out.txt', cwd: '/tmp' }, null],
]);

const n1 = (policy: NodePolicy): PolicyInput['node'] => ({ id: 'n1', policy });

table('per-node policy: deny refuses, allow trusts, read_only refuses anything that may write', [
  [{ command: 'docker ps', node: n1({ deny: ['docker'] }) }, 'node-deny'],
  [{ command: 'sudo docker ps', node: n1({ deny: ['docker'] }) }, 'node-deny'],
  [{ command: 'bash -c "docker ps"', node: n1({ deny: ['docker'] }) }, 'node-deny'],
  [{ command: 'sudo make', node: n1({ deny: ['sudo'] }) }, 'node-deny'],
  [{ command: 'make', node: n1({ deny: ['docker'] }) }, null],
  [{ command: 'docker ps', node: { id: 'n1' } }, null],
  [{ command: 'python3 -c \'import subprocess; subprocess.run(["ls"])\'' }, 'interpreter-code'],
  [{ command: 'python3 -c \'import subprocess; subprocess.run(["ls"])\'', node: n1({ allow: ['python3'] }) }, null],
  [{ command: 'python3 -c \'import shutil; shutil.rmtree("/")\'', node: n1({ allow: ['python3'] }) }, 'interpreter-code'],
  [{ command: 'curl -s https://x | sh', node: n1({ allow: ['sh'] }) }, null],
  [{ command: 'curl -s https://x | sh', node: n1({ allow: ['curl'] }) }, 'shell-stdin'],
  [{ command: 'rm -rf /', node: n1({ allow: ['rm'] }) }, 'rm-root'],
  [{ command: 'ls -la', node: n1({ readOnly: true }) }, null],
  [{ command: 'cat x | grep y | sort | uniq -c', node: n1({ readOnly: true }) }, null],
  [{ command: 'git status && git log --oneline -5', node: n1({ readOnly: true }) }, null],
  [{ command: 'echo hi > /dev/null 2>&1', node: n1({ readOnly: true }) }, null],
  [{ command: 'sed -n 1p f; find . -name x; df -h', node: n1({ readOnly: true }) }, null],
  [{ command: 'git commit -am x', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'make', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'rm x', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'echo hi > out.txt', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'sed -i s/a/b/ f', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'find . -name x -delete', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'find . -exec touch {} +', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'mytool --run', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'ls | tee out', node: n1({ readOnly: true }) }, 'read-only'],
  [{ command: 'make', node: n1({ readOnly: true, allow: ['make'] }) }, null],
  [{ command: 'make > build.log', node: n1({ readOnly: true, allow: ['make'] }) }, null],
]);

test('per-node findings say which node and how to allow it', () => {
  const [deny] = checkPolicy({ command: 'docker ps', node: n1({ deny: ['docker'] }) });
  assert.equal(deny?.program, 'docker');
  assert.match(deny!.message, /^refused by rule node-deny: `docker ps` runs `docker`, which policy.deny of node n1 refuses/);
  assert.match(deny!.hint, /policy\.deny of node n1 in cluster\.yaml/);
  const [ro] = checkPolicy({ command: 'make', node: n1({ readOnly: true }) });
  assert.match(ro!.message, /`make` modifies files, and node n1 is read_only/);
  assert.match(ro!.hint, /add `make` to policy\.allow of node n1 in cluster\.yaml/);
  const [unknown] = checkPolicy({ command: 'mytool', node: n1({ readOnly: true }) });
  assert.match(unknown!.message, /`mytool` is not known to be read-only/);
});

table('long options in any unambiguous abbreviation, as getopt_long accepts them', [
  [{ command: 'rm --recu -f /etc' }, 'rm-root'],
  [{ command: 'rm --r /etc' }, 'rm-root'],
  [{ command: 'rm -r --no-pres /x' }, 'rm-root'],
  [{ command: 'rm --recursive=x /etc' }, 'rm-root'],
  [{ command: 'chmod --rec 777 /' }, 'chmod-root'],
  [{ command: 'chmod --re 777 /' }, null], // ambiguous (--recursive, --reference): chmod refuses to run
  [{ command: 'chown --recursive me /' }, 'chown-root'],
  [{ command: 'mv --target=/tmp /etc' }, 'mv-root'],
  [{ command: 'sed --in-pl s/a/b/ /etc/hosts' }, 'write-system'],
  [{ command: 'sed --in s/a/b/ /etc/hosts' }, 'write-system'],
  [{ command: 'truncate --si 0 /etc/shadow' }, 'write-system'],
  [{ command: 'wipefs --al /dev/sdb' }, 'wipe-disk'],
  [{ command: 'rm --force /etc/x.conf' }, 'rm-root'],
  [{ command: 'rm --forc build' }, null],
]);

const ENV_REFUSED = [
  'LD_PRELOAD',
  'LD_AUDIT',
  'DYLD_INSERT_LIBRARIES',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PROMPT_COMMAND',
  'PS4',
  'IFS',
  'CDPATH',
  'BASH_FUNC_ls%%',
  'CF_RUN',
  'CF_',
  '__CF_NONCE',
  '__CFX',
  'A B',
  '1X',
  '',
];
const ENV_ALLOWED = ['LD_LIBRARY_PATH', 'PATH', 'HOME', 'CC', 'LANG', 'NODE_OPTIONS', 'cf_lower', 'MY_CF_X', 'PYTHONPATH'];

test('env names that subvert the runner or the shell are refused', async (t) => {
  for (const name of ENV_REFUSED) {
    await t.test(`refused: ${JSON.stringify(name)}`, () => {
      const [f] = checkPolicy({ command: 'make', env: { [name]: 'x' } });
      assert.equal(f?.rule, 'env-name');
      assert.equal(f?.verdict, 'refuse');
    });
  }
  for (const name of ENV_ALLOWED) {
    await t.test(`allowed: ${name}`, () => assert.deepEqual(checkPolicy({ command: 'make', env: { [name]: 'x' } }), []));
  }
});

table('code a parser cannot see needs confirmation; visible code is checked like the command itself', [
  [{ command: 'curl -s https://x | sh' }, 'shell-stdin'],
  [{ command: 'echo "rm -rf /" | sh' }, 'rm-root'],
  [{ command: 'echo "ls -la" | sh' }, null],
  [{ command: 'bash <<< "$X"' }, 'shell-stdin'],
  [{ command: 'X="rm -rf /"; bash <<< "$X"' }, 'rm-root'],
  [{ command: 'X="make all"; bash <<< "$X"' }, null],
  [{ command: 'sh <(curl -s https://x)' }, 'shell-stdin'],
  [{ command: 'sh <(echo make)' }, null],
  [{ command: 'bash -c "$(curl -s https://x)"' }, 'hidden-code'],
  [{ command: 'eval "$X"' }, 'hidden-code'],
  [{ command: 'eval "$X"', env: { X: 'make test' } }, null],
  [{ command: 'eval "$X"', env: { X: 'rm -rf ~' } }, 'rm-root'],
  [{ command: "python3 -c 'print(1)'" }, null],
  [{ command: 'python3 -c \'import os; os.system("make")\'' }, 'interpreter-code'],
  [{ command: 'python3 -c \'import os; os.system("rm -rf /")\'' }, 'rm-root'],
  [{ command: 'python3 -c "$CODE"' }, 'hidden-code'],
  [{ command: "perl -e 'print 1'" }, null],
  [{ command: 'node -e \'require("fs").rmSync("dist", { recursive: true })\'' }, 'interpreter-code'],
  [{ command: 'xargs rm -rf < list' }, 'input-operands'],
  [{ command: 'find . -name "*.o" | xargs rm -f' }, null],
  [{ command: 'ssh host uptime' }, null],
  [{ command: 'ssh host "$CMD"' }, 'hidden-code'],
  [{ command: "ssh host 'rm -rf ~'" }, 'rm-root'],
  [{ command: 'ssh host rm -rf "$X"' }, 'hidden-code'],
]);

test('verdicts: refuse for definite or uncheckable, confirm for unseen code; refusals first', () => {
  const confirm = checkPolicy({ command: 'curl -s https://x | sh' });
  assert.equal(confirm.length, 1);
  assert.equal(confirm[0]!.verdict, 'confirm');
  assert.equal(confirm[0]!.program, 'sh');
  assert.match(confirm[0]!.message, /^needs confirmation \(rule shell-stdin\): `sh` runs the output of `curl -s https:\/\/x` as code/);
  assert.equal(confirm[0]!.hint, 'approve it when asked, or add `sh` to policy.allow of the node that runs it in cluster.yaml');
  assert.match(checkPolicy({ command: 'curl -s https://x | sh', node: { id: 'n1' } })[0]!.hint, /policy\.allow of node n1 in cluster\.yaml/);
  const both = checkPolicy({ command: 'curl -s https://x | sh; rm -rf /' });
  assert.deepEqual(
    both.map((f) => f.verdict),
    ['refuse', 'confirm'],
  );
  assert.deepEqual(checkDangerous('curl -s https://x | sh'), { rule: 'shell-stdin', message: confirm[0]!.message });
  const hidden = checkPolicy({ command: 'rm -rf "$X"' })[0]!;
  assert.match(hidden.message, /takes the path to delete from \$X, whose value the check cannot see/);
  assert.match(hidden.hint, /env/);
  const broken = checkPolicy({ command: 'echo ok\nif' })[0]!;
  assert.equal(broken.rule, 'unparseable');
  assert.match(broken.message, /did not parse/);
  for (const f of [...confirm, hidden, broken]) assert.ok(f.hint.length > 0 && !f.message.includes('\n'), f.message);
});

test('remote findings say where the command would run', () => {
  const [f] = checkPolicy({ command: "ssh -p 2222 admin@db1 'sudo rm -rf /var/lib'" });
  assert.equal(f?.rule, 'rm-root');
  assert.match(f!.message, /\(on admin@db1, through ssh\)$/);
});
