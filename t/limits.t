#!/usr/bin/perl
# Limits and timeouts from meshd.conf, each made to fire against real
# peers: max_header_size (414, 431; a response head over it is a 502;
# heads of 40 KiB pass whole under a 64k one, with a 16k buffer_size),
# max_headers,
# keepalive_timeout apart from client_timeout, client_timeout bounding a
# head that trickles in, request_timeout before and during the
# answer and while the request body is late, connect_timeout against a
# listener that drops SYNs. Each answer is counted by cause, and what is
# refused never reaches the upstream.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Socket qw(:all);
use Time::HiRes qw(time);
use MeshSock;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hb) = ($t->host(1), $t->host(2));
my $app = $t->free_port($hb);
$t->start_backend(name => 'app', listen => "$hb:$app", quiet => 1);

my $raw_port = $t->free_port($hb);
my $raw = IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $raw_port,
    Proto => 'tcp', Listen => 5, ReuseAddr => 1) or die "raw upstream: $!";

# A listener whose accept queue is full: the kernel drops further SYNs, so
# a connect to it neither succeeds nor fails until connect_timeout.
my $bh_port = $t->free_port($hb);
socket(my $bh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
bind($bh, pack_sockaddr_in($bh_port, inet_aton($hb))) or die "bind: $!";
listen($bh, 0) or die "listen: $!";
my @fillers;
for (1 .. 2) {
	socket(my $f, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
	IO::Handle::blocking($f, 0);
	connect($f, pack_sockaddr_in($bh_port, inet_aton($hb)));
	push @fillers, $f;
}

my ($lim, $rawlim, $big, $ka, $slowhead, $req, $ct, $admin) =
    map { $t->free_port($h) } 1 .. 8;
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = limits
workers = 1
admin = $h:$admin

[listener lim]
address = $h:$lim
cluster = app
max_header_size = 2k
max_headers = 10

[listener rawlim]
address = $h:$rawlim
cluster = raw
max_header_size = 2k
max_headers = 10

[listener big]
address = $h:$big
cluster = raw
max_header_size = 64k
buffer_size = 16k

[listener ka]
address = $h:$ka
cluster = app
client_timeout = 4s
keepalive_timeout = 300ms

[listener slowhead]
address = $h:$slowhead
cluster = app
client_timeout = 600ms

[listener req]
address = $h:$req
cluster = rawreq
buffer_size = 64k

[listener ct]
address = $h:$ct
cluster = blackhole

[cluster app]
endpoint = $hb:$app

[cluster raw]
endpoint = $hb:$raw_port

[cluster rawreq]
endpoint = $hb:$raw_port
response_timeout = 4s
request_timeout = 500ms

[cluster blackhole]
endpoint = $hb:$bh_port
connect_timeout = 300ms
EOF
$t->start_meshd(name => 'meshd', conf => $conf, host => $h);
my $m = sub { $t->metrics("$h:$admin")->{ $_[0] } // 0 };
my $err = sub { $m->("meshd_listener_errors_total{listener=\"$_[0]\",cause=\"$_[1]\"}") };
my $sent = sub { $m->("meshd_cluster_requests_total{cluster=\"$_[0]\"}") };

# One request on a new connection; the answer read to EOF or as framed.
sub ask {
	my ($port, $bytes) = @_;
	my $s = connect_to($h, $port);
	send_bytes($s, $bytes);
	my $r = read_response($s);
	close $s;
	return $r;
}

#
# max_header_size = 2k, max_headers = 10.
#

my $app0 = $sent->('app');
my $fill = 'a' x (2048 - 200);
my $r = ask($lim, "GET / HTTP/1.1\r\nHost: x\r\nX-Fill: $fill\r\n\r\n");
is($r->{status}, 200, 'a head just under max_header_size passes') or diag explain $r;
$r = ask($lim, "GET /" . ('u' x 2100) . " HTTP/1.1\r\nHost: x\r\n\r\n");
is($r->{status}, 414, 'a request line over max_header_size: 414');
like($r->{head}, qr/\r\nConnection: close\r\n/i, '... with Connection: close');
$r = ask($lim, "GET / HTTP/1.1\r\nHost: x\r\nX-Fill: " . ('a' x 2100) . "\r\n\r\n");
is($r->{status}, 431, 'a head over max_header_size: 431');
my $nine = join '', map { "X-$_: v\r\n" } 1 .. 9;
$r = ask($lim, "GET / HTTP/1.1\r\nHost: x\r\n$nine\r\n");
is($r->{status}, 200, 'max_headers fields pass');
$r = ask($lim, "GET / HTTP/1.1\r\nHost: x\r\n${nine}X-10: v\r\n\r\n");
is($r->{status}, 431, 'one more than max_headers: 431');
is($sent->('app') - $app0, 2, 'only the two good requests reached the upstream');
is($err->('lim', 'uri_too_long'), 1, 'counted: uri_too_long');
is($err->('lim', 'header_too_large'), 2, 'counted: header_too_large, twice');

# The same limits hold for what the upstream answers.
for my $case (
    [ 'a response head over max_header_size', "X-Fill: " . ('b' x 2100) . "\r\n" ],
    [ 'a response with more than max_headers fields', join '', map { "X-$_: v\r\n" } 1 .. 11 ],
) {
	my ($what, $fields) = @$case;
	my $s = connect_to($h, $rawlim);
	send_bytes($s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	my $peer = raw_accept($raw);
	ok($peer && raw_read_head($peer) =~ /^GET \/ /, "$what: the request went up");
	send_bytes($peer, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n$fields\r\nok") if $peer;
	$r = read_response($s);
	is($r->{status}, 502, "$what: 502");
	close $s;
	close $peer if $peer;
}
is($err->('rawlim', 'bad_response'), 2, 'counted: bad_response, twice');

# Heads of 40 KiB, under a max_header_size of 64k: meshd reads them in
# several reads, so each lies in more than one of its buffer's chunks (it
# parses the first chunk alone first), and both pass whole, though
# buffer_size (16k) is less than them.
{
	my $fill = join '', map { sprintf '%07d,', $_ } 1 .. 5000;
	my $s = connect_to($h, $big);
	send_bytes($s, "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: $fill\r\n\r\n");
	my $peer = raw_accept($raw);
	my $up = $peer ? raw_read_head($peer) : '';
	ok(index($up, "\r\nX-Big: $fill\r\n") > 0,
	    'a 40 KiB request head reaches the upstream whole');
	send_bytes($peer, "HTTP/1.1 200 OK\r\nX-Big: $fill\r\n"
	    . "Content-Length: 2\r\n\r\nok") if $peer;
	$r = read_response($s);
	is("$r->{status} " . ($r->{headers}{'x-big'} // '') . " $r->{body}",
	    "200 $fill ok", 'a 40 KiB response head reaches the client whole');
	close $s;
	close $peer if $peer;
}

#
# keepalive_timeout = 300ms with client_timeout = 4s: an idle kept-alive
# connection closes after the first, a new silent one waits for the second.
#

my $s = connect_to($h, $ka);
send_bytes($s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
$r = read_response($s);
is($r->{status}, 200, 'keepalive: a first request answered');
my $t0 = time;
my ($rest, $how) = read_to_eof($s);
my $idle = time - $t0;
is($how, 'eof', 'keepalive: the idle connection is closed');
is($rest, '', '... without a word');
cmp_ok($idle, '<', 2, sprintf('... after keepalive_timeout (%.2f s), not client_timeout', $idle));
close $s;
$s = connect_to($h, $ka);
ok(!IO::Select->new($s)->can_read(1), 'keepalive: a new connection without a request '
    . 'is still open after 1 s (client_timeout applies to it)');
close $s;

#
# client_timeout = 600ms bounds the whole head: one byte every 100 ms
# keeps the connection busy, but the 408 still comes.
#

$s = connect_to($h, $slowhead);
my $head = "GET / HTTP/1.1\r\nHost: x\r\n" . ('X-Slow: yes' . "\r\n") x 10;
$t0 = time;
my $answered;
for my $i (0 .. length($head) - 1) {
	last unless send_bytes($s, substr($head, $i, 1));
	if (IO::Select->new($s)->can_read(0.1)) {
		$answered = 1;
		last;
	}
	last if time - $t0 > 4;
}
my $took = time - $t0;
ok($answered, 'trickled head: meshd answered before the head was whole');
$r = read_response($s);
is($r->{status}, 408, 'trickled head: 408');
cmp_ok($took, '<', 2, sprintf('trickled head: after client_timeout in all (%.2f s), '
    . 'though a byte came every 100 ms', $took));
is($err->('slowhead', 'client_timeout'), 1, 'counted: client_timeout');
close $s;

#
# request_timeout = 500ms (response_timeout = 4s).
#

# No answer at all: 504 after request_timeout.
$s = connect_to($h, $req);
send_bytes($s, "GET /silent HTTP/1.1\r\nHost: x\r\n\r\n");
my $peer = raw_accept($raw);
ok($peer && raw_read_head($peer), 'request_timeout: the request went up');
$t0 = time;
$r = read_response($s);
$took = time - $t0;
is($r->{status}, 504, 'request_timeout: a silent upstream: 504');
cmp_ok($took, '<', 2, sprintf('... after request_timeout (%.2f s), not response_timeout', $took));
close $s;
close $peer if $peer;

# A body that keeps coming, a byte every 100 ms: never silent for
# response_timeout, but the whole exchange is cut at request_timeout.
$s = connect_to($h, $req);
send_bytes($s, "GET /drip HTTP/1.1\r\nHost: x\r\n\r\n");
$peer = raw_accept($raw);
raw_read_head($peer) if $peer;
send_bytes($peer, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n") if $peer;
$t0 = time;
my $cut;
local $SIG{PIPE} = 'IGNORE';
DRIP: while (time - $t0 < 4) {
	send_bytes($peer, 'd') or last;
	my $next = time + 0.1;
	while (time < $next) {
		my $n = fill($s, $next);
		last unless defined $n;		# the 100 ms are up
		if ($n == 0) {
			$cut = 1;
			last DRIP;
		}
	}
}
$took = time - $t0;
ok($cut, "request_timeout: a dripping answer is cut off") or diag "took $took, \$@=$@";
cmp_ok($took, '<', 2, sprintf('... after request_timeout (%.2f s)', $took));
close $s;
close $peer if $peer;

# The client's own body is late: 408.
$s = connect_to($h, $req);
send_bytes($s, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab");
$peer = raw_accept($raw);
ok($peer && raw_read_head($peer) =~ /^POST /, 'request_timeout: the POST went up');
$r = read_response($s);
is($r->{status}, 408, 'request_timeout: a request body not all in: 408');
close $s;
close $peer if $peer;
is($err->('req', 'request_timeout'), 3, 'counted: request_timeout, three times');

#
# connect_timeout = 300ms against a listener that drops SYNs: 504.
#

$t0 = time;
$r = ask($ct, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
$took = time - $t0;
is($r->{status}, 504, 'connect_timeout: 504');
cmp_ok($took, '<', 2, sprintf('... after connect_timeout (%.2f s)', $took));
is($err->('ct', 'connect_timeout'), 1, 'counted: connect_timeout');
is($m->('meshd_cluster_connect_failures_total{cluster="blackhole"}'), 2,
    'and as connect failures of the cluster: the try and its one retry');
is($m->('meshd_cluster_retries_total{cluster="blackhole"}'), 1,
    'the retry counted (retries = 1 on connect-failure by default)');

$t->done_testing;
