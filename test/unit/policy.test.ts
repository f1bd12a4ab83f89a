import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDangerous, checkPolicy } from '../../src/cluster/policy.js';

// [command, rule expected to refuse it]
const DANGEROUS: Array<[string, string]> = [
  // rm on /, home, cwd and system directories, in every flag spelling
  ['rm -rf /', 'rm-root'],
  ['rm -fr /', 'rm-root'],
  ['rm -r -f /', 'rm-root'],
  ['rm -Rf /', 'rm-root'],
  ['rm --recursive --force /', 'rm-root'],
  ['rm -rf --no-preserve-root /', 'rm-root'],
  ['rm -rf --no-preserve-root "$TARGET"', 'rm-root'],
  ['rm -rf -- /', 'rm-root'],
  ['rm -rf /*', 'rm-root'],
  ['rm -rf //', 'rm-root'],
  ['rm -rf /tmp/../', 'rm-root'],
  ['rm -rf ~', 'rm-root'],
  ['rm -rf ~/', 'rm-root'],
  ['rm -rf ~/*', 'rm-root'],
  ['rm -rf $HOME', 'rm-root'],
  ['rm -rf "$HOME"/', 'rm-root'],
  ['rm -rf ${HOME}/*', 'rm-root'],
  ['rm -rf *', 'rm-root'],
  ['rm -rf .', 'rm-root'],
  ['rm -rf ..', 'rm-root'],
  ['rm -rf ./*', 'rm-root'],
  ['rm -rf /etc', 'rm-root'],
  ['rm -rf /usr/', 'rm-root'],
  ['rm -rf /var/*', 'rm-root'],
  ['rm -rf /home', 'rm-root'],
  ['rm -rf /boot /tmp/x', 'rm-root'],
  ['rm -rf /System', 'rm-root'],
  ['rm -rf /Users', 'rm-root'],
  ['rm -r /lib64', 'rm-root'],
  ['rm -rf /{bin,etc}', 'rm-root'],
  ['rm -rf /e*', 'rm-root'],
  ['/bin/rm -rf /', 'rm-root'],
  ['\\rm -rf /', 'rm-root'],
  ["r'm' -rf /", 'rm-root'],
  ["rm -rf $'\\x2f'", 'rm-root'],
  ["$'\\162\\155' -rf /", 'rm-root'],
  ['sudo rm -rf /', 'rm-root'],
  ['sudo -u root rm -rf /etc', 'rm-root'],
  ['doas rm -rf /', 'rm-root'],
  ['xargs rm -rf /', 'rm-root'],
  ['nohup nice -n 10 rm -rf / &', 'rm-root'],
  ['cd /tmp && rm -rf ~', 'rm-root'],
  ['echo ok; rm -rf /', 'rm-root'],
  ['(rm -rf /)', 'rm-root'],
  ['{ rm -rf /; }', 'rm-root'],
  ['echo $(rm -rf /)', 'rm-root'],
  ['$(echo rm) -rf /', 'rm-root'],
  ["bash -c 'rm -rf /'", 'rm-root'],
  ['sh -c "sudo rm -rf ~"', 'rm-root'],
  ["eval 'rm -rf /'", 'rm-root'],
  ['if true; then rm -rf /; fi', 'rm-root'],
  ['find / -delete', 'rm-root'],
  ['find / -exec rm -rf {} \\;', 'rm-root'],
  ['find ~ -type f -delete', 'rm-root'],
  ['find /etc -mtime +1 -exec rm {} +', 'rm-root'],
  ['find . -delete', 'rm-root'],
  // filesystems, partitions, disks
  ['mkfs /dev/sda1', 'mkfs'],
  ['mkfs.ext4 /dev/sda1', 'mkfs'],
  ['sudo mkfs.xfs -f /dev/nvme0n1p1', 'mkfs'],
  ['mke2fs -t ext4 /dev/vdb', 'mkfs'],
  ['mkfs.ext4 "$DEVICE"', 'mkfs'],
  ['wipefs -a /dev/sdb', 'wipe-disk'],
  ['wipefs --all /dev/sdb', 'wipe-disk'],
  ['shred -n 1 /dev/sda', 'wipe-disk'],
  ['fdisk /dev/sda', 'partition'],
  ['sfdisk /dev/sda < layout', 'partition'],
  ['parted /dev/sda mklabel gpt', 'partition'],
  ['sgdisk -Z /dev/sda', 'partition'],
  ['dd if=/dev/zero of=/dev/sda bs=1M', 'dd-block-device'],
  ['dd if=image.iso of=/dev/mmcblk0', 'dd-block-device'],
  ['sudo dd of=/dev/nvme0n1 if=/dev/urandom', 'dd-block-device'],
  ['dd if=x of=/dev/disk2', 'dd-block-device'],
  ['dd if=x of=/dev/xvda', 'dd-block-device'],
  ['dd if=x of=/dev/hda', 'dd-block-device'],
  ['cp image.iso /dev/sdb', 'write-block-device'],
  // redirection onto block devices
  ['echo hi > /dev/sda', 'redirect-block-device'],
  ['cat x > /dev/sda', 'redirect-block-device'],
  ['cat /dev/urandom >> /dev/vda', 'redirect-block-device'],
  ['echo x &> /dev/sdb', 'redirect-block-device'],
  ['{ cat a; cat b; } > /dev/sdc', 'redirect-block-device'],
  ['cat img | tee /dev/sda', 'redirect-block-device'],
  ['cat img | sudo tee -a /dev/sda > /dev/null', 'redirect-block-device'],
  ["bash -c 'cat x > /dev/nvme0n1'", 'redirect-block-device'],
  // fork bombs
  [':(){ :|:& };:', 'fork-bomb'],
  [':(){ :|: & };:', 'fork-bomb'],
  ['bomb(){ bomb|bomb& };bomb', 'fork-bomb'],
  ['function f { f | f & }; f', 'fork-bomb'],
  ['f() { f & f; }; f', 'fork-bomb'],
  ["bash -c ':(){ :|:& };:'", 'fork-bomb'],
  // power
  ['shutdown -h now', 'power'],
  ['sudo shutdown -r +5', 'power'],
  ['reboot', 'power'],
  ['sudo reboot', 'power'],
  ['halt', 'power'],
  ['poweroff', 'power'],
  ['init 0', 'power'],
  ['init 6', 'power'],
  ['systemctl poweroff', 'power'],
  ['sudo systemctl reboot', 'power'],
  ['systemctl halt', 'power'],
  ['systemctl isolate reboot.target', 'power'],
  ['echo b > /proc/sysrq-trigger', 'power'],
  // recursive chmod / chown on / or system directories
  ['chmod -R 777 /', 'chmod-root'],
  ['chmod --recursive 777 /etc', 'chmod-root'],
  ['sudo chmod -Rv 000 /usr', 'chmod-root'],
  ['chmod -R u+w ~', 'chmod-root'],
  ['chown -R nobody /', 'chown-root'],
  ['chown -R me:me /var', 'chown-root'],
  ['chgrp -R staff /', 'chown-root'],
  ['chown --recursive me /home/', 'chown-root'],
  // moving / or home away
  ['mv / /tmp/x', 'mv-root'],
  ['mv ~ /dev/null', 'mv-root'],
  ['mv /etc /etc.bak', 'mv-root'],
  // unparsable: refused as a whole (bash runs the lines before a syntax error); statements
  // that parsed before the error still name their own rule first
  ["rm -rf / 'oops", 'unparseable'],
  ['if then rm -rf /', 'unparseable'],
  ['dd if=/dev/zero of=/dev/sda (', 'dd-block-device'],
  [':(){ :|:& };: )', 'fork-bomb'],
  ["bash -c 'rm -rf / ; if'", 'rm-root'],
];

