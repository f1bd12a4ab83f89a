// The node agent's materializing half of a sync (see sync.ts for the conversation): the space
// check, receiving verified blobs into the store, staging new entries as fresh files outside
// the tree, and applying them to the tree without ever writing or deleting through a symlink.

export const AGENT_TREE = String.raw`
# Fail early, before anything is written, when df says the data cannot fit.
sub check_space {
  my ($blobs, $blobs_arg, $need_bytes, $root, $root_arg, $write_bytes) = @_;
  return if $need_bytes + $write_bytes == 0;
  my %avail;
  if (open(my $df, "-|", "df", "-Pk", $blobs, $root)) {
    my @rows = <$df>;
    close $df;
    my @kb = map { (split)[3] } @rows[1 .. $#rows];
    return unless @kb == 2 && $kb[0] =~ /^\d+$/ && $kb[1] =~ /^\d+$/;
    my $same = (stat $blobs)[0] == (stat $root)[0];
    my @checks = $same ? ([$blobs_arg, $need_bytes + $write_bytes, $kb[0]]) : ([$blobs_arg, $need_bytes, $kb[0]], [$root_arg, $write_bytes, $kb[1]]);
    for my $c (@checks) {
      my ($where, $need, $kb) = @$c;
      next unless $need > $kb * 1024;
      ($SPACE_WHERE, $SPACE_NEED) = ($where, $need);
      $! = Errno::ENOSPC();
      io_fail("cannot store", $where);
    }
  }
  $SPACE_NEED = $need_bytes + $write_bytes;
}

sub receive_blobs {
  my ($blobs, $need) = @_;
  my ($n, $bytes, %made) = (0, 0);
  while (1) {
    my $line = <STDIN>;
    fail("transport", "the blob stream ended early") unless defined $line;
    chomp $line;
    last if $line eq "E";
    my ($tag, $sha, $size) = split / /, $line;
    fail("transport", "unexpected blob header: $line") unless $tag eq "B" && defined $sha && defined $need->{$sha} && $size == $need->{$sha};
    my $tmp = "$blobs/tmp/$sha.$$";
    push @CLEANUP, $tmp;
    sysopen(my $out, $tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600) or io_fail("cannot write", $tmp);
    my $d = Digest::SHA->new(256);
    for (my $left = $size; $left > 0;) {
      my $got = read(STDIN, my $buf, $left > 1048576 ? 1048576 : $left);
      fail("transport", "the blob stream ended early") unless $got;
      $d->add($buf);
      for (my $off = 0; $off < $got;) {
        my $w = syswrite($out, $buf, $got - $off, $off);
        io_fail("cannot write", $tmp) unless defined $w;
        $off += $w;
      }
      $left -= $got;
    }
    close($out) or io_fail("cannot write", $tmp);
    fail("transport", "received content for $sha does not match its hash (a file changed at the origin during the sync?); retry")
      unless $d->hexdigest eq $sha;
    my $dir = "$blobs/" . substr($sha, 0, 2);
    $made{$dir}++ or -d $dir or mkdir($dir, 0700) or $!{EEXIST} or io_fail("cannot create directory", $dir);
    rename($tmp, "$dir/$sha") or io_fail("cannot store", "$dir/$sha");
    pop @CLEANUP;
    $need->{$sha} = undef;
    $n++;
    $bytes += $size;
  }
  my @left = grep { defined $need->{$_} } keys %$need;
  fail("transport", scalar(@left) . " needed blobs never came") if @left;
  return ($n, $bytes);
}

# New and changed entries as files in <name>.stage (fresh inodes: a fresh mtime even for old content).
sub stage_files {
  my ($blobs, $stage, $write) = @_;
  push @CLEANUP, $stage;
  mkdir($stage, 0700) or io_fail("cannot create directory", $stage);
  my $i = 0;
  for my $m (@$write) {
    my $dst = "$stage/" . $i++;
    $m->[6] = $dst;
    if ($m->[0] eq "l") { symlink(dec($m->[1]), $dst) or io_fail("cannot create symlink", $dst); next }
    copy_file(blob_path($blobs, $m->[1]), $dst, $m->[2] eq "x" ? 0777 : 0666);
  }
}

sub copy_file {
  my ($src, $dst, $mode) = @_;
  sysopen(my $in, $src, O_RDONLY) or fail("node", "blob $src vanished: $!");
  sysopen(my $out, $dst, O_WRONLY | O_CREAT | O_EXCL, $mode) or io_fail("cannot write", $dst);
  while (1) {
    my $got = sysread($in, my $buf, 1048576);
    fail("node", "cannot read $src: $!") unless defined $got;
    last if $got == 0;
    for (my $off = 0; $off < $got;) {
      my $w = syswrite($out, $buf, $got - $off, $off);
      io_fail("cannot write", $dst) unless defined $w;
      $off += $w;
    }
  }
  close($out) or io_fail("cannot write", $dst);
  close $in;
}

# Removes what the origin dropped, then renames staged entries into place; never through a symlink.
sub apply_tree {
  my ($tree, $gone, $write) = @_;
  mkdir_p($tree, 0777);
  my %ok;
  for my $p (sort { length($b) <=> length($a) } @$gone) {
    next unless real_parent($tree, $p, \%ok);
    my @s = lstat "$tree/$p" or next;
    next if S_ISDIR($s[2]);    # the build put a directory there: not ours any more
    unlink("$tree/$p") or $!{ENOENT} or io_fail("cannot remove", "$tree/$p");
    my $d = $p;
    while ($d =~ s{/[^/]*$}{} && rmdir("$tree/$d")) { delete $ok{"$tree/$d"} }
  }
  for my $m (@$write) {
    my $p = $m->[4];
    mkdir_real($tree, $p =~ m{^(.*)/} ? $1 : "", \%ok);
    my $dst = "$tree/$p";
    my @s = lstat $dst;
    rm_rf($dst) if @s && S_ISDIR($s[2]);
    rename($m->[6], $dst) or io_fail("cannot place", $dst);
    $m->[5] = sig($dst);
  }
}

# Makes $tree/$rel a real directory: anything else in the way (a file, a symlink) is removed, not followed.
sub mkdir_real {
  my ($tree, $rel, $ok) = @_;
  $ok //= {};
  my $cur = $tree;
  for my $part (split m{/}, $rel) {
    $cur .= "/$part";
    next if $ok->{$cur};
    my @s = lstat $cur;
    if (!@s || !S_ISDIR($s[2])) {
      unlink $cur if @s;
      mkdir($cur, 0777) or io_fail("cannot create directory", $cur);
    }
    $ok->{$cur} = 1;
  }
}
`;
