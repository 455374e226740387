#!/usr/bin/perl
# Replays every fuzz target's seed corpus through the same code the fuzzer
# drives (built with a plain main, fuzz/replay.c): under the sanitizer
# build this catches what the corpus already knows how to break.
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
my $src = $t->srcdir;
my $build = $ENV{MSH_BUILDDIR} // "$src/build";
for my $target (qw(http1 ini mesh)) {
	my $bin = "$build/fuzz/fuzz_$target";
	my @seeds = sort glob "$src/fuzz/corpus/$target/*";
	SKIP: {
		skip "$bin is not built (make check builds it)", 4 unless -x $bin;
		cmp_ok(scalar @seeds, '>=', 3, "fuzz_$target has a seed corpus");
		my $r = $t->run({ timeout => 120 }, $bin, @seeds);
		is($r->{code}, 0, "fuzz_$target replays its corpus") or diag $r->{err};
		is(scalar(() = $r->{out} =~ /^ok /mg), scalar @seeds,
		    "every seed ran") or diag $r->{out};
		unlike($r->{err}, qr/runtime error|Sanitizer/, 'no sanitizer report')
		    or diag $r->{err};
	}
}
done_testing;
