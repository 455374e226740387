#!/usr/bin/perl
# The man pages: clean under mandoc -Tlint, each with EXAMPLES, and every
# mesh.conf key meshc accepts (policy and edge keys too) documented in
# mesh.conf(5). (meshd.conf keys
# are checked against meshd's own directive tables by t/unit/test_directives.)
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
my $src = $t->srcdir;
plan skip_all => 'mandoc is not installed'
    unless grep { -x "$_/mandoc" } split /:/, $ENV{PATH};

my @pages = map { "$src/man/$_" }
    qw(meshc.1 meshd.8 mesh.conf.5 meshd.conf.5 mesh-registry.5);
for my $page (@pages) {
	my $name = (split m{/}, $page)[-1];
	ok(-e $page, "$name exists") or next;
	my $r = $t->run('mandoc', '-Tlint', '-W', 'warning', $page);
	is($r->{code}, 0, "$name: mandoc -Tlint exit 0");
	is($r->{out} . $r->{err}, '', "$name: no lint warnings");
	like(MeshTest::slurp($page), qr/^\.Sh EXAMPLES$/m, "$name has EXAMPLES");
}

# mesh.conf keys, from the table in compiler/parse.c.
my $parse = MeshTest::slurp("$src/compiler/parse.c");
my @keys = $parse =~ /^\s*(?:MESH|SERVICE|BOTH|EDGE)(?:_R|_LIST)?\("(\w+)"/mg;
push @keys, $parse =~ /^\s*\{ MC_SEC_\w+, "(\w+)"/mg;
cmp_ok(scalar @keys, '>=', 10, 'found the mesh.conf directive table');
# Policy keys, from the table in compiler/policy.c.
my @pkeys = MeshTest::slurp("$src/compiler/policy.c") =~ /^\s*(?:POLICY|INBOUND)(?:_R)?\("(\w+)"/mg;
cmp_ok(scalar @pkeys, '>=', 20, 'found the policy key table');
push @keys, @pkeys;
my $page = MeshTest::slurp("$src/man/mesh.conf.5");
for my $k (@keys) {
	like($page, qr/^\.It Cm \Q$k\E\b/m, "mesh.conf(5) documents $k");
}
# Diagnostic codes meshc can print, from its sources and the INI reader:
# each is in meshc(1)'s list.
my %codes;
for my $f (glob("$src/compiler/*.c"), "$src/lib/iniread.c") {
	my $text = MeshTest::slurp($f);
	$codes{$_} = 1 for $text =~ /msh_diag_(?:error|warning)\(\s*[^,]+,\s*"([a-z-]+)"/g;
}
cmp_ok(scalar keys %codes, '>=', 10, 'found the diagnostic codes');
my $meshc = MeshTest::slurp("$src/man/meshc.1");
like($meshc, qr/^\.It Li \Q$_\E$/m, "meshc(1) documents code $_") for sort keys %codes;

# Registry keys, from src/registry.c.
my $reg = MeshTest::slurp("$src/src/registry.c");
my ($list) = $reg =~ /keys\[REG_NKEYS\] = \{(.*?)\};/s;
my @rkeys = $list =~ /"(\w+)"/g;
cmp_ok(scalar @rkeys, '>=', 6, 'found the registry keys');
my $rpage = MeshTest::slurp("$src/man/mesh-registry.5");
like($rpage, qr/^\.It Cm \Q$_\E\b/m, "mesh-registry(5) documents $_") for @rkeys;

# meshd's own diagnostic codes: in meshc(1)'s list, or named in meshd(8).
my $meshd8 = MeshTest::slurp("$src/man/meshd.8");
my %dcodes;
for my $f (glob "$src/src/*.c") {
	my $text = MeshTest::slurp($f);
	$dcodes{$_} = 1 for $text =~ /msh_diag_(?:error|warning)\(\s*[^,]+,\s*"([a-z-]+)"/g;
}
cmp_ok(scalar keys %dcodes, '>=', 8, "found meshd's diagnostic codes");
for my $c (sort keys %dcodes) {
	ok($meshc =~ /^\.It Li \Q$c\E$/m || $meshd8 =~ /^\.Li \Q$c\E\b/m,
	    "meshd's code $c is documented");
}

# Every metric family /metrics serves is in meshd(8).
my $admin = MeshTest::slurp("$src/src/admin.c");
my @metrics = $admin =~ /(?:metric_head|single|family|classes)\(b,\s*"(\w+)"/g;
cmp_ok(scalar @metrics, '>=', 10, 'found the metric names');
like($meshd8, qr/^\.It Li \Q$_\E\b/m, "meshd(8) documents $_") for @metrics;

done_testing;
