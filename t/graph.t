#!/usr/bin/perl
# meshc graph: the golden DOT of the example meshes, the same bytes on every
# run and for any order of the file, nothing on stdout when the mesh has
# errors, usage errors, and -T svg through dot: a stand-in dot proves the
# pipe and its failures always; Graphviz's own renders it when installed.
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshc');
my $src = $t->srcdir;

# Each example mesh against its golden graph, twice: the same bytes.
for my $name (qw(demo example)) {
	my $golden = MeshTest::slurp("$src/t/meshc/$name.dot");
	for my $run (1, 2) {
		my $r = $t->run({ dir => "$src/conf/$name" }, $t->meshc_bin,
		    'graph', 'mesh.conf');
		is($r->{code}, 0, "$name: graph exits 0 (run $run)")
		    or diag $r->{err};
		is($r->{err}, '', "$name: no diagnostics (run $run)");
		is($r->{out}, $golden, "$name: the golden DOT (run $run)");
	}
}
is($t->meshc('graph', '-T', 'dot', "$src/conf/example/mesh.conf")->{out},
    MeshTest::slurp("$src/t/meshc/example.dot"), '-T dot is the default');

# Neither the order of the services nor that of their dependencies shows.
my $mesh_a = <<'EOF';
[mesh]
name = m
registry = r.conf
request_timeout = 9s
[service zeta]
app_port = 8001
inbound_port = 7001
depends = beta, alpha
[service alpha]
protocol = tcp
app_port = 8002
inbound_port = 7002
connect_timeout = 250ms
[service beta]
app_port = 8003
inbound_port = 7003
response_timeout = 90s
request_timeout = off
[service lonely]
app_port = 8004
inbound_port = 7004
idle_timeout = 1h
EOF
my $mesh_b = <<'EOF';
[mesh]
name = m
registry = r.conf
request_timeout = 9s
[service lonely]
app_port = 8004
inbound_port = 7004
idle_timeout = 1h
[service beta]
app_port = 8003
inbound_port = 7003
response_timeout = 90s
request_timeout = off
[service alpha]
protocol = tcp
app_port = 8002
inbound_port = 7002
connect_timeout = 250ms
[service zeta]
app_port = 8001
inbound_port = 7001
depends = alpha
depends = beta
EOF
my $want = <<'EOF';
digraph "m" {
	rankdir = LR;
	node [shape = box];
	"alpha" [label = "alpha\ntcp :7002"];
	"beta" [label = "beta\nhttp :7003"];
	"lonely" [label = "lonely\nhttp :7004"];
	"zeta" [label = "zeta\nhttp :7001"];
	"zeta" -> "alpha" [label = "connect 250ms, idle 1h"];
	"zeta" -> "beta" [label = "connect 5s, response 90s\nretries 1"];
}
EOF
my @files = ($t->write_file('a/mesh.conf', $mesh_a),
    $t->write_file('b/mesh.conf', $mesh_b));
for my $f (@files) {
	my $r = $t->meshc('graph', $f);
	is($r->{code}, 0, "graph of $f") or diag $r->{err};
	is($r->{out}, $want, 'a node per service, sorted; an edge per '
	    . 'dependency, sorted; tcp hops show the idle timeout, request '
	    . 'only when not off');
}

