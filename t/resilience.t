#!/usr/bin/perl
# Failure handling with real backends: retries (on another instance, on
# a failing status, after a per-try timeout, never for a POST unless told,
# within a budget), passive outlier detection (ejection and return),
# circuit breaking (fast 503s over each limit), and one of three backends
# killed under load with wrk: no failed GET.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use Socket qw(PF_INET SOCK_STREAM inet_aton pack_sockaddr_in);
use Time::HiRes qw(time);
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
for my $bin (qw(wrk)) {
	plan skip_all => "$bin is not installed (./bootstrap installs it)"
	    unless grep { -x "$_/$bin" } split /:/, $ENV{PATH};
}
my ($h, $ha, $hb, $hc, $hbad, $hhang) = map { $t->host($_) } 1 .. 6;
my $port = $t->free_port($ha);
$t->start_backend(name => 'a', listen => "$ha:$port", quiet => 1);
$t->start_backend(name => 'b', listen => "$hb:$port", quiet => 1);
my $c_pid = $t->start_backend(name => 'c', listen => "$hc:$port", quiet => 1);
$t->start_backend(name => 'bad', listen => "$hbad:$port", quiet => 1,
    status => 503);
$t->start_backend(name => 'hang', listen => "$hhang:$port", quiet => 1,
    hang => 1);

