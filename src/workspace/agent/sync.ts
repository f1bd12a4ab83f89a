// The node side of a sync, one perl process over one exec (see ../sync.ts for the origin side):
//   argv  root blobs key task ttl origin_host% origin_path% cwd_rel%
//         The agent starts while the origin still scans: it predicts its tree (the first one
//         whose lease is free, expired or this task's) and lstats every recorded entry.
//   in    H digest count | X                         the origin's manifest digest (X: it gave up; nothing changed)
//   out   SAME                                       the recorded manifest digest matches and every
//                                                    tree entry is as placed (lstat): nothing to do
//   out   SEND base                                  base: the digest of the manifest the tree holds, or -
//   in    M, manifest lines, "."                     the whole manifest: type content x size path% per entry
//      or D, delta lines, "."                        against base: "+ <manifest line>" (new or changed), "- path%"
//   out   NEED n + n lines of sha256                 blobs missing from the store
//   in    B sha size + bytes … E                     each verified (sha256) into <blobs>/tmp, then renamed
//   out   DONE tree% files blobs_received bytes_received
// The tree is only touched once every blob is in and every new file is staged; then removed
// files go, staged ones are renamed into place, and the new state is written. Each decision is
// made from (manifest, state, lstat), so a sync killed anywhere is completed by the next one.
// State lines: type content x ino size mtime ctime path% (lstat signature as placed).

