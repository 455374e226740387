#!/usr/bin/perl
# bench/meshgen, which bench/meshc-scale runs at 1,000 to 50,000 services,
# at 50: its mesh compiles clean (no error, no warning), the same options
# give the same bytes, the mesh in one file compiles to what the mesh in
# parts does, and meshd -t takes every file meshc wrote. So the benchmark
# can run; it is timed there, never here.
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd', 'meshc');
my $gen = $t->srcdir . '/bench/meshgen';

sub generate {
	my ($name, @opts) = @_;
	my $r = $t->run($^X, $gen, '--services', 50, @opts, '-o',
	    $t->path($name));
	is($r->{code}, 0, "meshgen @opts") or diag $r->{err};
	return $r->{out};
}

# Every file of a generated mesh, by name, with its bytes.
sub files_of {
	my ($dir) = @_;
	return { map { (substr($_, length($dir) + 1) => MeshTest::slurp($_)) }
	    grep { -f } glob("$dir/*.conf"), glob("$dir/mesh.d/*.conf") };
}

like(generate('parts'), qr/50 services \(\d+ http, 2 teams\), 250 routes, \d+ dependencies/,
    'meshgen says what it wrote');
my $parts = files_of($t->path('parts'));
ok(keys %$parts > 3, 'the mesh in parts: mesh.conf and files under mesh.d');
like($parts->{'mesh.conf'}, qr/^include = mesh\.d\/\*\.conf$/m,
    'mesh.conf includes mesh.d');
my $text = join '', values %$parts;
my %count;
$count{$1}++ while $text =~ /^\[(service|route|rule|policy|edge) /mg;
is($count{service}, 50, '50 services');
is($count{route}, 250, '5 routes per service on average');
ok($count{rule} > 0 && $count{policy} > 1 && $count{edge} > 0,
    'rules, policies and edges');
for my $key (qw(protocol depends subset path path_exact path_regex method
    header header_regex header_present header_absent split direct_response
    redirect rewrite_prefix add_header remove_header retries mirror
    mirror_percent rate_limit fault_delay fault_abort callers mtls
    hash_key health_check port tls_cert)) {
	like($text, qr/^\Q$key\E = /m, "some section sets $key");
}
like($text, qr/^mirror = platform-audit$/m, 'a route mirrors to a service');

generate('again');
is_deeply(files_of($t->path('again')), $parts,
    'the same options give the same bytes');
generate('other', '--seed', 2);
isnt(files_of($t->path('other'))->{'mesh.d/team-0000.conf'},
    $parts->{'mesh.d/team-0000.conf'}, 'another seed another mesh');

# Clean: not a warning, so -Werror passes.
my $r = $t->run({ dir => $t->path('parts') }, $t->meshc_bin, 'check',
    '-Werror', 'mesh.conf');
is("$r->{err}exit $r->{code}", 'exit 0', 'meshc check -Werror: clean');

my $out = $t->path('out');
$r = $t->run({ dir => $t->path('parts') }, $t->meshc_bin, 'compile', '-o',
    $out, 'mesh.conf');
is("$r->{err}exit $r->{code}", 'exit 0', 'meshc compile: clean');
my @written = sort glob "$out/*.conf";
is(scalar @written, 50, 'a file for each service');

# --single: the same mesh in one file, which compiles to the same files
# but for the digest of the source in their header.
generate('single', '--single');
ok(!-d $t->path('single/mesh.d'), '--single: one file');
my $single = $t->path('out-single');
$r = $t->run({ dir => $t->path('single') }, $t->meshc_bin, 'compile', '-o',
    $single, 'mesh.conf');
is("$r->{err}exit $r->{code}", 'exit 0', '--single compiles clean');
my $same = 0;
for my $f (@written) {
	my $name = (split m{/}, $f)[-1];
	my ($p, $s) = map { MeshTest::slurp($_) } $f, "$single/$name";
	s/^; source sha256 \w+;/; source sha256 X;/m for $p, $s;
	$same++ if $p eq $s;
}
is($same, 50, '--single compiles to the same files');

# meshd takes every file, with the certificates and registry they name.
$r = $t->run({ dir => $t->path('parts') }, $t->meshc_bin, 'certs', '-o',
    "$out/certs", 'mesh.conf');
is($r->{code}, 0, 'meshc certs') or diag $r->{err};
$t->write_file('out/registry.conf', '');
my @refused;
for my $f (@written) {
	my $c = $t->run($t->meshd_bin, '-t', '-c', $f);
	push @refused, "$f: $c->{err}" if $c->{code} != 0;
}
is(scalar @refused, 0, 'meshd -t takes every compiled file')
    or diag @refused;

done_testing;
