#!/usr/bin/perl
# The proxy engine against a real backend and real clients: HTTP/1.1
# keep-alive, pipelining, bodies both framings, HTTP/1.0, HEAD, what a
# malformed request gets (and that it never reaches the backend), hop-by-hop
# fields, errors meshd answers itself; protocol=tcp with half-close.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hb) = ($t->host(1), $t->host(2));
my $app = $t->free_port($hb);
$t->start_backend(name => 'app', listen => "$hb:$app", quiet => 1);

# A one-shot raw server: records the head it got, answers $answer.
my $raw_port = $t->free_port($hb);
my $raw = IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $raw_port,
    Listen => 5, ReuseAddr => 1) or die "raw server: $!";

my ($http, $tcp, $down, $rawl, $admin, $slow) = map { $t->free_port($h) } 1 .. 6;
my $dead = $t->free_port($hb);	# nobody listens there
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = proxy
admin = $h:$admin

[listener http]
address = $h:$http
protocol = http
cluster = app

[listener tcp]
address = $h:$tcp
protocol = tcp
cluster = app

[listener down]
address = $h:$down
protocol = http
cluster = dead

[listener raw]
address = $h:$rawl
protocol = http
cluster = raw
forwarded_for = on
via = on

[cluster app]
endpoint = $hb:$app

[cluster dead]
endpoint = $hb:$dead
connect_timeout = 2s

[listener slow]
address = $h:$slow
protocol = http
cluster = slow
client_timeout = 300ms

[cluster raw]
endpoint = $hb:$raw_port

[cluster slow]
endpoint = $hb:$raw_port
response_timeout = 300ms
EOF
$t->start_meshd(name => 'meshd', conf => $conf, host => $h, admin => "$h:$admin");
my $m = sub { $t->metrics("$h:$admin")->{$_[0]} // 0 };

sub connect_to {
	my ($port) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $port,
	    Timeout => 5) or die "connect $h:$port: $!";
	return $s;
}

# Reads one response with a Content-Length body; returns (head, body).
sub read_response {
	my ($s) = @_;
	my $head = '';
	local $/ = "\r\n";
	while (defined(my $l = <$s>)) {
		$head .= $l;
		last if $l eq "\r\n";
	}
	my ($len) = $head =~ /^Content-Length: (\d+)\r$/mi;
	my $body = '';
	read($s, $body, $len) if $len;
	return ($head, $body);
}

sub read_all {
	my ($s) = @_;
	local $/;
	my $all = <$s>;
	return $all // '';
}

# The raw upstream takes the connection meshd opened for the request just
# sent: (socket, the head it received).
sub upstream_head {
	my $peer = $raw->accept or die "accept: $!";
	my $head = '';
	while (defined(my $l = <$peer>)) { $head .= $l; last if $l eq "\r\n" }
	return ($peer, $head);
}

# Plain GET, statuses passed through and counted.
my $r = $t->http_get("http://$h:$http/");
is($r->{status}, 200, 'GET through the http listener');
is($r->{content}, "app\n", 'the backend answered');
is($r->{headers}{'x-backend'}, 'app', 'its header came through');
is($t->http_get("http://$h:$http/status/404")->{status}, 404, '404 passes through');
is($t->http_get("http://$h:$http/status/503")->{status}, 503, '503 passes through');
is($m->('meshd_listener_responses_total{listener="http",class="4xx"}'), 1, '4xx counted');
is($m->('meshd_listener_responses_total{listener="http",class="5xx"}'), 1, '5xx counted');

# Keep-alive: three requests, one connection.
my $conns = $m->('meshd_listener_connections_total{listener="http"}');
my $s = connect_to($http);
for my $i (1 .. 3) {
	print $s "GET /status/20$i HTTP/1.1\r\nHost: x\r\n\r\n";
	my ($head) = read_response($s);
	like($head, qr{^HTTP/1\.1 20$i }, "keep-alive request $i answered");
}
close $s;
is($m->('meshd_listener_connections_total{listener="http"}'), $conns + 1,
    'on one connection');

# The upstream side reuses its connections: twenty requests on new client
# connections, one after the other, open at most one upstream connection.
my $opened = $m->('meshd_cluster_connections_total{cluster="app"}');
for (1 .. 20) {
	my $c = connect_to($http);
	print $c "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	read_all($c);
}
cmp_ok($m->('meshd_cluster_connections_total{cluster="app"}') - $opened, '<=', 1,
    'twenty sequential requests reuse one pooled upstream connection');

