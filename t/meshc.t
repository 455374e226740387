#!/usr/bin/perl
# meshc: exact diagnostics for every case under t/meshc/errors, nothing
# written on errors, byte-for-byte deterministic output, the golden output
# of the demo mesh, -Werror and usage errors.
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshc');
my $src = $t->srcdir;

# Each case: mesh.conf and "expected", the exact stderr and exit status.
for my $dir (sort glob "$src/t/meshc/errors/*") {
	my $case = (split m{/}, $dir)[-1];
	my $expected = MeshTest::slurp("$dir/expected");
	my $out = $t->path("out-$case");
	mkdir $out;
	my $r = $t->run({ dir => $dir }, $t->meshc_bin, 'compile', '-o', $out,
	    'mesh.conf');
	is("$r->{err}exit $r->{code}\n", $expected, "diagnostics: $case");
	my @written = glob "$out/*";
	is(scalar @written, 0, "$case: nothing written") or diag "@written";
	my $c = $t->run({ dir => $dir }, $t->meshc_bin, 'check', 'mesh.conf');
	is($c->{err}, $r->{err}, "$case: check says what compile says");
}

# Each example mesh under conf/ against its golden output, twice: the same
# bytes each time.
for my $name (qw(demo example)) {
	my $golden = "$src/t/meshc/$name.expected";
	for my $run (1, 2) {
		my $out = $t->path("$name$run");
		mkdir $out;
		my $r = $t->run({ dir => "$src/conf/$name" }, $t->meshc_bin,
		    'compile', '-o', $out, 'mesh.conf');
		is($r->{code}, 0, "$name compiles (run $run)") or diag $r->{err};
		is($r->{err}, '', 'no diagnostics');
		my @want = map { (split m{/})[-1] } sort glob "$golden/*.conf";
		my @got = map { (split m{/})[-1] } sort glob "$out/*";
		is_deeply(\@got, \@want, 'one file per service, nothing else');
		for my $f (@want) {
			is(MeshTest::slurp("$out/$f"), MeshTest::slurp("$golden/$f"),
			    "$name: $f is the golden output (run $run)");
		}
	}
}

