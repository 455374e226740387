#!/usr/bin/perl
# protocol=tcp listeners: bytes go across untouched both ways (an HTTP
# exchange with backend.pl that an http listener would have refused, and
# arbitrary bytes to a raw upstream written here), a 1 MiB upload, the
# client's half-close passed on while the answer still comes back, and a
# refused upstream closing the client's connection; connections and
# connect failures counted.
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

my ($tcp, $rawl, $down, $admin) = map { $t->free_port($h) } 1 .. 4;
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

[cluster app]
endpoint = $hb:$app

[cluster raw]
endpoint = $hb:$raw_up

[cluster dead]
endpoint = $hb:$dead
; a refusal must end it, not this: IO_TIMEOUT would run out first
connect_timeout = 10s
EOF
$t->start_meshd(name => 'meshd', conf => $conf, host => $h);
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

$t->done_testing;