# Pipelining: two requests in one write, answered in order.
$s = connect_to($http);
print $s "GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\n"
    . "GET /status/202 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my ($h1) = read_response($s);
my ($h2) = read_response($s);
like($h1, qr{^HTTP/1\.1 201 }, 'first pipelined response first');
like($h2, qr{^HTTP/1\.1 202 }, 'second pipelined response second');
like($h2, qr/^Connection: close\r$/mi, 'the last one says close');
is(read_all($s), '', 'and meshd closed the connection');
close $s;

# Bodies: 1 MiB with Content-Length and chunked.
my $big = $t->write_file('big', 'x' x 1048576);
for my $how (['content-length'], ['chunked', '-H', 'Transfer-Encoding: chunked']) {
	my ($name, @extra) = @$how;
	my $c = $t->run('curl', '-sS', '--data-binary', "\@$big", @extra,
	    "http://$h:$http/");
	is($c->{out}, "app got 1048576 bytes\n", "1 MiB $name body arrived whole")
	    or diag $c->{err};
}

# HTTP/1.0 without keep-alive: answered, then closed.
$s = connect_to($http);
print $s "GET / HTTP/1.0\r\n\r\n";
my $all = read_all($s);
like($all, qr{^HTTP/1\.1 200 .*\r\n\r\napp\n\z}s, 'HTTP/1.0 request answered and closed');

# A client that half-closes after its request still gets the answer,
# then the connection closes. (Whether the head says Connection: close
# depends on whether meshd saw the end of input before the answer came.)
$s = connect_to($http);
print $s "GET /status/202 HTTP/1.1\r\nHost: x\r\n\r\n";
shutdown($s, 1);
$all = read_all($s);
like($all, qr{^HTTP/1\.1 202 .*\r\n\r\napp\n\z}s,
    'half-closed client: answered whole, then closed');

# HEAD: no body.
$s = connect_to($http);
print $s "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
$all = read_all($s);
like($all, qr{^HTTP/1\.1 200 .*\r\n\r\n\z}s, 'HEAD: a head and no body');

