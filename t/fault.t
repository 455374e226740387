#!/usr/bin/perl
# Fault injection and local rate limits, with real backends and clients.
# A route's fault_delay holds a request on a timer: it reaches a raw
# upstream no earlier than the delay (monotonic clock), its body stays
# unread in the kernel meanwhile (backpressure), and the worker serves
# others in the meantime. fault_abort answers without the backend seeing
# anything, at 100% and at 50% over 1000 requests. A listener's rate_limit
# shared by two workers lets at most burst + rate x elapsed through and
# answers the rest 429, counted; a route's has its own bucket; a tcp
# listener closes the connections over its limit at accept; a bucket
# outlives a reload. meshd -t reports bad values and keys that do nothing.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use HTTP::Tiny;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use MeshSock;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hb) = ($t->host(1), $t->host(2));
my $bport = $t->free_port($hb);
$t->start_backend(name => 'b', listen => "$hb:$bport");

# What the backend got: its log has a line per request.
sub seen {
	my ($path) = @_;
	my @l = MeshTest::slurp($t->log_path('b')) =~ m{ \w+ \Q$path\E(?:\?\S*)? \d{3} }g;
	return scalar @l;
}

sub now { clock_gettime(CLOCK_MONOTONIC) }

# A raw upstream, to see when a request arrives.
my $raw_port = $t->free_port($hb);
my $raw = IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $raw_port,
    Listen => 5, ReuseAddr => 1) or die "raw: $!";

# One sidecar with one worker for the faults (a held request must not
# hold the worker), one with two for the rate limits (one bucket between
# them).
my ($app, $admin) = map { $t->free_port($h) } 1 .. 2;
# The [meshd] section of a sidecar with that admin port and workers.
sub meshd_section {
	my ($port, $workers) = @_;
	return "[meshd]\nservice = client\nadmin = $h:$port\nworkers = $workers\n";
}

my $fconf = $t->write_file('faults.conf', meshd_section($admin, 1) . <<"EOF");

[listener app]
address = $h:$app
cluster = b

[cluster b]
endpoint = $hb:$bport

[cluster raw]
endpoint = $hb:$raw_port

[route slow]
listener = app
path = /slow
fault_delay = 600ms
cluster = raw

[route held]
listener = app
path = /held
fault_delay = 3s
cluster = b

[route never]
listener = app
path = /never
fault_delay = 5s
fault_delay_percent = 0
cluster = b

[route abort]
listener = app
path = /abort
fault_abort = 503
cluster = b

[route half]
listener = app
path = /half
fault_abort = 500
fault_abort_percent = 50
cluster = b

[route both]
listener = app
path = /both
fault_delay = 200ms
fault_abort = 418
cluster = b
EOF
my $r = $t->run($t->meshd_bin, '-t', '-c', $fconf);
is($r->{code}, 0, 'meshd -t accepts the faults') or diag $r->{err};
$t->start_meshd(name => 'faults', conf => $fconf, host => $h,
    admin => "$h:$admin");
my $fa = "$h:$admin";

# Delay: the request reaches the upstream 600 ms after it was sent, or
# later; the answer comes back.
{
	my $c = connect_to($h, $app);
	my $t0 = now();
	send_bytes($c, "GET /slow/x HTTP/1.1\r\nHost: a\r\n\r\n");
	my $up = raw_accept($raw);
	ok($up, 'the delayed request reaches the upstream');
	my $head = $up ? raw_read_head($up) : '';
	my $took = now() - $t0;
	like($head, qr{^GET /slow/x HTTP/1\.1\r\n}, '... whole');
	cmp_ok($took, '>=', 0.6, sprintf('... no earlier than the delay (%.3f s)', $took));
	cmp_ok($took, '<', 3.6, '... nor much later');
	print $up "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n" if $up;
	my $res = read_response($c);
	is($res->{status}, 200, '... and its answer comes back');
	close $up if $up;
	close $c;
}
is($t->metric($fa, 'meshd_route_faults_total{listener="app",route="slow",fault="delay"}'),
    1, 'the delay is counted');