const SAFE: string[] = [
  'rm -rf ./build',
  'rm -rf build dist',
  'rm -rf /tmp/foo',
  'rm -rf /var/tmp/cache-123',
  'rm -rf ~/project/build',
  'rm -rf "$HOME/.cache/pip"',
  'rm -rf node_modules/*',
  'rm -rf ./{build,dist}',
  'rm -rf /tmp/{a,b}',
  'rm -f *',
  'echo "rm -rf /"',
  "echo 'rm -rf /' > notes.txt",
  "grep 'rm -rf /' notes.txt",
  'git commit -m "rm -rf / is bad"',
  'man rm',
  'dd if=/dev/zero of=./disk.img bs=1M count=10',
  'dd if=/dev/sda of=backup.img',
  'ls /dev/sda',
  'cat /dev/sda | head -c 512 | xxd',
  'lsblk /dev/sda',
  'echo hi > /dev/null',
  'make 2>/dev/null',
  'chmod -R 755 ./dist',
  'chmod -R u+w .',
  'chmod -r file.txt',
  'chmod 644 /etc/foo.conf',
  'chown -R me ./x',
  'chown me /etc/foo.conf',
  'cat > ./out',
  'git reboot-notes',
  'man shutdown',
  'echo shutdown',
  'shutdown --help',
  'shutdown -c',
  'systemctl status reboot.target',
  'systemctl restart nginx',
  'find . -name "*.o" -delete',
  'find /tmp -delete',
  'find ~ -name "*.pyc" -delete',
  'find / -name passwd',
  'find / -name core -exec ls -l {} \\;',
  'mkfs_helper --help',
  'mkfs.ext4 ./disk.img',
  'mkfs --help',
  'fdisk -l',
  'fdisk -l /dev/sda',
  'sfdisk -d /dev/sda > table.txt',
  'parted /dev/sda print',
  'wipefs /dev/sdb',
  'wipefs -n -a /dev/sdb',
  'shred -u secret.txt',
  'cp /dev/sda disk.img',
  'tee out.log',
  'mv build build.old',
  'mv ~/a ~/b',
  'init --version',
  'f() { echo hi; }; f',
  'f() { f; }',
  'g() { ls | grep x & }; g',
  'bash -c "echo rm -rf /"',
  'sudo apt-get update',
  'kill -9 1234',
  'docker run --rm -v /:/host alpine ls /host',
  'rsync -a --delete ./site/ /srv/www-staging/site/',
];