# Malformed requests: the answer, the close, and nothing forwarded.
my @bad = (
	[ 'CL and TE', "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 'bad_request' ],
	[ 'two CL', "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, 'bad_request' ],
	[ 'space before colon', "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, 'bad_request' ],
	[ 'obs-fold', "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400, 'bad_request' ],
	[ 'no Host', "GET / HTTP/1.1\r\n\r\n", 400, 'bad_request' ],
	[ 'HTTP/0.9', "GET /\r\n\r\n", 400, 'bad_request' ],
	[ 'bare CR', "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400, 'bad_request' ],
	[ 'HTTP/2.0', "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, 'bad_version' ],
	[ 'unknown coding', "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501, 'unknown_coding' ],
	[ 'huge header', "GET / HTTP/1.1\r\nHost: x\r\nX-A: " . ('a' x 20000) . "\r\n\r\n", 431, 'header_too_large' ],
	[ 'huge request line', "GET /" . ('a' x 20000) . " HTTP/1.1\r\nHost: x\r\n\r\n", 414, 'uri_too_long' ],
	[ 'bad chunk size', "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, 'bad_body' ],
);
my $err = sub { $m->("meshd_listener_errors_total{listener=\"$_[0]\",cause=\"$_[1]\"}") };
for my $b (@bad) {
	my ($what, $bytes, $status, $cause) = @$b;
	my $before = $m->('meshd_cluster_requests_total{cluster="app"}');
	my $seen = $m->('meshd_listener_requests_total{listener="http"}');
	my $errs = $err->('http', $cause);
	$s = connect_to($http);
	print $s $bytes;
	$all = read_all($s);
	like($all, qr{^HTTP/1\.1 $status .*\r\nConnection: close\r\n}s,
	    "$what: $status and Connection: close");
	my $after = $m->('meshd_cluster_requests_total{cluster="app"}');
	if ($what eq 'bad chunk size') {
		# The head was fine and went on; the body broke on the way.
		is($after, $before + 1, "$what: the head had been forwarded");
	} else {
		is($after, $before, "$what: nothing reached the backend");
	}
	is($m->('meshd_listener_requests_total{listener="http"}'), $seen + 1,
	    "$what: counted on the listener");
	is($err->('http', $cause), $errs + 1, "$what: counted as cause $cause");
}

# Hop-by-hop fields stay behind; the head is HTTP/1.1 with Host kept.
$s = connect_to($rawl);
print $s "GET /x HTTP/1.1\r\nHost: h.example\r\nConnection: keep-alive, X-Drop\r\n"
    . "X-Drop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Keep: 2\r\n"
    . "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n";
my $client_ip = $s->sockhost;
my ($peer, $got) = upstream_head();
print $peer "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n\r\nok";
my ($rh, $rb) = read_response($s);
like($got, qr{^GET /x HTTP/1\.1\r\n}, 'request line forwarded');
like($got, qr/^Host: h\.example\r$/m, 'Host kept');
like($got, qr/^X-Keep: 2\r$/m, 'end-to-end field kept');
unlike($got, qr/^(?:Connection|X-Drop|Keep-Alive|TE):/mi, 'hop-by-hop fields removed');
is(join(',', $got =~ /^X-Forwarded-For: (\S+)\r$/mg), "192.0.2.7,$client_ip",
    'forwarded_for: the client address follows the ones the request had');
is(join(',', $got =~ /^X-Forwarded-Proto: (\S+)\r$/mg), 'http',
    'and X-Forwarded-Proto is meshd\'s, not the client\'s');
like($got, qr/^Via: 1\.1 meshd\r$/m, 'via: on the request');
is($rb, 'ok', 'response body');
unlike($rh, qr/^(?:X-Secret|Keep-Alive):/mi, 'hop-by-hop response fields removed');
like($rh, qr/^Via: 1\.1 meshd\r$/m, 'via: on the response');
close $s;
close $peer;

# An ambiguous response is a 502, never passed on.
$s = connect_to($rawl);
print $s "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
($peer) = upstream_head();
print $peer "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
($rh) = read_response($s);
like($rh, qr{^HTTP/1\.1 502 }, 'CL and TE from upstream: 502');
is($err->('raw', 'bad_response'), 1, 'counted as bad_response');
close $s;
close $peer;

# Upgrade (WebSocket): the request's Upgrade reaches the upstream, its 101
# comes back, and then bytes flow both ways as a tunnel.
$s = connect_to($rawl);
print $s "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Sec-WebSocket-Version: 13\r\n\r\n";
($peer, $got) = upstream_head();
like($got, qr/^Upgrade: websocket\r$/m, 'upgrade: Upgrade reaches the upstream');
like($got, qr/^Connection: upgrade\r$/mi, 'with Connection: upgrade');
like($got, qr/^Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r$/m, 'and the handshake fields');
print $peer "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
($rh) = read_response($s);
like($rh, qr{^HTTP/1\.1 101 }, 'upgrade: the client gets the 101');
like($rh, qr/^Upgrade: websocket\r$/m, 'with Upgrade');
like($rh, qr/^Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r$/m, 'and the accept key');
print $s "ping from client";
my $buf = '';
$peer->read($buf, 16);
is($buf, 'ping from client', 'tunnel: client bytes reach the upstream');
print $peer "pong from upstream";
$buf = '';
$s->read($buf, 18);
is($buf, 'pong from upstream', 'tunnel: upstream bytes reach the client');
close $peer;
is(read_all($s), '', 'tunnel: the upstream closing ends it');
close $s;

# Expect: 100-continue: the upstream's 100 reaches the client, which only
# then sends its body; the final answer follows.
$s = connect_to($rawl);
print $s "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
($peer, $got) = upstream_head();
like($got, qr/^Expect: 100-continue\r$/m, 'expect: the upstream sees Expect');
print $peer "HTTP/1.1 100 Continue\r\n\r\n";
my $cont = '';
while (defined(my $l = <$s>)) { $cont .= $l; last if $l eq "\r\n" }
like($cont, qr{^HTTP/1\.1 100 Continue\r\n\r\n\z}, 'expect: the client gets the 100');
print $s "hello";
$buf = '';
$peer->read($buf, 5);
is($buf, 'hello', 'expect: then the body goes through');
print $peer "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
($rh, $rb) = read_response($s);
like($rh, qr{^HTTP/1\.1 200 }, 'expect: the final answer follows');
is($rb, 'ok', 'with its body');
close $s;
close $peer;

# A 101 nobody asked for is a bad response.
$s = connect_to($rawl);
print $s "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
($peer) = upstream_head();
print $peer "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
($rh) = read_response($s);
like($rh, qr{^HTTP/1\.1 502 }, 'an unasked 101: 502');
close $s;
close $peer;

# Timeouts: an upstream that never answers gets 504 after
# response_timeout; a client that never finishes its head gets 408 after
# client_timeout. Both bounded well under the 5 s the socket waits.
$s = connect_to($slow);
print $s "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
($peer) = upstream_head();
my $t0 = time;
($rh) = read_response($s);
like($rh, qr{^HTTP/1\.1 504 }, 'a silent upstream: 504');
cmp_ok(time - $t0, '<=', 3, 'after response_timeout, not the default 60 s');
is($err->('slow', 'response_timeout'), 1, 'counted as response_timeout');
close $s;
close $peer;
$s = connect_to($slow);
print $s "GET / HTTP/1.1\r\nHost: x\r\n";
$t0 = time;
$all = read_all($s);
like($all, qr{^HTTP/1\.1 408 .*Connection: close}s, 'an unfinished head: 408');
cmp_ok(time - $t0, '<=', 3, 'after client_timeout');
is($err->('slow', 'client_timeout'), 1, 'counted as client_timeout');
close $s;
$s = connect_to($slow);
$t0 = time;
is(read_all($s), '', 'an idle connection is closed without a word');
cmp_ok(time - $t0, '<=', 3, 'after client_timeout');
close $s;

# Nobody listening: 502 and a connect failure counted.
$r = $t->http_get("http://$h:$down/");
is($r->{status}, 502, 'refused upstream: 502');
is($m->('meshd_cluster_connect_failures_total{cluster="dead"}'), 2,
    'connect failures counted: the try and its one retry by default');
is($m->('meshd_cluster_retries_total{cluster="dead"}'), 1, 'the retry counted');
is($err->('down', 'connect_failed'), 1, 'and the 502 as cause connect_failed');

# Fifty clients at once keep about fifty upstream connections, not a new
# one per request.
SKIP: {
	skip 'wrk is not installed', 2 unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};
	my $before = $m->('meshd_cluster_connections_total{cluster="app"}');
	my $reqs = $m->('meshd_cluster_requests_total{cluster="app"}');
	my $w = $t->run({ timeout => 30 }, 'wrk', '-t', '1', '-c', '50', '-d', '2s',
	    "http://$h:$http/");
	my $sent = $m->('meshd_cluster_requests_total{cluster="app"}') - $reqs;
	cmp_ok($sent, '>', 500, "wrk sent $sent requests");
	cmp_ok($m->('meshd_cluster_connections_total{cluster="app"}') - $before,
	    '<=', 60, 'over at most 60 new upstream connections');
}

# protocol=tcp: bytes both ways, big bodies, half-close.
$s = connect_to($tcp);
print $s "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
shutdown($s, 1);
$all = read_all($s);
like($all, qr{^HTTP/1\.1 200 .*\r\n\r\napp\n\z}s,
    'tcp: the answer arrives after the client half-closed');
my $c = $t->run('curl', '-sS', '--data-binary', "\@$big", "http://$h:$tcp/");
is($c->{out}, "app got 1048576 bytes\n", 'tcp: 1 MiB through') or diag $c->{err};
is($m->('meshd_listener_connections_total{listener="tcp"}'), 2, 'tcp: connections counted');

# /clusters: each endpoint's state. A request held by the raw upstream is
# in flight there until answered; then its response time is the estimate.
my $clusters = sub { $t->http_get("http://$h:$admin/clusters")->{content} };
my $ep = qr/^  endpoint \Q$hb:$raw_port\E weight=1 active=(\d+) requests=(\d+) latency_ms=([\d.]+) ejections=0$/m;
like($clusters->(), qr/^cluster raw lb=round_robin static endpoints=1$/m,
    '/clusters lists the cluster');
my ($before) = $clusters->() =~ $ep;
is($before, 0, 'nothing in flight at the raw upstream');
my $held = connect_to($rawl);
print $held "GET /held HTTP/1.1\r\nHost: x\r\n\r\n";
my ($held_up) = upstream_head();
$t->wait_for(sub { ($clusters->() =~ $ep)[0] == 1 },
    what => '/clusters to show the request in flight');
is($m->("meshd_endpoint_active_requests{cluster=\"raw\",endpoint=\"$hb:$raw_port\"}"),
    1, 'and so does /metrics');
print $held_up "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
close $held_up;
my ($held_head) = read_response($held);
like($held_head, qr{^HTTP/1\.1 200 }, 'the held request is answered');
# The worker lets go of it just after the last byte went out: wait.
$t->wait_for(sub { ($clusters->() =~ $ep)[0] == 0 },
    what => 'the request to leave the endpoint');
my ($active, $reqs, $lat) = $clusters->() =~ $ep;
is($active, 0, 'no longer in flight');
cmp_ok($lat, ">", 0, "its response time is the latency estimate ($lat ms)") or diag $clusters->();
close $held;

$t->done_testing;