# A held request's body stays in the kernel, unread, while the worker
# answers others; then it goes on whole. The head goes first, alone, so
# that the body comes once the request is held.
{
	my $body = 'x' x 32768;
	my $c = connect_to($h, $app);
	my $t0 = now();
	send_bytes($c, "POST /held HTTP/1.1\r\nHost: a\r\nContent-Length: "
	    . length($body) . "\r\n\r\n");
	$t->wait_metric($fa, 'meshd_route_faults_total{listener="app",route="held",fault="delay"}', 1);
	send_bytes($c, $body);
	my $unread = eval {
		$t->wait_for(sub { recv_queue($h, $app, $c->sockport) >= length $body },
		    timeout => 2, what => 'the body in the receive queue');
	};
	ok($unread, 'the body is not read while the request is held')
	    or diag $@;
	my $ua = HTTP::Tiny->new(timeout => 5);
	my $other = $ua->get("http://$h:$app/other");
	is($other->{status}, 200, 'another request is answered meanwhile');
	cmp_ok(now() - $t0, '<', 2.5, '... before the held one is let go');
	my $res = read_response($c);
	is($res->{status}, 200, 'the held request goes on');
	is($res->{body}, "b got 32768 bytes\n", '... with its whole body');
	cmp_ok(now() - $t0, '>=', 2.9, '... after its delay');
	close $c;
}

# The bytes the kernel holds for meshd on its side of a connection, from
# /proc/net/tcp (addresses in hex, the IPv4 address little-endian).
sub recv_queue {
	my ($ip, $port, $peer_port) = @_;
	my $local = sprintf '%08X:%04X', unpack('V', pack 'C4', split /\./, $ip),
	    $port;
	open my $fh, '<', '/proc/net/tcp' or die "/proc/net/tcp: $!";
	while (<$fh>) {
		my @f = split;
		next unless $f[1] eq $local && $f[2] =~ /:(\w{4})\z/
		    && hex($1) == $peer_port;
		return hex((split /:/, $f[4])[1]);
	}
	return 0;
}

my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 5);
my $t0 = now();
my $res = $ua->get("http://$h:$app/never");
is($res->{status}, 200, 'fault_delay_percent = 0: never delayed');
cmp_ok(now() - $t0, '<', 2, '... not by 5 s');

