#!/usr/bin/perl
# bench/floor.c, the zero-work pipe bench/run puts beside the proxies as
# the least a proxy can cost: it builds clean under -Werror, and in both
# its modes it carries keep-alive requests and an upload bigger than the
# socket buffers (so its backpressure path runs) to a real backend. So the
# benchmark can run; it is timed there, never here.
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
my $h = $t->host(1);
my $bin = $t->path('floor');
my $r = $t->run('cc', '-O2', '-Wall', '-Wextra', '-Werror', '-o', $bin,
    $t->srcdir . '/bench/floor.c');
is("$r->{err}exit $r->{code}", 'exit 0', 'bench/floor.c builds clean');

my $origin = $t->free_port($h);
$t->start_backend(name => 'origin', listen => "$h:$origin", quiet => 1);
my $upload = $t->write_file('upload', 'u' x (64 << 20));

for my $mode ('', '-e') {
	my $name = $mode ? 'edge-triggered' : 'level-triggered';
	my $port = $t->free_port($h);
	$t->spawn(name => "floor$mode", cmd => [$bin, $mode ? $mode : (), $h,
	    $port, $h, $origin]);
	$t->wait_for(sub { MeshTest::port_open($h, $port) },
	    what => "floor $mode to listen");

	# Two requests, one connection: %{num_connects} is 0 for the second.
	$r = $t->run({ timeout => 20 }, 'curl', '-s', '-S', '--max-time', '5',
	    '-w', ' connects=%{num_connects}\n', "http://$h:$port/a",
	    "http://$h:$port/b");
	is($r->{out}, "origin\n connects=1\norigin\n connects=0\n",
	    "$name: two requests through one kept-alive connection")
	    or diag $r->{err};

	my ($code, $status, $body) = $t->curl('--max-time', '20',
	    '--data-binary', "\@$upload", "http://$h:$port/up");
	is("$code $status $body", "0 200 origin got 67108864 bytes\n",
	    "$name: a 64 MiB upload arrives whole");
	$t->stop("floor$mode");
}

$t->done_testing;
