// Housekeeping on the node (see ../housekeeping.ts):
//   release tree% task%              -> OK released|other|none
//   list    root blobs               -> T name% host% path% bytes files last_used locked task% expires … ; S blob_bytes blob_count
//   prune   root blobs mode cap name%…  mode all|names|cap|blobs
//                                    -> R name% bytes (removed) ; K name% (locked, kept) ; M name% (no such tree) ;
//                                       G count bytes (unreferenced blobs dropped) or G busy (a sync holds the store)
// A tree is locked while its lease has not expired or a sync process holds its .busy flock;
// locked trees are never removed. Blob GC waits for no sync: it skips when one holds the store.

export const AGENT_ADMIN = String.raw`
sub op_release {
  my ($tree_arg, $task) = @_;
  my (undef, $root, $name) = split_tree(dec($tree_arg));
  $task = dec($task);
  return reply("OK", "none") unless -d $root;
  my $r = with_root_lock($root, sub {
    my ($t) = read_lease("$root/$name.lock");
    return "none" unless defined $t;
    return "other" unless $t eq $task;
    unlink "$root/$name.lock" or io_fail("cannot remove", "$root/$name.lock");
    return "released";
  });
  utime(undef, undef, "$root/$name.meta");
  reply("OK", $r);
  return 0;
}

sub op_list {
  my ($root, $blobs) = (expand($_[0]), expand($_[1]));
  my $now = time;
  for my $n (tree_names($root)) {
    my $t = tree_info($root, $n, $now);
    reply("T", enc($n), $t->{host}, $t->{path}, du("$root/$n"), $t->{files}, $t->{used}, $t->{locked}, enc($t->{task} // "-"), $t->{expires} // 0);
  }
  my ($bytes, $count) = (0, 0);
  for my $d (grep { /^[0-9a-f]{2}$/ } list_dir($blobs)) {
    for my $f (list_dir("$blobs/$d")) { my @s = lstat "$blobs/$d/$f" or next; $bytes += $s[7]; $count++ }
  }
  reply("S", $bytes, $count);
  return 0;
}

sub op_prune {
  my ($root_arg, $blobs_arg, $mode, $cap, @names) = @_;
  my ($root, $blobs) = (expand($root_arg), expand($blobs_arg));
  my $now = time;
  my (@removed, @locked, @missing);
  if (-d $root) {
    my @trash = with_root_lock($root, sub {
      my @all = tree_names($root);
      my %have = map { $_ => 1 } @all;
      my @cand = $mode eq "all" ? @all : $mode eq "cap" ? over_cap($root, $blobs, \@all, $cap, $now) : ();
      if ($mode eq "names") { for (map { dec($_) } @names) { $have{$_} ? push(@cand, $_) : push(@missing, $_) } }
      my @t;
      for my $n (@cand) {
        if (tree_info($root, $n, $now)->{locked}) { push @locked, $n; next }
        push @removed, [$n, du("$root/$n")];
        my $trash = "$root/.trash-$n-$$";
        rename("$root/$n", $trash) and push @t, $trash;
        unlink map { "$root/$n.$_" } qw(meta lock state pending busy);
        rm_rf("$root/$n.stage");
      }
      return @t;
    });
    rm_rf($_) for @trash;
  }
  reply("R", enc($_->[0]), $_->[1]) for @removed;
  reply("K", enc($_)) for @locked;
  reply("M", enc($_)) for @missing;
  reply("G", gc_blobs($root, $blobs));
  return 0;
}

sub tree_names { my ($root) = @_; return grep { valid_name($_) } map { /^(.+)\.meta$/ ? $1 : () } list_dir($root) }

# Bytes of a file or a directory tree, never following symlinks.
sub du {
  my ($p) = @_;
  my @s = lstat $p or return 0;
  return $s[7] unless S_ISDIR($s[2]);
  my $t = 0;
  $t += du("$p/$_") for list_dir($p);
  return $t;
}

sub tree_info {
  my ($root, $name, $now) = @_;
  my %meta;
  if (open(my $fh, "<", "$root/$name.meta")) {
    while (my $l = <$fh>) { chomp $l; my ($k, $v) = split /=/, $l, 2; $meta{$k} = $v }
    close $fh;
  }
  my ($task, undef, $expires) = read_lease("$root/$name.lock");
  my $files = 0;
  if (open(my $fh, "<", "$root/$name.state")) { (my $h = <$fh> // "") =~ /^CFWS1 \S+ (\d+)/ and $files = $1; close $fh }
  my $busy = 0;
  if (sysopen(my $b, "$root/$name.busy", O_RDONLY)) { $busy = flock($b, LOCK_SH | LOCK_NB) ? 0 : 1; close $b }
  my $leased = defined $task && $expires > $now ? 1 : 0;
  return { host => $meta{origin_host} // "", path => $meta{origin_path} // "", files => $files,
    used => (Time::HiRes::stat("$root/$name.meta"))[9] // 0, locked => ($leased || $busy) ? 1 : 0,
    task => $leased ? $task : undef, expires => $leased ? $expires : 0 };
}

sub state_shas {
  my ($path) = @_;
  open(my $fh, "<", $path) or return ();
  my @shas = map { /^f ([0-9a-f]{64}) / ? $1 : () } <$fh>;
  close $fh;
  return @shas;
}

# Least recently used unlocked trees to drop until trees + the blobs they keep fit under $cap.
sub over_cap {
  my ($root, $blobs, $all, $cap, $now) = @_;
  my (%size, %refs, %count, %blob);
  my $total = 0;
  for my $n (@$all) {
    $total += $size{$n} = du("$root/$n");
    my %mine = map { $_ => 1 } state_shas("$root/$n.state");
    $refs{$n} = [keys %mine];
    $count{$_}++ for keys %mine;
  }
  for my $sha (keys %count) { my @s = lstat "$blobs/" . substr($sha, 0, 2) . "/$sha" or next; $total += $blob{$sha} = $s[7] }
  my @pick;
  my %used = map { $_ => tree_info($root, $_, $now)->{used} } @$all;
  for my $n (sort { $used{$a} <=> $used{$b} } @$all) {
    last if $total <= $cap;
    next if tree_info($root, $n, $now)->{locked};
    push @pick, $n;
    $total -= $size{$n};
    for my $sha (@{ $refs{$n} }) { $total -= $blob{$sha} // 0 if --$count{$sha} == 0 }
  }
  return @pick;
}

# Drops blobs no tree state names, and leftovers of killed syncs; only while no sync holds the store.
sub gc_blobs {
  my ($root, $blobs) = @_;
  return (0, 0) unless -d $blobs;
  sysopen(my $gc, "$blobs/.gc", O_WRONLY | O_CREAT, 0600) or io_fail("cannot open", "$blobs/.gc");
  return "busy" unless flock($gc, LOCK_EX | LOCK_NB);
  my %ref;
  for my $n (tree_names($root)) { $ref{$_} = 1 for state_shas("$root/$n.state") }
  my ($n, $bytes) = (0, 0);
  for my $d (grep { /^[0-9a-f]{2}$/ || $_ eq "tmp" } list_dir($blobs)) {
    for my $f (list_dir("$blobs/$d")) {
      next if $d ne "tmp" && $ref{$f};
      my @s = lstat "$blobs/$d/$f" or next;
      next if S_ISDIR($s[2]);
      unlink "$blobs/$d/$f" or next;
      $n++;
      $bytes += $s[7];
    }
    rmdir "$blobs/$d" if $d ne "tmp";
  }
  return ($n, $bytes);
}
`;