# Abort, every time: meshd answers, the backend sees nothing.
my %st;
for (1 .. 100) {
	my $res = $ua->get("http://$h:$app/abort");
	$st{$res->{status}}++;
	$st{field}++ if ($res->{headers}{'meshd-fault'} // '') eq 'abort';
}
is_deeply(\%st, { 503 => 100, field => 100 }, 'fault_abort = 503: 100 of 100, with Meshd-Fault: abort');
is(seen('/abort'), 0, 'the backend saw none of them');
my $m = $t->metrics($fa);
is($m->{'meshd_route_faults_total{listener="app",route="abort",fault="abort"}'}, 100,
    'aborts counted per route');
is($m->{'meshd_route_requests_total{listener="app",route="abort"}'}, 100,
    '... as are the requests it matched');
is($m->{'meshd_listener_errors_total{listener="app",cause="fault_abort"}'}, 100,
    '... and per listener, by cause');

# Half of 1000: within 8 points of 500 (5 standard deviations), and the
# backend got exactly the others.
%st = ();
$st{ $ua->get("http://$h:$app/half")->{status} }++ for 1 .. 1000;
my $aborted = $st{500} // 0;
cmp_ok(abs($aborted - 500), '<=', 80, "fault_abort_percent = 50: $aborted of 1000 aborted");
is(($st{200} // 0) + $aborted, 1000, '... the others answered');
$t->wait_for(sub { seen('/half') == ($st{200} // 0) }, timeout => 5,
    what => 'the backend log');
is(seen('/half'), $st{200} // 0, '... by the backend, which saw nothing of the aborted');

# Both: delayed, then aborted.
$t0 = now();
$res = $ua->get("http://$h:$app/both");
is($res->{status}, 418, 'a delay then an abort');
cmp_ok(now() - $t0, '>=', 0.2, '... after the delay');
is(seen('/both'), 0, '... never sent on');

# Rate limits, over two workers.
my ($lim, $route_l, $tcp, $admin2) = map { $t->free_port($h) } 1 .. 4;
my $lconf = $t->write_file('limits.conf', meshd_section($admin2, 2) . <<"EOF");

[listener limited]
address = $h:$lim
cluster = lb
rate_limit = 10/s
rate_limit_burst = 20

[listener routes]
address = $h:$route_l
cluster = lb

[listener tcp]
address = $h:$tcp
protocol = tcp
cluster = tcp
rate_limit = 1/m
rate_limit_burst = 2

[cluster lb]
endpoint = $hb:$bport

[cluster tcp]
endpoint = $hb:$bport

[route few]
listener = routes
path = /few
rate_limit = 3/m
cluster = lb
EOF
$r = $t->run($t->meshd_bin, '-t', '-c', $lconf);
is($r->{code}, 0, 'meshd -t accepts the rate limits') or diag $r->{err};
$t->start_meshd(name => 'limits', conf => $lconf, host => $h,
    admin => "$h:$admin2");
my $la = "$h:$admin2";

# 200 requests as fast as they go over 8 connections (spread over both
# workers by the kernel): the burst and the rate's share of the time
# taken go through, the others get 429.
my @ua = map { HTTP::Tiny->new(keep_alive => 1, timeout => 5) } 1 .. 8;
my (%lim, $bad429);
$t0 = now();
for my $i (0 .. 199) {
	my $res = $ua[$i % 8]->get("http://$h:$lim/limited");
	$lim{ $res->{status} }++;
	next unless $res->{status} == 429;
	$bad429++ unless ($res->{headers}{'meshd-rate-limited'} // '') eq 'listener'
	    && ($res->{headers}{'retry-after'} // '') eq '1'
	    && $res->{content} eq "Too Many Requests\n";
}
my $elapsed = now() - $t0;
my $passed = $lim{200} // 0;
cmp_ok($passed, '>=', 20, "the burst goes through ($passed of 200 in ${\ sprintf '%.2f', $elapsed} s)");
cmp_ok($passed, '<=', 20 + int(10 * $elapsed) + 1, '... and no more than the rate adds');
is($passed + ($lim{429} // 0), 200, '... the rest answered 429');
ok(!$bad429, '... with Meshd-Rate-Limited: listener, Retry-After and a short body');
$m = $t->metrics($la);
is($m->{'meshd_listener_errors_total{listener="limited",cause="rate_limited"}'},
    $lim{429}, '429s counted by cause');
is($m->{'meshd_cluster_requests_total{cluster="lb"}'}, $passed,
    'only the admitted reached the cluster');

# A route's own bucket: 3 a minute, so a burst of 3.
my @few = map { $ua->get("http://$h:$route_l/few")->{status} } 1 .. 5;
is("@few", '200 200 200 429 429', 'a route\'s rate_limit: burst 3, then 429');
my $res429 = $ua->get("http://$h:$route_l/few");
is($res429->{headers}{'meshd-rate-limited'}, 'route', '... saying it was the route\'s');
cmp_ok($res429->{headers}{'retry-after'}, '>', 1, '... and when to come back');
is($ua->get("http://$h:$route_l/other")->{status}, 200, '... other paths are not limited');
$m = $t->metrics($la);
is($m->{'meshd_route_rate_limited_total{listener="routes",route="few"}'}, 3,
    'counted per route');
# The bucket is the route's across a reload: still empty after it.
$t->reload('limits');
$t->wait_generation($la, 2);
is($ua->get("http://$h:$route_l/few")->{status}, 429,
    '... and stays empty across a reload');

# tcp: two connections get through, the third is closed at accept.
my @conns = map { connect_to($h, $tcp) } 1 .. 2;
for my $i (0, 1) {
	send_bytes($conns[$i], "GET /tcp$i HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	my ($all) = read_to_eof($conns[$i]);
	like($all, qr{^HTTP/1\.1 200 .*\r\n\r\nb\n\z}s, "tcp connection $i goes through");
}
my $third = connect_to($h, $tcp);
send_bytes($third, "GET /tcp2 HTTP/1.1\r\nHost: a\r\n\r\n");
my ($all, $how) = read_to_eof($third);
is($all, '', 'the third is closed without a byte');
isnt($how, 'timeout', '... at once');
$m = $t->metrics($la);
is($m->{'meshd_listener_errors_total{listener="tcp",cause="rate_limited"}'}, 1,
    '... counted');
is($m->{'meshd_cluster_requests_total{cluster="tcp"}'}, 2, '... never sent on');
is(seen('/tcp2'), 0, '... the backend saw nothing of it');

# Errors and warnings, each with its line: meshd -t on a file with a
# listener and a route, these keys added to each.
sub meshd_t {
	my ($name, $listener_keys, $route_keys) = @_;
	my $f = $t->write_file($name, <<"EOF" . $route_keys);
[meshd]
service = client
admin = $h:$admin

[listener app]
address = $h:$app
cluster = b
$listener_keys
[cluster b]
endpoint = $hb:$bport

[route a]
listener = app
cluster = b
EOF
	return $t->run($t->meshd_bin, '-t', '-c', $f);
}

$r = meshd_t('bad.conf', "rate_limit = 10/h\nrate_limit_burst = 0\n", <<'EOF');
fault_delay = 0s
fault_delay_percent = 100.5
fault_abort = 200
fault_abort_percent = 50%
EOF
is($r->{code}, 1, 'meshd -t rejects bad values');
like($r->{err}, qr/bad\.conf:8: error: bad value "10\/h" for "rate_limit": expected a rate such as 100\/s or 600\/m \(1 to 1000000 a second or a minute\), or off \[bad-value\]/,
    'a rate of another unit');
like($r->{err}, qr/bad\.conf:9: error: bad value "0" for "rate_limit_burst": expected a whole number from 1 to 1000000 \[bad-value\]/,
    'a burst of 0');
like($r->{err}, qr/bad\.conf:17: error: bad value "0s" for "fault_delay": a timeout must be longer than 0 \(or off\) \[bad-value\]/,
    'a delay of 0');
like($r->{err}, qr/bad\.conf:18: error: bad value "100\.5" for "fault_delay_percent": expected a percentage from 0 to 100, with at most three decimals \(e\.g\. 5, 0\.1\) \[bad-value\]/,
    'a percent over 100');
like($r->{err}, qr/bad\.conf:19: error: bad value "200" for "fault_abort": expected a number from 400 to 599, or off \[bad-value\]/,
    'an abort that is no error status');
like($r->{err}, qr/bad\.conf:20: error: bad value "50%" for "fault_abort_percent"/,
    'a percent with a sign');

$r = meshd_t('warn.conf', "rate_limit_burst = 5\n", <<'EOF');
fault_delay = off
fault_delay_percent = 10
fault_abort_percent = 10
rate_limit = off
rate_limit_burst = 5
EOF
is($r->{code}, 0, 'keys that do nothing are no error');
(my $warnings = $r->{err}) =~ s/^.*\/(?=warn\.conf:)//mg;
is(join('', grep { /warning/ } split /^/m, $warnings), <<'EOF', '... but each is warned of');
warn.conf:8: warning: listener "app" sets rate_limit_burst, but no rate_limit: ignored [unused-key]
warn.conf:17: warning: route "a" sets fault_delay_percent, but no fault_delay: ignored [unused-key]
warn.conf:18: warning: route "a" sets fault_abort_percent, but no fault_abort: ignored [unused-key]
warn.conf:20: warning: route "a" sets rate_limit_burst, but no rate_limit: ignored [unused-key]
EOF

$t->done_testing;
