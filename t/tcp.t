#!/usr/bin/perl
# protocol=tcp listeners: bytes go across untouched both ways (an HTTP
# exchange with backend.pl that an http listener would have refused, and
# arbitrary bytes to a raw upstream written here), a 1 MiB upload, the
# client's half-close passed on while the answer still comes back, and a
# refused upstream closing the client's connection; connections and
# connect failures counted. Then what splice(2) changes: a tunnel holds two
# pipes in meshd while it is open and none after (so splice is what moves
# the bytes, here and after an HTTP Upgrade, bytes sent with the 101
# included), and 64 MiB each way at once, with slow readers, arrive whole
# while meshd's private memory stays flat.
#
# Every socket read has a deadline (IO_TIMEOUT): a meshd that hangs fails
# the test, it does not stall it.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Scalar::Util qw(refaddr);
use Socket qw(SHUT_WR);
use Time::HiRes qw(time);
use MeshSock;
use MeshTest;


my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hb) = ($t->host(1), $t->host(2));

my $app = $t->free_port($hb);
$t->start_backend(name => 'app', listen => "$hb:$app");
my $raw_up = $t->free_port($hb);
my $raw = IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $raw_up,
    Proto => 'tcp', Listen => 5, ReuseAddr => 1)
    // die "raw upstream on $hb:$raw_up: $!";
my $dead = $t->free_port($hb);     # nobody listens there
my ($bulk_up, $ws_up) = map { $t->free_port($hb) } 1 .. 2;
my ($bulk_lsn, $ws_lsn) = map {
	IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $_, Proto => 'tcp',
	    Listen => 5, ReuseAddr => 1) // die "upstream on $hb:$_: $!"
} $bulk_up, $ws_up;

my ($tcp, $rawl, $down, $admin, $bulk, $ws, $idle) = map { $t->free_port($h) } 1 .. 7;
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = tcptest
workers = 1
admin = $h:$admin

[listener tcp]
address = $h:$tcp
protocol = tcp
cluster = app

[listener raw]
address = $h:$rawl
protocol = tcp
cluster = raw

[listener down]
address = $h:$down
protocol = tcp
cluster = dead

[listener bulk]
address = $h:$bulk
protocol = tcp
cluster = bulk

[listener ws]
address = $h:$ws
cluster = ws

[listener idle]
address = $h:$idle
protocol = tcp
cluster = raw
idle_timeout = 600ms

[cluster app]
endpoint = $hb:$app

[cluster raw]
endpoint = $hb:$raw_up

[cluster bulk]
endpoint = $hb:$bulk_up

[cluster ws]
endpoint = $hb:$ws_up

