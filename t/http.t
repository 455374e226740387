#!/usr/bin/perl
# HTTP/1.1 proxying through a protocol=http listener, against a real
# backend (backend.pl), raw upstreams written here, curl and byte-exact raw
# clients: pass-through and counting of statuses, keep-alive, pipelining,
# bodies in both framings, HTTP/1.0, HEAD, what malformed requests get (and
# that they never reach the backend), hop-by-hop fields, and the errors
# meshd answers itself (refused upstream, malformed response head).
#
# Every socket read has a deadline (IO_TIMEOUT): a meshd that hangs fails
# the test, it does not stall it.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Scalar::Util qw(refaddr);
use Time::HiRes qw(time);
use MeshTest qw(slurp);
use MeshSock;


my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hb) = ($t->host(1), $t->host(2));

# The backend, and two raw upstreams this test plays by hand: one records
# the head it gets (hop-by-hop), one answers a malformed head.
my $app = $t->free_port($hb);
$t->start_backend(name => 'app', listen => "$hb:$app");
my ($hop_up, $bad_up) = map { $t->free_port($hb) } 1 .. 2;
my %raw = map {
	my $port = $_ == 1 ? $hop_up : $bad_up;
	($_ => IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $port,
	    Proto => 'tcp', Listen => 5, ReuseAddr => 1)
	    // die "raw upstream on $hb:$port: $!")
} 1 .. 2;
my $dead = $t->free_port($hb);     # nobody listens there

my ($http, $hop, $badresp, $down, $admin) = map { $t->free_port($h) } 1 .. 5;
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = httptest
workers = 1
admin = $h:$admin

[listener http]
address = $h:$http
protocol = http
cluster = app

[listener hop]
address = $h:$hop
protocol = http
cluster = hop

[listener badresp]
address = $h:$badresp
protocol = http
cluster = badresp

[listener down]
address = $h:$down
protocol = http
cluster = dead

[cluster app]
endpoint = $hb:$app

[cluster hop]
endpoint = $hb:$hop_up

[cluster badresp]
endpoint = $hb:$bad_up