# A route's mirror to another service: a dashed edge from each caller of
# the route's service, once, after its dependencies, even where it is one;
# a mirror to a subset draws nothing.
{
	my $mesh = $t->write_file('mirror/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
[service web]
app_port = 8001
inbound_port = 7001
depends = orders
[service admin]
app_port = 8002
inbound_port = 7002
depends = orders, next
[service orders]
app_port = 8003
inbound_port = 7003
subset = v1 version=v1
subset = v2 version=v2
[service next]
app_port = 8004
inbound_port = 7004
[route api]
service = orders
path = /api/
to = v1
mirror = next
[route all]
service = orders
to = v1
mirror = next
mirror_percent = 10
[route canary]
service = orders
header = X-Canary: yes
to = v1
mirror = v2
EOF
	my $r = $t->meshc('graph', $mesh);
	is($r->{code}, 0, 'graph with mirrors') or diag $r->{err};
	my @edges = $r->{out} =~ /^\t(".*" -> ".*") \[(?:style = (\w+), )?/mg;
	my @e;
	while (my ($edge, $style) = splice @edges, 0, 2) {
		push @e, $edge . ($style ? " $style" : '');
	}
	is_deeply(\@e, [ '"admin" -> "next"', '"admin" -> "orders"',
	    '"admin" -> "next" dashed', '"web" -> "orders"', '"web" -> "next" dashed' ],
	    'a dashed edge to the service mirrored to, once per caller');
	like($r->{out}, qr/^\t"web" -> "next" \[style = dashed, label = "mirror"\];$/m,
	    'labelled mirror');
}

# Errors: the diagnostics check prints, exit 1, nothing on stdout.
for my $case (qw(all-errors unknown-dependency)) {
	my $dir = "$src/t/meshc/errors/$case";
	my $r = $t->run({ dir => $dir }, $t->meshc_bin, 'graph', 'mesh.conf');
	my $c = $t->run({ dir => $dir }, $t->meshc_bin, 'check', 'mesh.conf');
	is($r->{code}, 1, "$case: exit 1");
	is($r->{out}, '', "$case: nothing on stdout");
	is($r->{err}, $c->{err}, "$case: the diagnostics of check");
}
my $r = $t->meshc('graph', $t->path('nonexistent.conf'));
is("$r->{code} $r->{out}", '1 ', 'an unreadable file: exit 1, no graph');

# A graph that cannot be written is an error.
SKIP: {
	skip '/dev/full is missing', 2 unless -c '/dev/full';
	$r = $t->run('sh', '-c', 'exec "$0" graph "$1" > /dev/full',
	    $t->meshc_bin, "$src/conf/example/mesh.conf");
	is($r->{code}, 1, 'stdout full: exit 1');
	is($r->{err}, "error: cannot write the graph: No space left on device "
	    . "[io]\n", 'stdout full: says so');
}

# A warning (a cycle) leaves the graph whole, unless -Werror.
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
depends = a
EOF
$r = $t->meshc('graph', $cyc);
is($r->{code}, 0, 'a cycle: exit 0');
like($r->{err}, qr/warning: dependency cycle: a -> b -> a/, 'with its warning');
like($r->{out}, qr/^\t"a" -> "b" .*\n\t"b" -> "a" /m, 'both edges drawn');
$r = $t->meshc('graph', '-Werror', $cyc);
is("$r->{code} $r->{out}", '1 ', '-Werror: exit 1, no graph');

# Usage errors exit 2 and print nothing on stdout.
my $ex = "$src/conf/example/mesh.conf";
for my $args (['graph', '-T', 'png', $ex], ['graph', '-T'],
    ['check', '-T', 'dot', $ex], ['graph', '--format=json', $ex],
    ['graph', '-o', $t->dir, $ex], ['graph'], ['graph', $ex, $ex]) {
	my $u = $t->meshc(@$args);
	is("$u->{code} $u->{out}", '2 ', "usage: meshc "
	    . join(' ', map { m{/} ? 'PATH' : $_ } @$args));
}
like($t->meshc()->{err}, qr/^ +meshc graph \[-T dot\|svg\]/m,
    'the usage names graph');

# -T svg without dot in PATH: exit 2 before reading the mesh, and says why.
mkdir $t->path('empty');
$r = $t->run({ env => { PATH => $t->path('empty') } }, $t->meshc_bin,
    'graph', '-T', 'svg', $t->path('nonexistent.conf'));
is($r->{code}, 2, 'no dot: exit 2');
is($r->{out}, '', 'no dot: nothing on stdout');
is($r->{err}, "meshc: -T svg needs Graphviz's dot in PATH (Debian: apt-get "
    . "install graphviz); -T dot needs nothing\n", 'no dot: says what to do');

# A stand-in dot: meshc runs "dot -Tsvg" found in PATH, feeds it the DOT on
# stdin and lets its output through as meshc's; its failure is meshc's.
my $bin = $t->path('bin');
my $fake = $t->write_file('bin/dot', <<"EOF");
#!/bin/sh
printf '%s\\n' "\$0" "\$@" > $bin/args
/bin/cat > $bin/stdin
printf '<svg>stand-in</svg>\\n'
exit \${FAKE_DOT_EXIT:-0}
EOF
chmod 0755, $fake;
my $path = $t->path('empty') . "::$bin:/nonexistent";
$r = $t->run({ env => { PATH => $path } }, $t->meshc_bin, 'graph', '-T',
    'svg', $ex);
is($r->{code}, 0, 'stand-in dot: exit 0') or diag $r->{err};
is($r->{out}, "<svg>stand-in</svg>\n", "dot's output is meshc's");
is($r->{err}, '', 'no diagnostics');
is(MeshTest::slurp("$bin/args"), "$bin/dot\n-Tsvg\n",
    'dot is the first in PATH, run with -Tsvg');
is(MeshTest::slurp("$bin/stdin"), MeshTest::slurp("$src/t/meshc/example.dot"),
    'dot reads the DOT graph');
$r = $t->run({ env => { PATH => $path, FAKE_DOT_EXIT => 3 } }, $t->meshc_bin,
    'graph', '-T', 'svg', $ex);
is($r->{code}, 1, 'dot fails: exit 1');
is($r->{err}, "error: $bin/dot -Tsvg failed (exit status 3) [io]\n",
    'dot fails: says so');
unlink "$bin/args";
$r = $t->run({ env => { PATH => $path } }, $t->meshc_bin, 'graph', '-T',
    'svg', "$src/t/meshc/errors/all-errors/mesh.conf");
is("$r->{code} $r->{out}", '1 ', 'mesh errors: exit 1, nothing on stdout');
ok(!-e "$bin/args", 'and dot is not run');

# Graphviz itself, when installed (./bootstrap does not install it).
SKIP: {
	skip 'Graphviz dot is not installed', 5
	    unless grep { -x "$_/dot" } split /:/, $ENV{PATH};
	$r = $t->meshc('graph', '-T', 'svg', $ex);
	is($r->{code}, 0, 'dot -Tsvg: exit 0') or diag $r->{err};
	is($r->{err}, '', 'dot -Tsvg: no diagnostics');
	like($r->{out}, qr/\A(?:<\?xml|<svg)/, 'an SVG document');
	like($r->{out}, qr{</svg>\s*\z}, 'whole');
	my @titles = map { s/&#45;&gt;/->/r } $r->{out} =~ m{<title>([^<]*)</title>}g;
	is_deeply([sort @titles],
	    [qw(cache cart cart->cache catalog checkout checkout->payments
	    payments shop web web->cart web->catalog web->checkout)],
	    'the mesh, every service and every dependency') or diag "@titles";
}

$t->done_testing;
