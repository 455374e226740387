#!/usr/bin/perl
#
# harness.t: the test harness itself, t/lib/MeshTest.pm and t/lib/backend.pl.
# Needs no meshd: private addresses, free ports, real backends (plain,
# chained, failing, slow), keep-alive, pipelining and chunked bodies on a raw
# socket, idle connections beyond the worker pool, curl, run(), wait_for(),
# the metrics and log parsers, and that stop() leaves no process behind.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time);

use MeshTest qw(parse_metrics log_problems port_open);

my $t = MeshTest->new;

# Addresses and ports.

my ($ha, $hb, $hc) = map { $t->host($_) } 1 .. 3;
like($ha, qr/^127\.(\d+)\.(\d+)\.1\z/, 'host(1) is 127.a.b.1');
unlike($ha, qr/^127\.0\./, 'host() stays out of 127.0.0.0/16');
is(scalar(keys %{{ map { $_ => 1 } $ha, $hb, $hc }}), 3, 'hosts are distinct');
my @ports = map { $t->free_port($ha) } 1 .. 20;
is(scalar(keys %{{ map { $_ => 1 } @ports }}), 20, 'free_port never repeats itself');
ok(-d $t->dir, 'temp dir exists');
ok(-f $t->srcdir . '/t/lib/MeshTest.pm', 'srcdir is the repository root');
is($t->meshd_bin, $ENV{MESHD} // $t->srcdir . '/build/meshd', 'meshd_bin');

my $file = $t->write_file('sub/dir/f.txt', "hello\n");
is($file, $t->path('sub/dir/f.txt'), 'write_file returns the path');
is(MeshTest::slurp($file), "hello\n", 'write_file writes');

# Two backends on two addresses.

my ($pa, $pb) = ($t->free_port($ha), $t->free_port($hb));
$t->start_backend(name => 'alpha', listen => "$ha:$pa");
$t->start_backend(name => 'beta',  listen => "$hb:$pb");

for my $b (['alpha', "$ha:$pa"], ['beta', "$hb:$pb"]) {
	my ($name, $addr) = @$b;
	my $r = $t->http_get("http://$addr/some/path?q=1");
	is($r->{status}, 200, "$name: GET 200");
	is($r->{headers}{'x-backend'}, $name, "$name: X-Backend");
	is($r->{headers}{'content-type'}, 'text/plain', "$name: Content-Type");
	is($r->{content}, "$name\n", "$name: body");
}

my $r = $t->http_get("http://$ha:$pa/status/503");
is($r->{status}, 503, '/status/503 answers 503');
is($r->{headers}{'x-backend'}, 'alpha', '... from alpha');
$r = $t->http_request('HEAD', "http://$ha:$pa/");
is($r->{status}, 200, 'HEAD 200');
is($r->{headers}{'content-length'}, 6, 'HEAD has the GET Content-Length');
is($r->{content} // '', '', 'HEAD has no body');
$r = $t->http_post("http://$ha:$pa/upload", 'x' x 1000);
is($r->{content}, "alpha got 1000 bytes\n", 'POST: byte count');
$r = $t->http_request('PUT', "http://$hb:$pb/", content => '');
is($r->{content}, "beta got 0 bytes\n", 'PUT without a body');
$r = $t->http_get("http://$hb:$pb/", keep_alive => 1);
$r = $t->http_get("http://$hb:$pb/status/201", keep_alive => 1);
is($r->{status}, 201, 'keep-alive agent: second request');

# Chaining: gamma calls beta; delta calls a port nobody listens on.

my $pc = $t->free_port($hc);
$t->start_backend(name => 'gamma', listen => "$hc:$pc", call => "http://$hb:$pb/");
$r = $t->http_get("http://$hc:$pc/");
is($r->{status}, 200, 'gamma > beta: 200');
is($r->{content}, "gamma > beta\n", 'gamma > beta: body');
$r = $t->http_get("http://$hc:$pc/status/202");
is($r->{status}, 202, 'chained /status/202 keeps the status');

my ($pd, $dead) = ($t->free_port($hc), $t->free_port($hc));
$t->start_backend(name => 'delta', listen => "$hc:$pd", call => "http://$hc:$dead/");
$r = $t->http_get("http://$hc:$pd/");
is($r->{status}, 502, 'failed call: 502');
is($r->{content}, "delta > error 599\n", 'failed call: body');

# A raw connection: chunked POST, Content-Length POST, pipelined, then close.

my $s = IO::Socket::IP->new(PeerHost => $ha, PeerPort => $pa, Timeout => 5)
    or die "connect $ha:$pa: $@";
print {$s} "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    . "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    . "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my $all = read_until_eof($s, 5);
my @resp = split m{(?=HTTP/1\.1 )}, $all;
is(scalar @resp, 3, 'pipelined: three answers, then the server closed');
like($resp[0] // '', qr/\r\n\r\nalpha got 11 bytes\n\z/, 'chunked body counted');
like($resp[1] // '', qr/\r\n\r\nalpha got 3 bytes\n\z/, 'Content-Length body counted');
like($resp[2] // '', qr/^Connection: close\r$/m, 'Connection: close answered');
like($resp[2] // '', qr/\r\n\r\nalpha\n\z/, '... with the GET body');

$s = IO::Socket::IP->new(PeerHost => $ha, PeerPort => $pa, Timeout => 5)
    or die "connect $ha:$pa: $@";
print {$s} "GARBAGE\r\n\r\n";
like(read_until_eof($s, 5), qr{^HTTP/1\.1 400 }, 'malformed request: 400 and close');

# More idle keep-alive connections than workers do not starve a new client.

my @idle = map {
	IO::Socket::IP->new(PeerHost => $hb, PeerPort => $pb, Timeout => 5)
	    or die "connect $hb:$pb: $@"
} 1 .. 20;
my $t0 = time;
$r = $t->http_get("http://$hb:$pb/", timeout => 3);
is($r->{status}, 200, '20 idle connections (8 workers): a new client is served');
cmp_ok(time - $t0, '<', 2, '... promptly');
close $_ for @idle;

# Delays: /delay/MS and --delay hold an answer, not the worker; pipelined
# answers keep their order behind a delayed one.

my $pe = $t->free_port($hc);
$t->start_backend(name => 'slow', listen => "$hc:$pe", workers => 1,
    delay => 100, quiet => 1);
$t0 = time;
$s = IO::Socket::IP->new(PeerHost => $ha, PeerPort => $pa, Timeout => 5)
    or die "connect $ha:$pa: $@";
print {$s} "GET /delay/300 HTTP/1.1\r\nHost: a\r\n\r\n"
    . "GET /now HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
my $both = read_until_eof($s, 5);
cmp_ok(time - $t0, '>=', 0.3, '/delay/300 answers after 300 ms');
is(() = $both =~ m{^HTTP/1\.1 200 }mg, 2, '... and the request behind it after');
$t0 = time;
my $held = IO::Socket::IP->new(PeerHost => $hc, PeerPort => $pe, Timeout => 5)
    or die "connect $hc:$pe: $@";
print {$held} "GET /delay/500 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
$r = $t->http_get("http://$hc:$pe/");
my $took = time - $t0;
is($r->{content}, "slow\n", '--delay 100: answered');
cmp_ok($took, '>=', 0.1, '... after 100 ms');
cmp_ok($took, '<', 0.5, '... while its one worker holds a 600 ms answer');
like(read_until_eof($held, 5), qr/\r\n\r\nslow\n\z/, 'which comes too');
cmp_ok(time - $t0, '>=', 0.6, '... after 100 + 500 ms');

# curl: a large POST, with Expect: 100-continue.

subtest 'POST byte count with curl' => sub {
	my $curl = (grep { -x "$_/curl" } split /:/, $ENV{PATH} // '')[0];
	plan skip_all => 'no curl in PATH' unless defined $curl;
	my $body = $t->write_file('body.bin', 'y' x 200_000);
	my $c = $t->run({ timeout => 20 }, "$curl/curl", '-sS', '--noproxy', '*',
	    '-m', '10', '-H', 'Expect: 100-continue', '--data-binary', "\@$body",
	    "http://$ha:$pa/post");
	is($c->{code}, 0, 'curl exit 0') or diag($c->{err});
	is($c->{out}, "alpha got 200000 bytes\n", 'curl POST: byte count');
};

# run()

$r = $t->run($^X, '-e', 'print "out"; print STDERR "err"; exit 3');
is_deeply([ @$r{qw(out err code signal)} ], [ 'out', 'err', 3, 0 ], 'run: out, err, code');
$r = $t->run({ stdin => "abc\n" }, $^X, '-ne', 'print uc');
is($r->{out}, "ABC\n", 'run: stdin');
$t0 = time;
$r = $t->run({ timeout => 0.5 }, $^X, '-e', 'sleep 30');
ok($r->{timed_out}, 'run: timeout kills');
cmp_ok(time - $t0, '<', 5, '... in bounded time');
ok(!eval { $t->run('/nonexistent/command'); 1 }, 'run: a missing command dies');
like($@, qr/cannot start/, '... saying so');

# wait_for()

my $n = 0;
is($t->wait_for(sub { ++$n >= 3 ? 'yes' : 0 }, what => 'n to reach 3'), 'yes',
    'wait_for returns the true value');
ok(!eval { $t->wait_for(sub { die "nope\n" }, timeout => 0.2, what => 'never'); 1 },
    'wait_for dies on timeout');
like($@, qr/timed out after 0\.2s waiting for never \(last error: nope\)/, '... with what and the last error');

# A backend that cannot bind fails start_backend at once, with its log.

$t0 = time;
ok(!eval { $t->start_backend(name => 'clash', listen => "$hb:$pb"); 1 },
    'start_backend on a busy port dies');
like($@, qr/clash exited .*cannot listen/s, '... with the log tail');
cmp_ok(time - $t0, '<', 5, '... without waiting for the timeout');

# Parsers.

my $m = parse_metrics(<<'EOF');
# HELP meshd_info build
# TYPE meshd_info gauge
meshd_info{service="orders",version="0.1.0"} 1
meshd_config_generation 2
meshd_listener_responses_total{listener="inbound",class="2xx"} 17 1700000000000
meshd_endpoint_requests_total{cluster="payments",endpoint="127.0.1.1:7003"} 5
meshd_weird NaN
EOF
is($m->{meshd_config_generation}, 2, 'metrics: unlabelled');
is($m->{'meshd_info{service="orders",version="0.1.0"}'}, 1, 'metrics: labelled');
is($m->{'meshd_listener_responses_total{listener="inbound",class="2xx"}'}, 17, 'metrics: timestamp ignored');
is($m->{'meshd_endpoint_requests_total{cluster="payments",endpoint="127.0.1.1:7003"}'}, 5, 'metrics: colon in a label');
is($m->{meshd_weird}, 'NaN', 'metrics: NaN kept as text');
is(scalar keys %$m, 5, 'metrics: comments skipped');

is_deeply([ log_problems(<<'EOF') ], [
2026-11-22T09:00:00.123Z meshd[1]: notice: started
2026-11-22T09:00:00.123Z meshd[1]: alert: cannot bind
==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1
src/conn.c:12:5: runtime error: signed integer overflow
==1==ERROR: LeakSanitizer: detected memory leaks
2026-11-22T09:00:00.123Z meshd[1]: error: upstream reset
EOF
	'2026-11-22T09:00:00.123Z meshd[1]: alert: cannot bind',
	'==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1',
	'src/conn.c:12:5: runtime error: signed integer overflow',
	'==1==ERROR: LeakSanitizer: detected memory leaks',
], 'log_problems finds alerts and sanitizer reports only');

# stop(): the process, its workers and its pidfile are gone.

for my $name (qw(alpha beta gamma delta)) {
	my $pid = $t->pid($name);
	ok(-e $t->path("$name.pid"), "$name: pidfile written");
	is($t->stop($name), 0, "$name: exits 0 on TERM");
	ok(!kill(0, $pid), "$name: pid $pid is gone");
	ok(!kill(0, -$pid), "$name: its workers are gone");
	ok(!-e $t->path("$name.pid"), "$name: pidfile removed");
}
ok(!port_open($ha, $pa), 'alpha no longer accepts connections');
like($t->log_text('alpha'), qr/alpha: POST \/a 200 \(11 bytes in\)/, 'log_text: the access log');

$t->done_testing;

# Reads until the peer closes, at most $timeout seconds.
sub read_until_eof {
	my ($sock, $timeout) = @_;
	my $sel = IO::Select->new($sock);
	my $deadline = time + $timeout;
	my $buf = '';
	while ((my $left = $deadline - time) > 0) {
		last unless $sel->can_read($left);
		my $n = sysread($sock, $buf, 65536, length $buf);
		last unless $n;
	}
	return $buf;
}