[cluster dead]
endpoint = $hb:$dead
; a refusal must end it, not this: IO_TIMEOUT would run out first
connect_timeout = 10s
EOF
my $pid = $t->start_meshd(name => 'meshd', conf => $conf, host => $h);
my $m = sub { $t->metrics("$h:$admin")->{ $_[0] } // 0 };
my $conns = sub { $m->("meshd_listener_connections_total{listener=\"$_[0]\"}") };
my %c0 = map { $_ => $conns->($_) } qw(tcp raw down);

#
# Sockets with deadlines.
#

#
# HTTP over the tcp listener: meshd does not parse it. A head without Host
# (an http listener's 400) reaches the backend and gets its answer, twice
# on one connection.
#

my $s = connect_to($h, $tcp);
ok(send_bytes($s, "GET /status/203 HTTP/1.1\r\nHost: x\r\n\r\n"), 'tcp: request written');
my $r = read_response($s);
is($r->{status}, 203, 'tcp: the backend\'s status') or diag explain $r;
is($r->{headers}{'x-backend'}, 'app', 'tcp: its X-Backend header');
is($r->{body}, "app\n", 'tcp: its body');
send_bytes($s, "GET /status/202 HTTP/1.1\r\n\r\n");
$r = read_response($s);
is($r->{status}, 202, 'tcp: a second request on the connection, without Host, '
    . 'reaches the backend as sent') or diag explain $r;
close $s;

#
# Byte-exact both ways through a raw upstream, with half-close: the client
# sends arbitrary bytes and ends its side; the upstream must see exactly
# those bytes and then EOF (meshd passed the half-close on), and only then
# answers; the client must still get exactly that answer, then EOF.
#

my $up = join '', map { chr } 0 .. 255;
$up = "NOT HTTP\r\n\0\r\r\n$up$up\n";
my $down_bytes = "\xff\xfe reply\r\n\0" . ('z' x 70000);
$s = connect_to($h, $rawl);
send_bytes($s, $up);
ok(shutdown($s, SHUT_WR), 'raw: the client shut its write side');
my $peer = raw_accept($raw);
ok($peer, 'raw: meshd connected to the raw upstream');
my ($got, $uhow) = $peer ? read_to_eof($peer) : ('', 'no connection');
is(unpack('H*', $got), unpack('H*', $up),
    'raw: the upstream got exactly the client\'s bytes, nothing more');
is($uhow, 'eof', 'raw: then EOF: meshd passed the client\'s half-close on');
if ($peer) {
	send_bytes($peer, $down_bytes);
	close $peer;
}
my ($all, $how) = read_to_eof($s);
ok($all eq $down_bytes, 'raw: after its half-close the client got exactly the '
    . 'upstream\'s ' . length($down_bytes) . ' bytes')
    or diag 'got ' . length($all) . " bytes ($how)";
is($how, 'eof', 'raw: the upstream\'s close reaches the client as EOF');
close $s;

#
# A 1 MiB upload with curl.
#

my $big = $t->write_file('big.bin', 'x' x 1048576);
my $c = $t->run({ timeout => 30 }, 'curl', '-sS', '--noproxy', '*', '--max-time', '20',
    '--data-binary', "\@$big", "http://$h:$tcp/upload");
is($c->{code}, 0, 'tcp: curl POST of 1 MiB succeeded') or diag $c->{err};
is($c->{out}, "app got 1048576 bytes\n", 'tcp: the backend got the 1 MiB body whole');

#
# Half-close: the client ends its side after the request and still gets
# the whole answer.
#

$s = connect_to($h, $tcp);
send_bytes($s, "GET /status/201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
ok(shutdown($s, SHUT_WR), 'half-close: client shut its write side');
($all, $how) = read_to_eof($s);
$r = parse_all($all);
is($r->{status}, 201, 'half-close: the response still arrives') or diag explain $all;
is($r->{body}, "app\n", 'half-close: the whole body');
is($how, 'eof', 'half-close: then EOF');
close $s;

#
# A refused upstream: meshd closes the client connection and counts it.
#

my $fail = sub { $m->('meshd_cluster_connect_failures_total{cluster="dead"}') };
my $f0 = $fail->();
$s = connect_to($h, $down);
my $t0 = time;
($all, $how) = read_to_eof($s);
is($how, 'eof', 'refused upstream: meshd closes the client connection');
is($all, '', 'refused upstream: without sending anything');
cmp_ok(time - $t0, '<', 3, 'refused upstream: promptly (on the refusal, not a timeout)');
is($fail->() - $f0, 1, 'refused upstream: one connect failure counted');
close $s;

#
# Connections counted per listener.
#

is($conns->('tcp') - $c0{tcp}, 3, 'tcp listener counted 3 connections (2 raw clients, curl)');
is($conns->('raw') - $c0{raw}, 1, 'raw listener counted 1 connection');
is($conns->('down') - $c0{down}, 1, 'down listener counted 1 connection');

#
# splice(2): a tunnel's bytes go socket -> pipe -> socket inside the
# kernel, one pipe per direction. Seen from outside: two more pipes in
# meshd's fd table while a tunnel is open, as many as before once it is
# closed. Without splice (the bufferevent tunnel) the count does not move.
#

# Pipes (by inode: each has two fds) meshd holds now.
sub pipes {
	my %ino;
	opendir my $d, "/proc/$pid/fd" or die "/proc/$pid/fd: $!";
	for my $fd (readdir $d) {
		my $l = readlink "/proc/$pid/fd/$fd" // next;	# closed meanwhile
		$ino{$1} = 1 if $l =~ /^pipe:\[(\d+)\]\z/;
	}
	return scalar keys %ino;
}

# A tunnel is up once a byte went each way through it.
sub ping_pong {
	my ($s, $peer, $what) = @_;
	send_bytes($s, "ping\0");
	is(read_exactly($peer, 5), "ping\0", "$what: the client's bytes reach the upstream");
	send_bytes($peer, "pong\xff");
	is(read_exactly($s, 5), "pong\xff", "$what: the upstream's bytes reach the client");
}

my $pipes0 = pipes();
$s = connect_to($h, $bulk);
$peer = raw_accept($bulk_lsn) // die 'bulk: meshd did not connect';
ping_pong($s, $peer, 'splice');
is(pipes() - $pipes0, 2, 'splice: an open tunnel holds two pipes, one per direction');
send_bytes($s, 'bye');
shutdown($s, SHUT_WR);
($all, $how) = read_to_eof($peer);
is("$all $how", 'bye eof', 'splice: the client\'s half-close reaches the upstream after its bytes');
close $peer;
($all, $how) = read_to_eof($s);
is("$all $how", ' eof', 'splice: and the upstream\'s close the client');
close $s;
ok(eval { $t->wait_for(sub { pipes() == $pipes0 }, timeout => 5,
    what => 'the pipes to close') }, 'splice: the closed tunnel\'s pipes are closed')
    or diag $@;

# After an HTTP Upgrade the tunnel splices too. The upstream sends its
# first bytes in the same write as the 101: meshd has read them already,
# and they must reach the client before anything spliced.
$s = connect_to($h, $ws);
send_bytes($s, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\n\r\n");
$peer = raw_accept($ws_lsn) // die 'ws: meshd did not connect';
like(raw_read_head($peer), qr{^GET /chat HTTP/1\.1\r\n.*^Upgrade: websocket\r$}ms,
    'upgrade: the request reaches the upstream');
send_bytes($peer, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\n\r\nfirst");
$r = read_response($s);
is($r->{status}, 101, 'upgrade: the client gets the 101') or diag explain $r;
is(read_exactly($s, 5), 'first', 'upgrade: then the bytes that came with it');
ping_pong($s, $peer, 'upgrade');
is(pipes() - $pipes0, 2, 'upgrade: the tunnel holds two pipes');
close $s;
close $peer;
ok(eval { $t->wait_for(sub { pipes() == $pipes0 }, timeout => 5,
    what => 'the pipes to close') }, 'upgrade: which close with it') or diag $@;

#
# 64 MiB each way at once, both readers slower than the writers: only
# backpressure keeps the difference out of meshd. Each end writes blocks
# numbered in their first bytes and hashes what it sends and gets.
#

my $MiB = 1 << 20;
my $BULK = 64 * $MiB;
my $sanitized = $t->sanitized;
sub anon { MeshTest::rss_anon($pid) }

# The upstream end in a child.
my $theirs = duplex_child($bulk_lsn, $BULK);

my $base = anon();
my $max = $base;
my $reads = 0;
$s = connect_to($h, $bulk);
my @mine = eval { duplex($s, $BULK, sub {
	return if ++$reads % 16;
	my $kb = anon();
	$max = $kb if $kb > $max;
}) };
is($@, '', 'bulk: the client sent 64 MiB and read to EOF');
close $s;
my @theirs = $theirs->();
is(scalar @theirs, 3, 'bulk: the upstream sent 64 MiB and read to EOF')
    or diag "@theirs";
is($theirs[1], $BULK, 'bulk: the upstream got 64 MiB');
ok(defined $theirs[2] && $theirs[2] eq ($mine[0] // ''),
    'bulk: exactly the client\'s bytes');
is($mine[1], $BULK, 'bulk: the client got 64 MiB');
ok(defined $mine[2] && $mine[2] eq ($theirs[0] // 'x'),
    'bulk: exactly the upstream\'s bytes');
SKIP: {
	skip 'memory figures mean nothing under the sanitizers', 1 if $sanitized;
	my $growth = $max - $base;
	cmp_ok($growth, '<', 4096, "bulk: meshd's RssAnon grew $growth KiB (< 4 MiB)");
}
ok(eval { $t->wait_for(sub { pipes() == $pipes0 }, timeout => 5,
    what => 'the pipes to close') }, 'bulk: the tunnel\'s pipes are closed after it')
    or diag $@;

#
# idle_timeout = 600ms: bytes one way only, every 200 ms for 1.5 s, keep
# the tunnel open; then silence closes both sides.
#

$s = connect_to($h, $idle);
$peer = raw_accept($raw);
ok($peer, 'idle: meshd connected to the raw upstream');
my $t1 = time;
my ($flowing, $npings) = (1, 0);
while (time - $t1 < 1.5) {
	send_bytes($peer, 'p') ? $npings++ : ($flowing = 0);
	my $next = time + 0.2;
	while (time < $next) {
		my $n = fill($s, $next);
		last unless defined $n;
		$flowing = 0, last if $n == 0;
	}
	last unless $flowing;
}
ok($flowing, 'idle: bytes one way only kept the tunnel open past idle_timeout');
is(read_exactly($s, $npings), 'p' x $npings, "... and its $npings bytes went through");
$t1 = time;
($all, $how) = read_to_eof($s);
my $quiet = time - $t1;
is($how, 'eof', 'idle: silence closes the client side');
cmp_ok($quiet, '<', 2, sprintf('... after idle_timeout (%.2f s)', $quiet));
($got, $uhow) = read_to_eof($peer);
is($uhow, 'eof', 'idle: and the upstream side');
close $s;
close $peer;

$t->done_testing;
