#!/usr/bin/perl
# Active health checks with real backends: an http check that gets 503
# marks the endpoint unhealthy after unhealthy_threshold checks and
# traffic avoids it, and it takes traffic again after healthy_threshold
# passes once it answers well; a tcp check finds a port nobody listens
# on, an http check a backend that never answers (health_timeout); when
# every endpoint is unhealthy all take traffic; a reload and a registry
# update keep what the checks found; meshd -t refuses bad values.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $ha, $hb, $hdead, $hhang, $hc, $hd, $he) = map { $t->host($_) } 1 .. 8;
my $port = $t->free_port($ha);
my $dead_port = $t->free_port($hdead);	# nobody listens there
$t->start_backend(name => 'a', listen => "$ha:$port", quiet => 1);
$t->start_backend(name => 'b', listen => "$hb:$port", quiet => 1,
    status => 503);
$t->start_backend(name => 'c', listen => "$hc:$port", quiet => 1);
$t->start_backend(name => 'hang', listen => "$hhang:$port", quiet => 1,
    hang => 1);
$t->start_backend(name => "$_->[0]", listen => "$_->[1]:$port", quiet => 1,
    status => 503) for [ 'd', $hd ], [ 'e', $he ];

my %l = map { $_ => $t->free_port($h) } qw(web tcp hang all panic nopanic reg admin);
my $admin = "$h:$l{admin}";
my $reg = $t->path('registry.conf');

sub registry {
	my $text = '';
	for my $n (@_) {
		my $addr = { b => $hb, c => $hc }->{$n};
		$text .= "[/services/svc/instances/$n]\naddress = $addr\n"
		    . "port = $port\n\n";
	}
	$t->write_file('registry.tmp', $text);
	rename $t->path('registry.tmp'), $reg or die "rename: $!";
}

sub conf {
	my ($interval) = @_;
	return <<"EOF";
[meshd]
service = client
registry = registry.conf
admin = $admin
workers = 2

[listener web]
address = $h:$l{web}
protocol = http
cluster = web

[cluster web]
endpoint = $ha:$port
endpoint = $hb:$port
health_check = http /healthz
health_interval = $interval
health_timeout = 500ms
unhealthy_threshold = 3
healthy_threshold = 2
health_status = 200-299, 404
retries = 0

[listener tcp]
address = $h:$l{tcp}
protocol = tcp
cluster = tcp

[cluster tcp]
endpoint = $ha:$port
endpoint = $hdead:$dead_port
health_check = tcp
health_interval = 100ms
retries = 0

[listener hang]
address = $h:$l{hang}
protocol = http
cluster = hang

[cluster hang]
endpoint = $hhang:$port
health_check = http /
health_interval = 100ms
health_timeout = 200ms
health_jitter = off
unhealthy_threshold = 2

[listener all]
address = $h:$l{all}
protocol = http
cluster = all

[cluster all]
endpoint = $ha:$port
health_check = http /status/503
health_interval = 100ms
health_host = health.example:8080

[listener panic]
address = $h:$l{panic}
protocol = http
cluster = panic

[cluster panic]
endpoint = $ha:$port
endpoint = $hd:$port
endpoint = $he:$port
health_check = http /
health_interval = 100ms
retries = 0

[listener nopanic]
address = $h:$l{nopanic}
protocol = http
cluster = nopanic

[cluster nopanic]
endpoint = $ha:$port
endpoint = $hd:$port
endpoint = $he:$port
health_check = http /
health_interval = 100ms
panic_threshold = off
retries = 0

[listener reg]
address = $h:$l{reg}
protocol = http
cluster = reg

[cluster reg]
service = svc
health_check = http /
health_interval = 100ms
unhealthy_threshold = 2
retries = 0
EOF
}

registry('b', 'c');
my $conf = $t->write_file('meshd.conf', conf('100ms'));
$t->start_meshd(name => 'meshd', conf => $conf, host => $h, admin => $admin);