test('dangerous commands are refused with the rule that matched', async (t) => {
  assert.ok(DANGEROUS.length >= 40);
  for (const [command, rule] of DANGEROUS) {
    await t.test(command, () => {
      const got = checkDangerous(command);
      assert.ok(got, `expected ${command} to be refused`);
      assert.equal(got.rule, rule, got.message);
      assert.ok(got.message.startsWith(`refused by rule ${rule}: `), got.message);
    });
  }
});

test('safe look-alikes pass', async (t) => {
  assert.ok(SAFE.length >= 40);
  for (const command of SAFE) {
    await t.test(command, () => {
      assert.equal(checkDangerous(command), null);
    });
  }
});

// Safe under the old policy, no longer: deleting a system file is as destructive as truncating
// it; a deletion target the check cannot see is refused; paths read from input need a yes.
const NOW_FLAGGED: Array<[string, string, 'refuse' | 'confirm']> = [
  ['rm -f /etc/foo.conf', 'rm-root', 'refuse'],
  ['rm /etc/motd', 'rm-root', 'refuse'],
  ['rm -rf "$BUILD_DIR"', 'hidden-target', 'refuse'],
  ['xargs rm -f < list', 'input-operands', 'confirm'],
];

test('shapes the old policy let through are flagged now', async (t) => {
  for (const [command, rule, verdict] of NOW_FLAGGED) {
    await t.test(command, () => {
      const [first] = checkPolicy({ command });
      assert.equal(first?.rule, rule, first?.message);
      assert.equal(first?.verdict, verdict);
    });
  }
  assert.deepEqual(checkPolicy({ command: 'rm -rf "$BUILD_DIR"', env: { BUILD_DIR: 'build' } }), []);
});

test('messages say what would happen', () => {
  assert.equal(checkDangerous('rm -rf /')?.message, 'refused by rule rm-root: `rm -rf /` would delete the root filesystem');
  assert.match(checkDangerous('sudo rm -rf /etc')!.message, /`sudo rm -rf \/etc` would delete the system directory \/etc/);
  assert.match(checkDangerous('rm -rf ~')!.message, /home directory/);
  assert.match(checkDangerous('dd if=/dev/zero of=/dev/sda')!.message, /block device \/dev\/sda/);
  assert.match(checkDangerous(':(){ :|:& };:')!.message, /fork bomb/);
  assert.match(checkDangerous("rm -rf / 'oops")!.message, /did not parse/);
});