# A listener whose accept queue is full: connects to it hang in SYN_SENT.
my $bh_port = $t->free_port($hb);
socket(my $bh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
bind($bh, pack_sockaddr_in($bh_port, inet_aton($hb))) or die "bind: $!";
listen($bh, 0) or die "listen: $!";
my @fillers;
for (1 .. 2) {
	socket(my $f, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
	$f->blocking(0);
	connect($f, pack_sockaddr_in($bh_port, inet_aton($hb)));
	push @fillers, $f;
}

my $dead = $t->free_port($hb);	# nobody listens there
my %l = map { $_ => $t->free_port($h) }
    qw(kill status hang budget eject reqs conns pend late admin);
my $admin = "$h:$l{admin}";
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = client
admin = $admin
workers = 1

[listener kill]
address = $h:$l{kill}
protocol = http
cluster = kill

[cluster kill]
endpoint = $ha:$port
endpoint = $hb:$port
endpoint = $hc:$port
retries = 2
retry_on = connect-failure, reset
outlier_consecutive_gateway_errors = 3
ejection_time = 300ms
max_ejected_percent = 34
retry_budget_min = 1000

[listener status]
address = $h:$l{status}
protocol = http
cluster = status

[cluster status]
endpoint = $ha:$port
endpoint = $hbad:$port
retry_on = 503
retry_backoff = off

[listener hang]
address = $h:$l{hang}
protocol = http
cluster = hang

[cluster hang]
endpoint = $hhang:$port
endpoint = $ha:$port
retry_on = gateway-error
per_try_timeout = 200ms
response_timeout = 5s

[listener budget]
address = $h:$l{budget}
protocol = http
cluster = budget

[cluster budget]
endpoint = $hbad:$port
retries = 3
retry_on = 5xx
retry_backoff = off
retry_budget = 0
retry_budget_min = 1

[listener eject]
address = $h:$l{eject}
protocol = http
cluster = eject

[cluster eject]
endpoint = $ha:$port
endpoint = $hbad:$port
retries = 0
outlier_consecutive_5xx = 2
max_ejected_percent = 50

[listener late]
address = $h:$l{late}
protocol = http
cluster = late

[cluster late]
endpoint = $hb:$dead
retries = 3
retry_backoff = 1s
request_timeout = 150ms

[listener reqs]
address = $h:$l{reqs}
protocol = http
cluster = reqs

[cluster reqs]
endpoint = $hhang:$port
max_requests = 2
response_timeout = 1s

[listener conns]
address = $h:$l{conns}
protocol = http
cluster = conns

[cluster conns]
endpoint = $hhang:$port
max_connections = 1

[listener pend]
address = $h:$l{pend}
protocol = http
cluster = pend

[cluster pend]
endpoint = $hb:$bh_port
max_pending = 1
connect_timeout = 10s
EOF
$t->start_meshd(name => 'meshd', conf => $conf, host => $h, admin => $admin);
my $m = sub { $t->metrics($admin)->{$_[0]} // 0 };
my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 10);

# $n requests: { "STATUS BODY" => count }.
sub tally {
	my ($method, $listener, $n) = @_;
	my %seen;
	for (1 .. $n) {
		my $r = $ua->request($method, "http://$h:$l{$listener}/");
		(my $body = $r->{content} // '') =~ s/\s.*//s;
		$seen{"$r->{status} $body"}++;
	}
	return \%seen;
}

# A failing status, retried on the other instance; POST is not retried.
is_deeply(tally('GET', 'status', 20), { '200 a' => 20 },
    'retry_on = 503: every GET answered by a');
# One worker's round robin: a, then bad for every later first try, as
# each retry takes a's turn.
my $retries = $m->('meshd_cluster_retries_total{cluster="status"}');
is($retries, 19, 'the 19 first tries that went to bad were retried');
my $posts = tally('POST', 'status', 10);
is($posts->{'503 bad'}, 5, 'a POST is not retried: bad answers 5 of 10');
is($m->('meshd_cluster_retries_total{cluster="status"}'), $retries,
    'and no retry was counted for them');

# A hanging instance: the try times out after per_try_timeout, the retry
# goes to a (round robin starts every request on hang, as above).
my $t0 = time;
is_deeply(tally('GET', 'hang', 4), { '200 a' => 4 },
    'per_try_timeout: all answered by a');
my $took = time - $t0;
cmp_ok($took, '>=', 0.8, sprintf('each waited out 200 ms first (%.2f s)', $took));
cmp_ok($took, '<', 3, 'not response_timeout (5 s)');
is($m->('meshd_cluster_retries_total{cluster="hang"}'), 4, 'four retries');

# The budget: 0% of requests plus 1 a second over 10 s: 10 retries, then
# the rest are refused and bad's 503 is the answer.
is_deeply(tally('GET', 'budget', 20), { '503 bad' => 20 },
    'a cluster with no good instance answers its 503');
is($m->('meshd_cluster_retries_total{cluster="budget"}'), 10,
    'retries stop at the budget (retry_budget_min = 1 over 10 s)');
# 3 requests retried 3 times, the 4th once, then each refused once.
is($m->('meshd_cluster_retry_budget_exhausted_total{cluster="budget"}'),
    17, 'the refused ones are counted');

# Outlier detection: two 503s in a row eject bad; then a answers all.
my $seen = tally('GET', 'eject', 20);
is($seen->{'503 bad'}, 2, 'bad answered twice');
is($seen->{'200 a'}, 18, 'then was ejected: a answered the rest');
is($m->("meshd_endpoint_ejections_total{cluster=\"eject\",endpoint=\"$hbad:$port\"}"),
    1, 'one ejection counted');
is($m->('meshd_cluster_ejected_endpoints{cluster="eject"}'), 1, 'one ejected now');
like($t->http_get("http://$admin/clusters")->{content},
    qr/^  endpoint \Q$hbad:$port\E .* ejections=1 ejected_ms=\d+$/m,
    '/clusters shows it ejected');

# Circuit breaking: requests held by the hanging backend fill a limit;
# the next get 503 at once, saying which limit.
sub hold {
	my ($listener) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $l{$listener},
	    Timeout => 5) or die "connect: $!";
	print $s "GET /held HTTP/1.1\r\nHost: x\r\n\r\n";
	return $s;
}
sub active {
	my ($cluster, $ep) = @_;
	return $m->("meshd_endpoint_active_requests{cluster=\"$cluster\",endpoint=\"$ep\"}");
}
sub overloaded {
	my ($listener, $limit, $n) = @_;
	my $ok = 0;
	my $t0 = time;
	for (1 .. $n) {
		my $r = $ua->get("http://$h:$l{$listener}/");
		$ok++ if $r->{status} == 503 &&
		    ($r->{headers}{'meshd-overload'} // '') eq $limit;
	}
	is($ok, $n, "$listener: $n times 503 with Meshd-Overload: $limit");
	cmp_ok(time - $t0, '<', 2, '... at once');
}
my @held = (hold('reqs'), hold('reqs'));
$t->wait_for(sub { active('reqs', "$hhang:$port") == 2 },
    what => 'two requests held');
overloaded('reqs', 'max_requests', 5);
is($m->('meshd_cluster_overload_total{cluster="reqs",limit="max_requests"}'), 5,
    'counted for the cluster and limit');
is($m->('meshd_listener_errors_total{listener="reqs",cause="overload"}'), 5,
    'and as the listener\'s answers');
# A client that closes still waits for its answer (a half-close is no
# abort): the held ones end at response_timeout, 1 s.
$t->wait_for(sub { active('reqs', "$hhang:$port") == 0 },
    what => 'the held requests to time out');
my $r = HTTP::Tiny->new(timeout => 0.3)->get("http://$h:$l{reqs}/");
is($r->{status}, 599, 'under the limit again: the next is let through (and hangs)');
close $_ for @held;

@held = (hold('conns'));
$t->wait_for(sub { active('conns', "$hhang:$port") == 1 },
    what => 'a request holding the one connection');
overloaded('conns', 'max_connections', 3);
close $held[0];

@held = (hold('pend'));
$t->wait_for(sub { active('pend', "$hb:$bh_port") == 1 },
    what => 'a connection pending');
overloaded('pend', 'max_pending', 3);
close $held[0];

# request_timeout ends a request whose retry waits out its backoff: the
# retry must not happen after the answer. (The one wait here is for the
# longest backoff to pass, to see that nothing happens.)
# The client holds its end open, as meshd lingers on it.
my $late = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $l{late},
    Timeout => 5) or die "connect: $!";
print $late "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
like(scalar <$late>, qr{^HTTP/1\.1 504 }, 'request_timeout during a retry\'s backoff: 504');
my $failed = $m->('meshd_cluster_connect_failures_total{cluster="late"}');
select undef, undef, undef, 2.2;	# the longest backoff, twice
close $late;
is($m->('meshd_cluster_connect_failures_total{cluster="late"}'), $failed,
    'no retry after the answer');
ok($t->alive('meshd'), 'meshd lives on');

# One of three killed under load (wrk, 20 connections): no GET fails.
# The kill and the restart are timed by what /metrics shows, not by sleeps.
my $ep = sub { $m->("meshd_endpoint_requests_total{cluster=\"kill\",endpoint=\"$_[0]:$port\"}") };
my $out = $t->path('wrk.out');
my $wrk = $t->spawn(name => 'wrk', log => 'wrk.out', cmd => ['wrk', '-t', '1',
    '-c', '20', '-d', '60s', "http://$h:$l{kill}/"]);
$t->wait_for(sub { $ep->($hc) > 200 }, what => 'load to reach c');
$t->stop('c', signal => 'KILL');
my $at_kill = $ep->($hc);
$t->wait_for(sub { $ep->($ha) > $at_kill + 500 && $ep->($hb) > $at_kill + 500 },
    what => 'load to go on without c');
cmp_ok($m->("meshd_endpoint_ejections_total{cluster=\"kill\",endpoint=\"$hc:$port\"}"),
    '>=', 1, 'c was ejected');
$t->start_backend(name => 'c', listen => "$hc:$port", quiet => 1);
my $back = $ep->($hc);
$t->wait_for(sub { $ep->($hc) > $back + 200 }, timeout => 20,
    what => 'traffic to return to c');
pass('traffic returned to c once it was back');
$t->signal('wrk', 'INT');
$t->wait_exit('wrk');
my $report = MeshTest::slurp($out);
my ($n) = $report =~ /(\d+) requests in/;
cmp_ok($n // 0, '>', 1000, "wrk made $n requests");
unlike($report, qr/Non-2xx|Socket errors/, 'none failed: no non-2xx, no socket errors')
    or diag $report;
cmp_ok($m->('meshd_cluster_retries_total{cluster="kill"}'), '>', 0,
    'retries hid the failures');

$t->done_testing;
