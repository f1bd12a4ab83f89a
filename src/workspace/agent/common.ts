// The node-side agent's shared perl: one perl process per operation, sent with the exec
// (nodes have sshd, a POSIX shell and perl with its core modules; nothing is installed).
// Kept free of single quotes where practical (the whole script travels single-quoted) and
// of `${` (it lives in a template literal).
//
// Layout on the node (one per node user; paths configurable, `~` expanded here):
//   <blobs>/<aa>/<sha256>     content store, one file per distinct content (0600)
//   <blobs>/tmp/              blobs being received (renamed into place once verified)
//   <blobs>/.gc               flock: syncs hold it shared, blob GC exclusive
//   <root>/.lock              flock: short critical sections over leases (pick, release, prune)
//   <root>/<name>/            a materialized tree (name = <slug>-<hash>[.N])
//   <root>/<name>.meta        origin host and path (%-encoded); its mtime = last used
//   <root>/<name>.lock        lease: task=<id> created=<epoch> expires=<epoch>
//   <root>/<name>.busy        flock held by the sync process writing the tree
//   <root>/<name>.state       what the last sync placed: per path type, content, exec bit, lstat signature
//   <root>/<name>.pending     paths a sync was placing when it stopped (treated as ours next time)
//   <root>/<name>.stage/      new and changed files, written before the tree is touched
//
// Replies are lines on stdout; a failure is one line `ERR <kind> <%-encoded message>`, exit 3.

export const AGENT_COMMON = String.raw`
use strict;
use warnings;
use Fcntl qw(O_RDONLY O_WRONLY O_CREAT O_EXCL O_TRUNC O_NOFOLLOW LOCK_EX LOCK_SH LOCK_NB S_ISREG S_ISDIR S_ISLNK);
use Digest::SHA ();
use Errno ();
use Time::HiRes ();
binmode STDIN;
binmode STDOUT;
$| = 1;

our $SPACE_WHERE = "";   # for a disk-full message: which directory, and how many bytes the operation needs
our $SPACE_NEED = 0;
our @CLEANUP;            # temp files and stage dirs to remove when the operation fails
$SIG{TERM} = $SIG{HUP} = $SIG{INT} = sub { cleanup(); exit 4 };

sub enc { my ($s) = @_; $s =~ s/([\x00-\x20%\x7f])/sprintf("%%%02X", ord $1)/ge; return $s }
sub dec { my ($s) = @_; $s =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge if index($s, "%") >= 0; return $s }
sub reply { print STDOUT join(" ", @_), "\n" }

sub cleanup { rm_rf($_) for reverse splice(@CLEANUP) }

sub fail {
  my ($kind, $msg) = @_;
  cleanup();
  print STDOUT "ERR $kind ", enc($msg), "\n";
  exit 3;
}

# Call right after a failed system call: $! says why.
sub io_fail {
  my ($what, $path) = @_;
  if ($!{ENOSPC} || $!{EDQUOT}) {
    my $need = $SPACE_NEED >= 1e6 ? sprintf("%.1f MB", $SPACE_NEED / 1e6) : sprintf("%d KB", ($SPACE_NEED + 1023) / 1024);
    fail("disk-full", "no space left on device under " . ($SPACE_WHERE || $path) . " (needs ~$need); free space (or inodes) there, or prune workspaces");
  }
  fail("node", "$what $path: $!");
}

sub home { return $ENV{HOME} || (getpwuid($<))[7] || fail("node", "cannot tell the home directory") }
sub expand { my ($d) = @_; $d =~ s{^(?:~|\$HOME)(?=/|$)}{home()}e; $d =~ s{/+$}{} if length($d) > 1; return $d }

sub mkdir_p {
  my ($d, $mode) = @_;
  return if -d $d;
  my ($parent) = $d =~ m{^(.*)/[^/]+$};
  mkdir_p($parent, $mode) if defined $parent && $parent ne "";
  mkdir($d, $mode // 0700) or $!{EEXIST} or io_fail("cannot create directory", $d);
}

sub list_dir { my ($d) = @_; opendir(my $dh, $d) or return (); my @n = sort grep { $_ ne "." && $_ ne ".." } readdir $dh; closedir $dh; return @n }

# Files of dir whose name matches re, with the writer's pid as its first group, once that pid is gone.
sub unlink_orphans { my ($d, $re) = @_; for (list_dir($d)) { unlink "$d/$_" if $_ =~ $re && !kill(0, $1) && $!{ESRCH} } }

# Removes a file, symlink or directory tree; never follows a symlink.
sub rm_rf {
  my ($p) = @_;
  my @s = lstat $p or return;
  if (S_ISDIR($s[2])) {
    rm_rf("$p/$_") for list_dir($p);
    rmdir $p;
  } else {
    unlink $p;
  }
}

# "inode size mtime ctime" (sub-second): any write, rename or replacement changes it.
sub sig { my @s = Time::HiRes::lstat($_[0]) or return "-"; return "$s[1] $s[7] $s[9] $s[10]" }

# A relative path that stays inside its tree: no "..", ".", empty parts, leading "/" or NUL.
sub safe_rel { my ($p) = @_; return $p ne "" && $p !~ m{^/|\0} && $p !~ m{(?:^|/)\.{0,2}(?:/|$)} }

sub write_atomic {
  my ($path, $text) = @_;
  my $tmp = "$path.tmp.$$";
  open(my $fh, ">", $tmp) or io_fail("cannot write", $tmp);
  binmode $fh;
  unless ((print $fh $text) && close($fh)) { my $e = $! + 0; unlink $tmp; $! = $e; io_fail("cannot write", $tmp) }
  rename($tmp, $path) or do { my $e = $! + 0; unlink $tmp; $! = $e; io_fail("cannot rename", $tmp) };
}

sub with_root_lock {
  my ($root, $code) = @_;
  sysopen(my $fh, "$root/.lock", O_WRONLY | O_CREAT, 0600) or io_fail("cannot open", "$root/.lock");
  flock($fh, LOCK_EX) or io_fail("cannot lock", "$root/.lock");
  my @r = $code->();
  close $fh;
  return wantarray ? @r : $r[0];
}

# (task, created, expires) of a tree lease, or () when there is none.
sub read_lease {
  my ($path) = @_;
  open(my $fh, "<", $path) or return ();
  my $line = <$fh> // "";
  close $fh;
  my ($task, $created, $expires) = $line =~ /^task=(\S+) created=(\d+) expires=(\d+)/;
  return defined $task ? (dec($task), $created, $expires) : ("?", 0, 0);
}

sub valid_name { my ($n) = @_; return $n =~ /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[0-9]+)?$/ }

# A tree path given by the origin: <root>/<name>, with a valid name.
sub split_tree {
  my ($tree) = @_;
  $tree = expand($tree);
  my ($root, $name) = $tree =~ m{^(/.*)/([^/]+)$} or fail("bad-input", "not a workspace tree path: $tree");
  fail("bad-input", "not a workspace tree name: $name") unless valid_name($name);
  return ($tree, $root, $name);
}

# Is every directory from the tree down to (not including) the last part of $rel a real
# directory, not a symlink? Answers are cached in %$ok.
sub real_parent {
  my ($tree, $rel, $ok) = @_;
  my $cur = $tree;
  my @parts = split m{/}, $rel;
  pop @parts;
  for my $part (@parts) {
    $cur .= "/$part";
    next if $ok->{$cur};
    my @s = lstat $cur;
    return 0 unless @s && S_ISDIR($s[2]);
    $ok->{$cur} = 1;
  }
  return 1;
}
`;
