#!/usr/bin/perl
# Bodies stream: a 1 GiB upload and a 1 GiB download through meshd arrive
# whole while meshd's private memory (RssAnon) grows by less than 4 MiB,
# with the receiving side slower than the sending one each time, so only
# backpressure keeps the difference out of meshd. The upstream is a raw
# server in this test that streams and discards.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use MeshSock;
use MeshTest;

my $GiB = 1 << 30;
my $MiB = 1 << 20;
my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hb) = ($t->host(1), $t->host(2));
my $up_port = $t->free_port($hb);
my $srv = IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $up_port,
    Listen => 5, ReuseAddr => 1) or die "server: $!";

# The upstream: GET streams 1 GiB; POST reads its body, slower than the
# client (without backpressure the difference would pile up in meshd), and
# says how much.
my $block = 'x' x $MiB;
my $child = body_server($srv, read => $MiB, blocks => $GiB / $MiB,
    head => "HTTP/1.1 200 OK\r\nContent-Length: $GiB\r\n"
    . "Connection: close\r\n\r\n", block => sub { $block });
close $srv;
END { kill 'KILL', $child if $child }

my ($port, $admin) = ($t->free_port($h), $t->free_port($h));
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = stream
admin = $h:$admin

[listener in]
address = $h:$port
cluster = up

[cluster up]
endpoint = $hb:$up_port
EOF
my $pid = $t->start_meshd(name => 'meshd', conf => $conf, host => $h,
    admin => "$h:$admin");
my $sanitized = $t->sanitized;
sub anon { MeshTest::rss_anon($pid) }
sub connect_meshd {
	my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $port,
	    Timeout => 30) or die "connect: $!";
	return $s;
}

# Upload: 1 GiB with Content-Length, written as fast as meshd takes it.
my $base = anon();
my $max = $base;
my $s = connect_meshd();
print $s "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: $GiB\r\n"
    . "Connection: close\r\n\r\n";
my $up_block = 'y' x $MiB;
for my $i (1 .. $GiB / $MiB) {
	write_all($s, $up_block) or die "write: $!";
	if ($i % 16 == 0) {
		my $a = anon();
		$max = $a if $a > $max;
	}
}
my $answer = do { local $/; <$s> } // '';
like($answer, qr/\r\n\r\ngot 1073741824 bytes\n\z/, '1 GiB upload arrived whole');
close $s;
my $up_growth = $max - $base;

# Download: 1 GiB, read as fast as meshd sends it.
$base = anon();
$max = $base;
$s = connect_meshd();
print $s "GET /down HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my $head = '';
while (defined(my $l = <$s>)) { $head .= $l; last if $l eq "\r\n" }
like($head, qr/^HTTP\/1\.1 200 .*Content-Length: 1073741824\r\n/s, 'download head');
my ($got, $buf, $reads) = (0, '', 0);
while (my $n = read($s, $buf, $MiB)) {
	$got += $n;
	select(undef, undef, undef, 0.002);	# slower than the upstream
	if (++$reads % 64 == 0) {
		my $a = anon();
		$max = $a if $a > $max;
	}
}
is($got, $GiB, '1 GiB download arrived whole');
close $s;
my $down_growth = $max - $base;

SKIP: {
	skip 'memory figures mean nothing under the sanitizers', 2 if $sanitized;
	cmp_ok($up_growth, '<', 4096, "upload: RssAnon grew $up_growth KiB (< 4 MiB)");
	cmp_ok($down_growth, '<', 4096, "download: RssAnon grew $down_growth KiB (< 4 MiB)");
}

$t->done_testing;