[cluster dead]
endpoint = $hb:$dead
connect_timeout = 2s
EOF
$t->start_meshd(name => 'meshd', conf => $conf, host => $h);
my $m = sub { $t->metrics("$h:$admin")->{ $_[0] } // 0 };

# curl: {code, err, status, headers, body} of the last response.
my $curls = 0;
sub curl {
	my (@args) = @_;
	my $n = ++$curls;
	my ($hf, $bf) = map { $t->path("curl$n.$_") } qw(head body);
	my $r = $t->run({ timeout => 30 }, 'curl', '-sS', '--noproxy', '*', '--max-time', '20',
	    '-D', $hf, '-o', $bf, @args);
	my @heads = grep { /^HTTP\// } split /(?<=\r\n\r\n)/, slurp($hf);
	my $p = parse_all(($heads[-1] // '') . slurp($bf));
	$p->{code} = $r->{code};
	$p->{err} = $r->{err};
	return $p;
}

#
# Plain GETs: status, body and headers pass through; classes counted.
#

my $class = sub { $m->("meshd_listener_responses_total{listener=\"http\",class=\"$_[0]\"}") };
my %before = map { $_ => $class->($_) } qw(2xx 4xx 5xx);
my $r = curl("http://$h:$http/");
is($r->{status}, 200, 'GET /: 200') or diag $r->{err};
is($r->{body}, "app\n", 'GET /: the backend\'s body');
is($r->{headers}{'x-backend'}, 'app', 'GET /: its X-Backend header');
$r = curl("http://$h:$http/status/404");
is($r->{status}, 404, 'backend 404 passes through');
is($r->{headers}{'x-backend'}, 'app', '404: from the backend');
$r = curl("http://$h:$http/status/500");
is($r->{status}, 500, 'backend 500 passes through');
is($r->{body}, "app\n", '500: with the backend\'s body');
is($class->('2xx') - $before{'2xx'}, 1, '2xx counted once');
is($class->('4xx') - $before{'4xx'}, 1, '4xx counted once');
is($class->('5xx') - $before{'5xx'}, 1, '5xx counted once');

#
# Keep-alive: three requests on one client connection.
#

my $conns = sub { $m->('meshd_listener_connections_total{listener="http"}') };
my $c0 = $conns->();
my $s = connect_to($h, $http);
my @ka = ([ '/', 200, "app\n" ], [ '/status/201', 201, "app\n" ],
    [ '/status/404', 404, "app\n" ]);
for my $i (0 .. $#ka) {
	my ($path, $status, $body) = @{ $ka[$i] };
	ok(send_bytes($s, "GET $path HTTP/1.1\r\nHost: x\r\n\r\n"),
	    "keep-alive request $i written");
	my $res = read_response($s);
	is($res->{status}, $status, "keep-alive request $i: $status")
	    or diag explain $res;
	is($res->{body}, $body, "keep-alive request $i: body");
	unlike($res->{head} // '', qr/^Connection: close\r$/mi,
	    "keep-alive request $i: the connection stays open");
}
is($conns->() - $c0, 1, 'keep-alive: meshd counted one connection for them');
close $s;

#
# Pipelining: two requests in one write, answered in order.
#

$s = connect_to($h, $http);
ok(send_bytes($s, "GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\n"
    . "GET /status/202 HTTP/1.1\r\nHost: x\r\n\r\n"),
    'pipelining: two requests written in one write()');
my @p = map { read_response($s) } 1 .. 2;
is($p[0]{status}, 201, 'pipelining: the first response answers the first request')
    or diag explain $p[0];
is($p[1]{status}, 202, 'pipelining: the second answers the second')
    or diag explain $p[1];
close $s;

#
# Request bodies, 1 MiB, with Content-Length and chunked.
#

my $big = $t->write_file('big.bin', 'x' x 1048576);
$r = curl('--data-binary', "\@$big", "http://$h:$http/upload");
is($r->{status}, 200, 'POST 1 MiB with Content-Length: 200') or diag $r->{err};
is($r->{body}, "app got 1048576 bytes\n", 'POST with Content-Length: the backend got it whole');
$r = curl('-H', 'Transfer-Encoding: chunked', '--data-binary', "\@$big",
    "http://$h:$http/upload");
is($r->{status}, 200, 'POST 1 MiB chunked: 200') or diag $r->{err};
is($r->{body}, "app got 1048576 bytes\n", 'POST chunked: the backend got it whole');

#
# HTTP/1.0 without keep-alive: answered, then closed by meshd.
#

$s = connect_to($h, $http);
send_bytes($s, "GET / HTTP/1.0\r\n\r\n");
my ($all, $how) = read_to_eof($s);
is($how, 'eof', 'HTTP/1.0: meshd closes the connection after the response');
$r = parse_all($all);
is($r->{status}, 200, 'HTTP/1.0: 200');
is($r->{body}, "app\n", 'HTTP/1.0: the whole body, then EOF');
close $s;

#
# HEAD: a head without a body, and the connection stays usable.
#

$s = connect_to($h, $http);
send_bytes($s, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
$r = read_response($s, head => 1);
is($r->{status}, 200, 'HEAD: 200') or diag explain $r;
is($r->{headers}{'content-length'}, length("app\n"),
    'HEAD: Content-Length of the body a GET would get');
send_bytes($s, "GET /status/203 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
($all, $how) = read_to_eof($s);
is($how, 'eof', 'HEAD then GET: the connection ends after the GET');
like($all, qr{\AHTTP/1\.1 203 }, 'HEAD: no body bytes came before the next response')
    or diag explain $all;
close $s;

#
# Malformed requests: the stated status with Connection: close, the
# connection closed, nothing forwarded to the backend.
#

my $creq = sub { $m->('meshd_cluster_requests_total{cluster="app"}') };
my @bad = (
	[ 'Content-Length with Transfer-Encoding', 400,
	    "POST /bad-cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" ],
	[ 'two different Content-Length', 400,
	    "POST /bad-two-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    . "Content-Length: 6\r\n\r\nhello!" ],
	[ 'space before the colon', 400,
	    "GET /bad-space HTTP/1.1\r\nHost : x\r\n\r\n" ],
	[ 'obs-fold line', 400,
	    "GET /bad-fold HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" ],
	[ 'HTTP/1.1 without Host', 400,
	    "GET /bad-nohost HTTP/1.1\r\nX-A: a\r\n\r\n" ],
	[ 'HTTP/0.9 request line', 400, "GET /bad-09\r\n\r\n" ],
	[ 'bare CR in a header value', 400,
	    "GET /bad-cr HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n" ],
	[ 'HTTP/2.0', 505, "GET /bad-h2 HTTP/2.0\r\nHost: x\r\n\r\n" ],
	[ 'Transfer-Encoding: foo, chunked', 501,
	    "POST /bad-te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n"
	    . "0\r\n\r\n" ],
	[ '20 KiB header', 431,
	    "GET /bad-bighead HTTP/1.1\r\nHost: x\r\nX-Big: " . ('b' x 20480) . "\r\n\r\n" ],
	[ '20 KiB request line', 414,
	    "GET /bad-bigline" . ('l' x 20480) . " HTTP/1.1\r\nHost: x\r\n\r\n" ],
);
for my $case (@bad) {
	my ($what, $status, $bytes) = @$case;
	my $before = $creq->();
	$s = connect_to($h, $http);
	send_bytes($s, $bytes);
	($all, $how) = read_to_eof($s);
	$r = parse_all($all);
	is($r->{status}, $status, "$what: $status") or diag explain $all;
	is($r->{headers}{connection}, 'close', "$what: Connection: close");
	is($how, 'eof', "$what: meshd closed the connection");
	is($creq->() - $before, 0, "$what: nothing was sent to the backend");
	close $s;
}
unlike($t->log_text('app'), qr{ /bad-}, 'the backend logged none of the malformed requests');

# Line ends: a bare LF ends a line (RFC 9112 2.2 lets a recipient accept
# it), so a head with LF-only line ends is fine and goes on as CRLF.
{
	my $before = $creq->();
	$s = connect_to($h, $http);
	send_bytes($s, "GET /status/203 HTTP/1.1\nHost: x\nX-A: 1\nConnection: close\n\n");
	($all, $how) = read_to_eof($s);
	$r = parse_all($all);
	is($r->{status}, 203, 'bare LF line ends: forwarded and answered') or diag explain $all;
	is($r->{body}, "app\n", 'bare LF line ends: the backend\'s body');
	is($creq->() - $before, 1, 'bare LF line ends: the backend got the request');
	close $s;
}

#
# Hop-by-hop fields: neither Connection nor the fields it lists go on.
#

$s = connect_to($h, $hop);
send_bytes($s, "GET /x HTTP/1.1\r\nHost: h.example\r\nConnection: close, X-Drop\r\n"
    . "X-Drop: 1\r\nX-Keep: 2\r\n\r\n");
my $peer = raw_accept($raw{1});
ok($peer, 'hop-by-hop: meshd connected to the raw upstream');
my $got = $peer ? raw_read_head($peer) : '';
like($got, qr{\AGET /x HTTP/1\.1\r\n}, 'hop-by-hop: request line "GET /x HTTP/1.1"')
    or diag explain $got;
like($got, qr/^Host: h\.example\r$/m, 'hop-by-hop: Host kept');
like($got, qr/^X-Keep: 2\r$/m, 'hop-by-hop: an end-to-end field kept');
unlike($got, qr/^X-Drop:/mi, 'hop-by-hop: X-Drop (listed in Connection) removed');
unlike($got, qr/^Connection:/mi, 'hop-by-hop: Connection removed');
send_bytes($peer, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n") if $peer;
($all, $how) = read_to_eof($s);
$r = parse_all($all);
is($r->{status}, 200, 'hop-by-hop: the raw upstream\'s 200 reaches the client');
is($r->{body}, "ok\n", 'hop-by-hop: with its body');
is($how, 'eof', 'hop-by-hop: the client\'s Connection: close is honoured');
close $s;
close $peer if $peer;

#
# Errors meshd makes itself.
#

my $fail = sub { $m->('meshd_cluster_connect_failures_total{cluster="dead"}') };
my $f0 = $fail->();
$r = curl("http://$h:$down/");
is($r->{status}, 502, 'nobody listening upstream: 502');
is($r->{headers}{connection}, 'close', '502: Connection: close');
cmp_ok($fail->() - $f0, '>=', 1, 'connect failure counted');

$s = connect_to($h, $badresp);
send_bytes($s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
$peer = raw_accept($raw{2});
ok($peer, 'bad response: meshd connected to the raw upstream');
if ($peer) {
	raw_read_head($peer);
	send_bytes($peer, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    . "Transfer-Encoding: chunked\r\n\r\n");
}
($all, $how) = read_to_eof($s);
$r = parse_all($all);
is($r->{status}, 502, 'Content-Length with Transfer-Encoding from upstream: 502')
    or diag explain $all;
is($how, 'eof', 'bad response: the client connection is closed');
close $s;
close $peer if $peer;

$t->done_testing;