export const AGENT_SYNC = String.raw`
sub op_sync {
  my ($root_arg, $blobs_arg, $key, $task, $ttl, $origin_host, $origin_path, $cwd_rel) = @_;
  fail("bad-input", "bad tree key $key") unless valid_name($key) && $key !~ /\./;
  $task = dec($task);
  $cwd_rel = dec($cwd_rel);
  fail("unsafe-path", "bad cwd $cwd_rel") unless $cwd_rel eq "" || safe_rel($cwd_rel);
  my ($root, $blobs) = (expand($root_arg), expand($blobs_arg));
  $SPACE_WHERE = $blobs_arg;
  mkdir_p($root);
  mkdir_p("$blobs/tmp");

  my $free = sub { my ($t, undef, $e) = read_lease($_[0]); return !defined $t || $e <= time || $t eq $task };
  my ($guess) = grep { $free->("$root/$_.lock") } map { $_ == 1 ? $key : "$key.$_" } 1 .. 32;
  my $check = defined $guess ? check_tree($root, $guess) : undef;

  my $head = <STDIN> // "";
  return 0 if $head eq "X\n";
  my ($digest, $count) = $head =~ /^H ([0-9a-f]{64}) (\d+)\n$/ or fail("transport", "no manifest digest from the origin");

  # Lease: the main tree, else the first .N not held by another live task.
  my $name = with_root_lock($root, sub {
    for my $i (1 .. 32) {
      my $n = $i == 1 ? $key : "$key.$i";
      next unless $free->("$root/$n.lock");
      my $now = time;
      write_atomic("$root/$n.lock", "task=" . enc($task) . " created=$now expires=" . ($now + $ttl) . "\n");
      write_atomic("$root/$n.meta", "origin_host=$origin_host\norigin_path=$origin_path\n") unless -e "$root/$n.meta";
      return $n;
    }
    return undef;
  });
  fail("busy", "all 32 trees of $origin_path on this node are locked by other tasks") unless defined $name;
  my $tree = "$root/$name";
  utime(undef, undef, "$root/$name.meta");

  # One writer per tree (a retry of the same task may overlap its first attempt), and no blob GC meanwhile.
  sysopen(my $busy, "$root/$name.busy", O_WRONLY | O_CREAT, 0600) or io_fail("cannot open", "$root/$name.busy");
  for (my $i = 0; !flock($busy, LOCK_EX | LOCK_NB); $i++) {
    fail("busy", "another sync of $tree is still running") if $i >= 300;
    $check = undef;
    Time::HiRes::sleep(0.1);
  }
  sysopen(my $gc, "$blobs/.gc", O_WRONLY | O_CREAT, 0600) or io_fail("cannot open", "$blobs/.gc");
  flock($gc, LOCK_SH) or io_fail("cannot lock", "$blobs/.gc");
  rm_rf("$root/$name.stage");
  # Blobs half-received by a sync that was killed are of no use; nor are the small files it was
  # writing (write_atomic's <file>.tmp.<pid>: a lease, meta, state).
  unlink_orphans("$blobs/tmp", qr/\.(\d+)$/);
  unlink_orphans($root, qr/\.tmp\.(\d+)$/);

  # The early check stands if it looked at this tree and its state has not changed since.
  $check = check_tree($root, $name) unless $check && $guess eq $name && sig("$root/$name.state") eq $check->{state_sig};
  if (!$check->{pending} && ($check->{digest} // "") eq $digest && $check->{intact} && cwd_ok($tree, $cwd_rel)) {
    reply("SAME");
    reply("DONE", enc($tree), scalar(@{ $check->{lines} }), 0, 0);
    return 0;
  }
  reply("SEND", $check->{clean} && defined $check->{digest} ? $check->{digest} : "-");
  my $mode = <STDIN> // "";
  my $delta = $mode eq "D\n" && $check->{clean} && defined $check->{digest};
  my $plan = $mode eq "M\n" ? plan_full($check, $count) : $delta ? plan_delta($check, $count)
    : fail("transport", "no manifest from the origin");
  my ($write, $gone, $keep) = @$plan{qw(write gone keep)};
  my %need;
  my ($need_bytes, $write_bytes) = (0, 0);
  for my $m (@$write) {
    my ($type, $content, undef, $size) = @$m;
    next unless $type eq "f";
    $write_bytes += $size;
    next if exists $need{$content};
    my $b = blob_path($blobs, $content);
    my @s = lstat $b;
    if (@s && S_ISREG($s[2]) && $s[7] == $size) { $need{$content} = undef; next }
    unlink $b if @s;
    $need{$content} = $size;
    $need_bytes += $size;
  }
  my @missing = sort grep { defined $need{$_} } keys %need;
  check_space($blobs, $blobs_arg, $need_bytes, $root, $root_arg, $write_bytes);
  reply("NEED", scalar @missing);
  reply($_) for @missing;
  my ($nrecv, $brecv) = receive_blobs($blobs, \%need);

  $SPACE_WHERE = $root_arg;
  stage_files($blobs, "$root/$name.stage", $write) if @$write;
  write_atomic("$root/$name.pending", join("", map { $_->[7] ? enc($_->[4]) . "\n" : () } @$write));
  apply_tree($tree, $gone, $write);
  mkdir_real($tree, $cwd_rel) if $cwd_rel ne "";
  write_atomic("$root/$name.state", join("", "CFWS1 $digest $count\n", map({ "$_\n" } @$keep),
    map { join(" ", @$_[0 .. 2], $_->[5], enc($_->[4])) . "\n" } @$write));
  unlink "$root/$name.pending";
  rm_rf("$root/$name.stage");
  utime(undef, undef, "$root/$name.meta");
  reply("DONE", enc($tree), $count, $nrecv, $brecv);
  return 0;
}

sub blob_path { my ($blobs, $sha) = @_; return "$blobs/" . substr($sha, 0, 2) . "/$sha" }

# What the last sync placed in a tree, and whether all of it is still there untouched:
# lines (raw state lines), paths, ok (entry i still has the signature it was placed with),
# intact (all ok), clean (every line parsed). lstat runs relative to the tree (shorter lookups).
sub check_tree {
  my ($root, $name) = @_;
  my %c = (lines => [], paths => [], ok => [], state_sig => sig("$root/$name.state"), intact => 1, clean => 1);
  if (open(my $fh, "<", "$root/$name.state")) {
    my $head = <$fh> // "";
    ($c{digest}) = $head =~ /^CFWS1 (\S+)/;
    my @lines = <$fh>;
    close $fh;
    chomp @lines;
    my $in_tree = chdir "$root/$name";
    my ($paths, $ok) = @c{qw(paths ok)};
    for my $line (@lines) {
      my ($want, $p) = $line =~ /^\S+ \S+ \S+ (\S+ \S+ \S+ \S+) (\S+)$/ or do { push @$paths, ""; push @$ok, 0; @c{qw(intact clean)} = (0, 0); next };
      $p = dec($p) if index($p, "%") >= 0;
      my @s = $in_tree ? Time::HiRes::lstat($p) : ();
      my $good = @s && "$s[1] $s[7] $s[9] $s[10]" eq $want ? 1 : 0;
      push @$paths, $p;
      push @$ok, $good;
      $c{intact} = 0 unless $good;
    }
    $c{lines} = \@lines;
    chdir "/";
  }
  $c{pending_file} = "$root/$name.pending";
  $c{pending} = -e $c{pending_file};
  return \%c;
}

# Paths an interrupted sync was placing: ours, whatever the tree holds there now.
sub pending_paths {
  my ($c) = @_;
  return () unless $c->{pending} && open(my $fh, "<", $c->{pending_file});
  my @p = map { chomp; dec($_) } <$fh>;
  close $fh;
  return @p;
}

# Plans are { write => [entries to place], gone => [paths to remove], keep => [state lines still true] };
# an entry is [type, content, x, size, path, signature once placed, stage path, new path?].
# An entry stays when the tree holds the same thing (type, content, x) untouched since placed.
sub keeps {
  my ($c, $i, $m) = @_;
  return defined $i && $c->{ok}[$i] && index($c->{lines}[$i], "$m->[0] $m->[1] $m->[2] ") == 0;
}

sub path_index { my ($c) = @_; my %idx; my $paths = $c->{paths}; $idx{$paths->[$_]} = $_ for 0 .. $#$paths; return \%idx }

sub plan_full {
  my ($c, $count) = @_;
  my @man = read_manifest($count);
  no_conflicts(map { $_->[4] } @man);
  my $idx = path_index($c);
  my (@write, @keep, %in);
  for my $m (@man) {
    my $i = $idx->{$m->[4]};
    $in{$m->[4]} = 1;
    if (keeps($c, $i, $m)) { push @keep, $c->{lines}[$i]; next }
    $m->[7] = !defined $i;
    push @write, $m;
  }
  my @gone = grep { $_ ne "" && !$in{$_} } @{ $c->{paths} }, pending_paths($c);
  return { write => \@write, gone => \@gone, keep => \@keep };
}

sub plan_delta {
  my ($c, $count) = @_;
  my $idx = path_index($c);
  my (%changed, %removed, $new);
  while (1) {
    my $line = <STDIN>;
    fail("transport", "the manifest delta ended early") unless defined $line;
    last if $line eq ".\n";
    if ($line =~ /^- (\S+)\n\z/) { $removed{dec($1)} = 1; next }
    fail("bad-input", "bad manifest delta line") unless $line =~ s/^\+ //;
    my $m = manifest_entry($line);
    fail("bad-input", "manifest path " . enc($m->[4]) . " appears twice") if $changed{$m->[4]};
    $changed{$m->[4]} = $m;
    $new ||= !defined $idx->{$m->[4]};
  }
  my (@write, @keep);
  my ($lines, $paths, $ok) = @$c{qw(lines paths ok)};
  for my $i (0 .. $#$lines) {
    next if $removed{$paths->[$i]} || $changed{$paths->[$i]};
    if ($ok->[$i]) { push @keep, $lines->[$i]; next }
    # Changed on the node since placed: put back what was placed.
    my ($t, $ct, $x, $size, $p) = $lines->[$i] =~ /^(\S+) (\S+) (\S+) \S+ (\S+) \S+ \S+ (\S+)$/;
    push @write, [$t, $ct, $x, $size, dec($p)];
  }
  for my $m (values %changed) {
    my $i = $idx->{$m->[4]};
    if (keeps($c, $i, $m)) { push @keep, $lines->[$i]; next }
    $m->[7] = !defined $i;
    push @write, $m;
  }
  no_conflicts((map { $_->[4] } @write), grep { !$removed{$_} } @$paths) if $new;
  my $n = @keep + @write;
  fail("transport", "the manifest delta gives $n entries, expected $count") unless $n == $count;
  my @gone = ((grep { defined $idx->{$_} } keys %removed), (grep { !$changed{$_} } pending_paths($c)));
  return { write => \@write, gone => \@gone, keep => \@keep };
}

sub cwd_ok { my ($tree, $rel) = @_; return $rel eq "" || (real_parent($tree, "$rel/x", {}) && -d "$tree/$rel") }

sub read_manifest {
  my ($count) = @_;
  my (@man, %seen);
  while (1) {
    my $line = <STDIN>;
    fail("transport", "the manifest ended early") unless defined $line;
    last if $line eq ".\n";
    my $m = manifest_entry($line);
    fail("bad-input", "manifest path " . enc($m->[4]) . " appears twice") if $seen{$m->[4]}++;
    push @man, $m;
  }
  fail("transport", "the manifest has " . scalar(@man) . " entries, expected $count") unless @man == $count;
  return @man;
}

# One manifest line, checked: [type, content, x, size, path].
sub manifest_entry {
  my ($line) = @_;
  my ($type, $content, $x, $size, $penc) = $line =~ /^(?:(f) ([0-9a-f]{64})|(l) (\S+)) ([x-]) (\d+) (\S+)\n\z/
    ? ($1 // $3, $2 // $4, $5, $6, $7) : fail("bad-input", "bad manifest line: " . enc($line));
  my $p = dec($penc);
  fail("unsafe-path", "manifest path " . enc($p) . " leaves the tree") unless safe_rel($p);
  return [$type, $content, $x, $size, $p];
}

# No path may be both a file and a directory of another path.
sub no_conflicts {
  my %dirs;
  for my $p (@_) {
    my $d = $p;
    while ((my $i = rindex($d, "/")) > 0) { $d = substr($d, 0, $i); last if $dirs{$d}++ }
  }
  for (@_) { fail("bad-input", "manifest path " . enc($_) . " is both a file and a directory") if $dirs{$_} }
}
`;