# Outbound ports follow names, not the order in the file.
my $a = $t->write_file('order-a/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
[service zeta]
app_port = 8001
inbound_port = 7001
depends = alpha
[service alpha]
app_port = 8002
inbound_port = 7002
EOF
my $b = $t->write_file('order-b/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
[service alpha]
app_port = 8002
inbound_port = 7002
[service zeta]
app_port = 8001
inbound_port = 7001
depends = alpha
EOF
for my $f ($a, $b) {
	(my $d = $f) =~ s{/mesh.conf$}{};
	my $r = $t->meshc('compile', '-o', $d, $f);
	is($r->{code}, 0, "compiles $f") or diag $r->{err};
}
my ($za, $zb) = map { MeshTest::slurp($t->path("$_/zeta.conf")) } qw(order-a order-b);
s/^; source sha256 .*$//m for $za, $zb;
is($za, $zb, 'the file order of services does not change the output');
like($za, qr/\[listener alpha\]\naddress = 127\.0\.0\.1:15001\n/,
    'alpha, first by name, gets outbound_port_base');

# A warning fails the run only under -Werror.
my $warn = $t->write_file('warn/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
[service a]
app_port = 8001
inbound_port = 7001
depends = b
depends = b
[service b]
app_port = 8002
inbound_port = 7002
EOF
my $r = $t->meshc('check', $warn);
is($r->{code}, 0, 'a warning alone passes');
like($r->{err}, qr/^\Q$warn\E:8: warning: service "a" lists dependency "b" twice \(first at line 7\) \[duplicate-dependency\]$/m,
    'the duplicate dependency is a warning with both lines');
$r = $t->meshc('check', '-Werror', $warn);
is($r->{code}, 1, '-Werror makes it fail');
(my $wdir = $warn) =~ s{/mesh\.conf$}{};
$r = $t->meshc('compile', '-o', $wdir, $warn);
is($r->{code}, 0, 'it compiles without -Werror');
my $a_conf = MeshTest::slurp("$wdir/a.conf");
is(scalar(() = $a_conf =~ /^\[listener b\]$/mg), 1, 'the repeated dependency gets one listener');
is(scalar(() = $a_conf =~ /^\[cluster b\]$/mg), 1, 'and one cluster');

# Dependency cycles are warnings that show the loop, each once; a service
# that only calls into a cycle is not part of it.
my $cyc = $t->write_file('cycle/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
[service a]
app_port = 8001
inbound_port = 7001
depends = b
[service b]
app_port = 8002
inbound_port = 7002
depends = c
[service c]
app_port = 8003
inbound_port = 7003
depends = a, d
[service d]
app_port = 8004
inbound_port = 7004
[service e]
app_port = 8005
inbound_port = 7005
depends = a, d
EOF
$r = $t->meshc('check', $cyc);
is($r->{code}, 0, 'a cycle alone passes (a warning)');
is($r->{err}, "$cyc:15: warning: dependency cycle: a -> b -> c -> a [dependency-cycle]\n",
    'the cycle is reported once, at the dependency that closes it, with the loop');
is($t->meshc('check', '-Werror', $cyc)->{code}, 1, '-Werror makes a cycle fail');
(my $acyclic = MeshTest::slurp($cyc)) =~ s/^depends = a, d$/depends = d/m;
$t->write_file('cycle/mesh.conf', $acyclic);
is($t->meshc('check', '-Werror', $cyc)->{err}, '', 'no cycle, no warning');

# --format=json: the same diagnostics as one JSON array on stdout.
SKIP: {
	eval { require JSON::PP; 1 } or skip 'JSON::PP is not installed', 6;
	my $case = "$src/t/meshc/errors/unknown-key";
	my $text = $t->run({ dir => $case }, $t->meshc_bin, 'check', 'mesh.conf');
	my $json = $t->run({ dir => $case }, $t->meshc_bin, 'check',
	    '--format=json', 'mesh.conf');
	is($json->{code}, $text->{code}, 'json: the same exit status');
	is($json->{err}, '', 'json: nothing on stderr');
	my $list = eval { JSON::PP->new->decode($json->{out}) };
	is(ref $list, 'ARRAY', 'json: an array') or diag $@, $json->{out};
	my @lines = split /\n/, $text->{err};
	is(scalar @{ $list // [] }, scalar @lines, 'json: one object per diagnostic');
	my $o = $list->[0] // {};
	is("$o->{file}:$o->{line}: $o->{severity}: $o->{message} [$o->{code}]",
	    $lines[0], 'json: its fields make the text line');
	my $clean = $t->run($t->meshc_bin, 'check', '--format=json',
	    "$src/conf/demo/mesh.conf");
	is($clean->{out}, "[]\n", 'json: a clean mesh gives an empty array');
}

# -o DIR is created when missing, one level (as mkdir without -p).
my $new = $t->path('new-out');
$r = $t->meshc('compile', '-o', $new, "$src/conf/demo/mesh.conf");
is($r->{code}, 0, '-o: a missing directory is created') or diag $r->{err};
ok(-f "$new/orders.conf", '-o: and the files are written into it');
$r = $t->meshc('compile', '-o', $t->path('no/such/dir'),
    "$src/conf/demo/mesh.conf");
is($r->{code}, 1, '-o: a missing parent is an error');
like($r->{err}, qr{^\Q${\ $t->path('no/such/dir')}\E: error: cannot create directory: No such file or directory \[io\]$},
    '-o: which names the directory');

# Usage errors exit 2; an unreadable file is an error (1).
is($t->meshc()->{code}, 2, 'no command: usage');
is($t->meshc('frobnicate', $warn)->{code}, 2, 'unknown command: usage');
is($t->meshc('check', '-x', $warn)->{code}, 2, 'unknown flag: usage');
$r = $t->meshc('check', $t->path('nonexistent.conf'));
is($r->{code}, 1, 'missing file: exit 1');
like($r->{err}, qr/nonexistent\.conf: error: cannot open: No such file/,
    'missing file: says so');

$t->done_testing;