my $m = sub { $t->metrics($admin)->{$_[0]} };
my $ep = sub {
	my ($metric, $cluster, $endpoint, $extra) = @_;
	return "$metric\{cluster=\"$cluster\",endpoint=\"$endpoint\""
	    . ($extra // '') . '}';
};
my $healthy = sub { $ep->('meshd_endpoint_healthy', @_) };
my $checks = sub { $ep->('meshd_endpoint_health_checks_total', $_[0], $_[1],
    ",result=\"$_[2]\"") };
my $to = sub { $ep->('meshd_endpoint_health_transitions_total', $_[0], $_[1],
    ",to=\"$_[2]\"") };
my $requests = sub { $ep->('meshd_endpoint_requests_total', @_) };
my $wait_health = sub {
	my ($cluster, $endpoint, $want) = @_;
	my $key = $healthy->($cluster, $endpoint);
	$t->wait_for(sub { my $v = $m->($key); defined $v && $v == $want },
	    what => "$key to be $want");
};
my $clusters = sub { $t->http_get("http://$admin/clusters")->{content} };
# $n GETs, on one connection for http, each on its own for tcp:
# { backend name or "status N" => count }.
my $spread = sub {
	my ($listener, $n) = @_;
	my $ua = HTTP::Tiny->new(keep_alive => $listener ne 'tcp', timeout => 5);
	my %seen;
	for (1 .. $n) {
		my $r = $ua->get("http://$h:$l{$listener}/");
		my $who = $r->{status} == 200 && $r->{content} =~ /^(\w+)/ ? $1
		    : "status $r->{status}";
		$seen{$who}++;
	}
	return \%seen;
};

# Before any check decides: a request each, so that workers cache their
# view of the panic clusters (health changes must refresh it).
$spread->($_, 2) for qw(panic nopanic);

# An http check that gets 503: unhealthy after 3 in a row.
$wait_health->('web', "$hb:$port", 0);
pass('web: b (503) is unhealthy');
cmp_ok($m->($checks->('web', "$hb:$port", 'bad_status')), '>=', 3,
    'after at least 3 checks with a bad status');
is($m->($to->('web', "$hb:$port", 'unhealthy')), 1, 'one transition to unhealthy');
like($t->log_text('meshd'), qr/warning: cluster web: endpoint \Q$hb:$port\E is unhealthy: status 503 \(3 checks failed in a row\)$/m,
    'logged with the status and the count');
is($m->($healthy->('web', "$ha:$port")), 1, 'a stays healthy');
cmp_ok($m->($checks->('web', "$ha:$port", 'ok')), '>=', 1, 'a passes its checks');
like($clusters->(), qr/^  endpoint \Q$hb:$port\E .* health=unhealthy$/m,
    '/clusters: b health=unhealthy');
like($clusters->(), qr/^  endpoint \Q$ha:$port\E .* health=healthy$/m,
    '/clusters: a health=healthy');
my $b_before = $m->($requests->('web', "$hb:$port")) // 0;
is_deeply($spread->('web', 20), { a => 20 }, 'traffic avoids b: 20 of 20 to a');
is($m->($requests->('web', "$hb:$port")) // 0, $b_before, 'b got no request');

# A tcp check: a port nobody listens on.
$wait_health->('tcp', "$hdead:$dead_port", 0);
pass('tcp: the dead port is unhealthy');
cmp_ok($m->($checks->('tcp', "$hdead:$dead_port", 'connect_failed')), '>=', 3,
    'after 3 failed connects');
like($t->log_text('meshd'), qr/cluster tcp: endpoint \Q$hdead:$dead_port\E is unhealthy: connect failed: Connection refused/,
    'logged: connection refused');
is($m->($healthy->('tcp', "$ha:$port")), 1, 'the listening one is healthy');
my $dead_before = $m->($requests->('tcp', "$hdead:$dead_port")) // 0;
is_deeply($spread->('tcp', 10), { a => 10 }, 'tcp traffic avoids the dead port');
is($m->($requests->('tcp', "$hdead:$dead_port")) // 0, $dead_before,
    'no connection tried to it');

# A backend that never answers fails by health_timeout.
$wait_health->('hang', "$hhang:$port", 0);
pass('hang: unhealthy');
cmp_ok($m->($checks->('hang', "$hhang:$port", 'timeout')), '>=', 2,
    'after 2 timeouts');
is($m->($checks->('hang', "$hhang:$port", 'ok')), 0, 'none passed');
like($t->log_text('meshd'), qr/cluster hang: endpoint \Q$hhang:$port\E is unhealthy: no response within 200 ms \(2 checks failed in a row\)/,
    'logged: no response within 200 ms');

# Every endpoint unhealthy: all take traffic rather than none.
$wait_health->('all', "$ha:$port", 0);
pass('all: its only endpoint is unhealthy (/status/503)');
is_deeply($spread->('all', 5), { a => 5 }, 'and still takes the traffic');

# Unhealthy endpoints count as unavailable for panic_threshold: with 1
# of 3 healthy (33% < 50%) all take traffic; with the threshold off, not.
for my $c (qw(panic nopanic)) {
	$wait_health->($c, "$_:$port", 0) for $hd, $he;
}
my $seen = $spread->('panic', 9);
is_deeply($seen, { a => 3, 'status 503' => 6 },
    'panic: 2 of 3 unhealthy, all three take traffic') or diag explain $seen;
is_deeply($spread->('nopanic', 9), { a => 9 },
    'panic_threshold = off: only the healthy one does');

# A reload keeps the state: b stays unhealthy, with no new transition,
# and new settings apply.
my $gen = $m->('meshd_config_generation');
$t->write_file('meshd.conf', conf('120ms'));
$t->reload('meshd');
$t->wait_generation($admin, $gen + 1);
is($m->($healthy->('web', "$hb:$port")), 0, 'after a reload b is still unhealthy');
like($clusters->(), qr/^  endpoint \Q$hb:$port\E .* health=unhealthy$/m,
    '/clusters says so');
my $n = $m->($checks->('web', "$hb:$port", 'bad_status'));
$t->wait_metric($admin, $checks->('web', "$hb:$port", 'bad_status'), $n + 4);
is($m->($to->('web', "$hb:$port", 'unhealthy')), 1,
    'four checks later: still the one transition');
is_deeply($spread->('web', 10), { a => 10 }, 'traffic still avoids b');

# Back: b answers 200 again, and 2 passes make it healthy.
$t->stop('b');
$t->start_backend(name => 'b', listen => "$hb:$port", quiet => 1);
$wait_health->('web', "$hb:$port", 1);
pass('b is healthy again');
is($m->($to->('web', "$hb:$port", 'healthy')), 1, 'one transition to healthy');
cmp_ok($m->($checks->('web', "$hb:$port", 'ok')), '>=', 2, 'after 2 passes');
like($t->log_text('meshd'), qr/notice: cluster web: endpoint \Q$hb:$port\E is healthy again \(2 checks passed in a row\)$/m,
    'logged');
$seen = $spread->('web', 20);
ok(($seen->{b} // 0) >= 5 && ($seen->{a} // 0) >= 5 && keys %$seen == 2,
    'traffic reaches b again') or diag explain $seen;

# A registry update keeps the state of the endpoints it keeps.
$wait_health->('reg', "$hb:$port", 1);
$wait_health->('reg', "$hc:$port", 1);
$t->stop('c');
$wait_health->('reg', "$hc:$port", 0);
pass('reg: c, stopped, is unhealthy');
is_deeply($spread->('reg', 6), { b => 6 }, 'traffic goes to b');
my $rgen = $m->('meshd_registry_generation');
registry('c', 'b');
$t->wait_metric($admin, 'meshd_registry_generation', $rgen + 1);
is($m->($healthy->('reg', "$hc:$port")), 0, 'after a registry update c is still unhealthy');
$n = $m->($checks->('reg', "$hc:$port", 'connect_failed'));
$t->wait_metric($admin, $checks->('reg', "$hc:$port", 'connect_failed'), $n + 3);
is($m->($to->('reg', "$hc:$port", 'unhealthy')), 1, 'still the one transition');
# Gone from the registry: no longer checked, counters kept.
registry('b');
$t->wait_metric($admin, 'meshd_registry_generation', $rgen + 2);
ok(!defined $m->($healthy->('reg', "$hc:$port")), 'c, gone, is no longer checked');
ok(defined $m->($checks->('reg', "$hc:$port", 'ok')), 'its counters stay');

# Checks turned off: the endpoint is no longer held back.
my $off = conf('120ms');
$off =~ s{(\[cluster web\]\n(?:.*\n)*?)health_check = http /healthz\n}{$1}
    or die 'no health_check in [cluster web]';
$t->stop('b');
$t->start_backend(name => 'b', listen => "$hb:$port", quiet => 1,
    status => 503);
$wait_health->('web', "$hb:$port", 0);
$gen = $m->('meshd_config_generation');
$t->write_file('meshd.conf', $off);
$t->reload('meshd');
$t->wait_generation($admin, $gen + 1);
ok(!defined $m->($healthy->('web', "$hb:$port")), 'checks off: web is not checked');
unlike($clusters->(), qr/^cluster web .*\n(?:  .*\n)*?  endpoint .* health=/m,
    '/clusters shows no health for web');
$seen = $spread->('web', 10);
is($seen->{'status 503'}, 5, 'b takes its share of traffic again')
    or diag explain $seen;

# meshd -t: bad values, with their lines.
my $base = "[meshd]\nservice = s\nadmin = 127.0.0.1:1\n\n[cluster c]\n"
    . "endpoint = 127.0.0.1:2\n";
for my $case (
    [ 'health_check = http', 'expected http PATH, tcp or off' ],
    [ 'health_check = http healthz', 'expected a path that starts with /' ],
    [ 'health_check = grpc', 'expected http PATH, tcp or off' ],
    [ 'health_status = 200-99', 'expected status codes' ],
    [ 'health_status = 399-200', 'a range goes from the lower status to the higher' ],
    [ 'health_status = 1,2,3', 'expected status codes' ],
    [ 'health_status = 200,201,202,203,204,205,206,207,208', 'at most 8 statuses or ranges' ],
    [ 'health_host = a b', 'expected a host name' ],
    [ 'healthy_threshold = 0', 'expected a whole number from 1 to 100' ],
    [ 'unhealthy_threshold = 101', 'expected a whole number from 1 to 100' ],
    [ 'health_interval = 0s', 'a timeout must be longer than 0' ],
    [ 'health_timeout = off', 'expected a duration' ],
) {
	my ($line, $err) = @$case;
	my $f = $t->write_file('bad.conf', "$base$line\n");
	my $r = $t->run($t->meshd_bin, '-t', '-c', $f);
	is($r->{code}, 1, "meshd -t refuses $line");
	my ($key) = $line =~ /^(\w+)/;
	like($r->{err}, qr/bad\.conf:7: error: bad value "[^"]*" for "\Q$key\E": \Q$err\E/,
	    'with its line and why');
}
my $f = $t->write_file('good.conf', "$base" . join '', map { "$_\n" }
    'health_check = http /ready?full=1', 'health_interval = 2s',
    'health_timeout = 250ms', 'health_jitter = off', 'healthy_threshold = 1',
    'unhealthy_threshold = 1', 'health_status = 200, 204-206, 404',
    'health_host = [::1]:8080');
my $r = $t->run($t->meshd_bin, '-t', '-c', $f);
is($r->{code}, 0, 'meshd -t takes every health key') or diag $r->{err};

$t->done_testing;
