// The node side of returning outputs (see ../outputs.ts for the origin side):
//   argv  tree% cwd% max_bytes glob%…
//   out   L n total, then n lines "F size x path%"     every match, checked before anything is sent
//   in    GO (anything else: stop, nothing sent)      the origin has checked the list on its side
//   out   per file "D i", size bytes, "K" … then "E"
// Paths are relative to cwd. Nothing is read through a symlink: a literal glob part or a match
// that is a symlink is refused; wildcards and directory matches do not descend into symlinks;
// each file is opened O_NOFOLLOW and must be the inode that was listed.

export const AGENT_OUTPUTS = String.raw`
sub op_outputs {
  my ($tree_arg, $cwd, $max_bytes, @globs) = @_;
  my ($tree) = split_tree(dec($tree_arg));
  $cwd = expand(dec($cwd));
  my @ts = lstat $tree;
  fail("bad-input", "no workspace tree at $tree") unless @ts && S_ISDIR($ts[2]);
  my $rel = $cwd eq $tree ? "" : index($cwd, "$tree/") == 0 ? substr($cwd, length($tree) + 1) : undef;
  fail("unsafe-path", "$cwd is not inside the workspace tree $tree") unless defined $rel && ($rel eq "" || safe_rel($rel));
  fail("unsafe-path", "the command directory $cwd is not a real directory of the tree (a symlink on the way?)")
    unless $rel eq "" || real_parent($tree, "$rel/x", {});
  my @cs = lstat $cwd;
  fail("bad-input", "the command directory $cwd is gone") unless @cs && S_ISDIR($cs[2]);
  my %files;
  for my $g (map { dec($_) } @globs) {
    fail("unsafe-path", "output glob " . enc($g) . " must be relative, inside the command directory, without .. or empty parts")
      unless safe_rel($g) && $g !~ /[\x00-\x1f\x7f]/;
    match_glob($cwd, "", [split m{/}, $g], 0, \%files);
  }
  my @paths = sort keys %files;
  my $total = 0;
  $total += $files{$_}[0] for @paths;
  fail("limits", sprintf("the outputs hold %.1f MB in %d files, more than the %.1f MB allowed", $total / 1e6, scalar @paths, $max_bytes / 1e6))
    if $total > $max_bytes;
  reply("L", scalar @paths, $total);
  reply("F", $files{$_}[0], $files{$_}[1], enc($_)) for @paths;
  my $go = <STDIN> // "";
  return 0 unless $go eq "GO\n";
  send_file($cwd, $paths[$_], $files{$paths[$_]}, $_) for 0 .. $#paths;
  reply("E");
  return 0;
}

sub send_file {
  my ($cwd, $rel, $info, $i) = @_;
  my ($size, undef, $dev, $ino) = @$info;
  sysopen(my $fh, "$cwd/$rel", O_RDONLY | O_NOFOLLOW) or fail("unsafe-path", "output $rel changed before it was sent ($!)");
  my @s = stat $fh;
  fail("unsafe-path", "output $rel was replaced before it was sent") unless S_ISREG($s[2]) && $s[0] == $dev && $s[1] == $ino;
  fail("transport", "output $rel changed size while being sent; retry") unless $s[7] == $size;
  reply("D", $i);
  for (my $left = $size; $left > 0;) {
    my $got = sysread($fh, my $buf, $left > 1048576 ? 1048576 : $left);
    if (!$got) {    # it shrank: keep the frame whole, then say so
      print STDOUT "\0" x $left;
      reply("ERR", "transport", enc("output $rel changed while being sent; retry"));
      exit 3;
    }
    print STDOUT $buf;
    $left -= $got;
  }
  reply("K");
}

# One glob component as a regex: * ? [...] within the component; a leading dot only matches a dot.
sub glob_re {
  my ($c) = @_;
  my $re = "";
  for (my $i = 0; $i < length $c; $i++) {
    my $ch = substr($c, $i, 1);
    my $j = $ch eq "[" ? index($c, "]", $i + 2) : -1;
    if ($ch eq "*") { $re .= "[^/]*" }
    elsif ($ch eq "?") { $re .= "[^/]" }
    elsif ($j > 0) {
      my $cls = substr($c, $i + 1, $j - $i - 1);
      my $neg = $cls =~ s/^[!^]//;
      $re .= "[" . ($neg ? "^" : "") . join("", map { $_ eq "-" ? "-" : quotemeta } split //, $cls) . "]";
      $i = $j;
    }
    else { $re .= quotemeta $ch }
  }
  return $c =~ /^\./ ? qr/^$re$/s : qr/^(?!\.)$re$/s;
}

sub match_glob {
  my ($base, $rel, $comps, $i, $out) = @_;
  my $c = $comps->[$i];
  my $last = $i == $#$comps;
  my $dir = $rel eq "" ? $base : "$base/$rel";
  if ($c eq "**") {
    return collect_dir($base, $rel, $out) if $last;
    match_glob($base, $rel, $comps, $i + 1, $out);
    for my $n (grep { !/^\./ } list_dir($dir)) {
      my $r = $rel eq "" ? $n : "$rel/$n";
      my @s = lstat "$base/$r";
      match_glob($base, $r, $comps, $i, $out) if @s && S_ISDIR($s[2]);
    }
    return;
  }
  my $wild = $c =~ /[*?\[]/;
  my @names = ($c);
  if ($wild) { my $re = glob_re($c); @names = grep { $_ =~ $re } list_dir($dir) }
  for my $n (@names) {
    my $r = $rel eq "" ? $n : "$rel/$n";
    my @s = lstat "$base/$r" or next;
    if (S_ISLNK($s[2])) {
      fail("unsafe-path", "output path $r is a symlink: outputs are never read through symlinks") if $last || !$wild;
      next;
    }
    if (S_ISDIR($s[2])) { $last ? collect_dir($base, $r, $out) : match_glob($base, $r, $comps, $i + 1, $out) }
    elsif (S_ISREG($s[2]) && $last) { add_output($out, $r, \@s) }
  }
}

# Every regular file below a matched directory; symlinks and special files are skipped, not followed.
sub collect_dir {
  my ($base, $rel, $out) = @_;
  for my $n (list_dir($rel eq "" ? $base : "$base/$rel")) {
    my $r = $rel eq "" ? $n : "$rel/$n";
    my @s = lstat "$base/$r" or next;
    if (S_ISDIR($s[2])) { collect_dir($base, $r, $out) }
    elsif (S_ISREG($s[2])) { add_output($out, $r, \@s) }
  }
}

sub add_output { my ($out, $r, $s) = @_; $out->{$r} = [$s->[7], ($s->[2] & 0100) ? "x" : "-", $s->[0], $s->[1]] }
`;
