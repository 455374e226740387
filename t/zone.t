#!/usr/bin/perl
# Which endpoints take traffic: zone affinity (the sidecar's own zone,
# found from its own instance in the registry, while enough of it is
# available; all zones once too little is) and the panic threshold (too
# few available: the ejected ones take traffic again).
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $a1, $a2, $b1, $b2) = map { $t->host($_) } 1 .. 5;
my $port = $t->free_port($a1);
my %host = (a1 => $a1, a2 => $a2, b1 => $b1, b2 => $b2);
$t->start_backend(name => $_, listen => "$host{$_}:$port", quiet => 1)
    for sort keys %host;
my $dead = $t->free_port($b2);	# nobody listens there

my %l = map { $_ => $t->free_port($h) } qw(inbound app panic nopanic admin);
my $admin = "$h:$l{admin}";
$t->write_file('registry.conf', <<"EOF");
[/services/client/instances/me]
address = $h
port = $l{inbound}
zone = a

[/services/app/instances/a1]
address = $a1
port = $port
zone = a

[/services/app/instances/a2]
address = $a2
port = $port
zone = a

[/services/app/instances/b1]
address = $b1
port = $port
zone = b

[/services/app/instances/b2]
address = $b2
port = $port
zone = b
EOF
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = client
registry = registry.conf
admin = $admin
workers = 1

[listener inbound]
address = $h:$l{inbound}
protocol = http
cluster = local

[cluster local]
endpoint = $a1:$port

[listener app]
address = $h:$l{app}
protocol = http
cluster = app

[cluster app]
service = app
zone_affinity = 60
outlier_consecutive_gateway_errors = 1
max_ejected_percent = 50
ejection_time = 1m

[listener panic]
address = $h:$l{panic}
protocol = http
cluster = panic

[cluster panic]
endpoint = $a1:$port
endpoint = $b2:$dead
outlier_consecutive_gateway_errors = 1
max_ejected_percent = 50
ejection_time = 1m
panic_threshold = 60

[listener nopanic]
address = $h:$l{nopanic}
protocol = http
cluster = nopanic

[cluster nopanic]
endpoint = $a1:$port
endpoint = $b2:$dead
outlier_consecutive_gateway_errors = 1
max_ejected_percent = 50
ejection_time = 1m
panic_threshold = off
EOF
$t->start_meshd(name => 'meshd', conf => $conf, host => $h, admin => $admin);
my $m = sub { $t->metrics($admin)->{$_[0]} // 0 };
my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 10);

sub spread {
	my ($listener, $n) = @_;
	my %seen;
	for (1 .. $n) {
		my $r = $ua->get("http://$h:$l{$listener}/");
		(my $body = $r->{content} // '') =~ s/\s.*//s;
		$seen{ $r->{status} == 200 ? $body : "status $r->{status}" }++;
	}
	return \%seen;
}

# The sidecar is in zone a: a1 and a2 take it all.
# Round robin on one worker keeps the shares exact, so the tolerance over
# these thousands of requests is none.
is_deeply(spread('app', 2000), { a1 => 1000, a2 => 1000 }, 'zone a only');

# a2 goes down: ejected, zone a is 50% available, under 60%: all zones.
$t->stop('a2', signal => 'KILL');
my $seen = spread('app', 31);
is($seen->{'status 502'} // 0, 0, 'no request failed (the one to a2 was retried)');
is($m->("meshd_endpoint_ejections_total{cluster=\"app\",endpoint=\"$a2:$port\"}"),
    1, 'a2 ejected');
my $after = spread('app', 3000);
is_deeply($after, { a1 => 1000, b1 => 1000, b2 => 1000 },
    'then a1, b1 and b2 share evenly, a2 left out');

# Panic: one of two ejected is 50% available, under panic_threshold 60%:
# the ejected one is still tried (its failures retried on a1).
is_deeply(spread('panic', 10), { a1 => 10 }, 'panic: every request answered');
my $dead_ep = "$b2:$dead";
my $tries = $m->("meshd_endpoint_requests_total{cluster=\"panic\",endpoint=\"$dead_ep\"}");
is($m->("meshd_endpoint_ejections_total{cluster=\"panic\",endpoint=\"$dead_ep\"}"),
    1, 'the dead endpoint was ejected');
cmp_ok($tries, '>=', 5, "yet it kept being tried ($tries times)");

# Without panic, once ejected it is left alone.
is_deeply(spread('nopanic', 10), { a1 => 10 }, 'no panic: every request answered');
is($m->("meshd_endpoint_requests_total{cluster=\"nopanic\",endpoint=\"$dead_ep\"}"),
    1, 'the dead endpoint was tried once, then ejected and left alone');

# What meshd knows of an endpoint is kept by its address across a reload:
# a2 is still ejected, and the traffic spread stays as it was.
my $ej = $m->("meshd_endpoint_ejections_total{cluster=\"app\",endpoint=\"$a2:$port\"}");
$t->reload('meshd');
$t->wait_generation($admin, 2);
like($t->http_get("http://$admin/clusters")->{content},
    qr/^  endpoint \Q$a2:$port\E .* ejections=1 ejected_ms=\d+$/m,
    'after a reload a2 is still ejected');
is_deeply(spread('app', 3000), { a1 => 1000, b1 => 1000, b2 => 1000 },
    'and still left out');
is($m->("meshd_endpoint_ejections_total{cluster=\"app\",endpoint=\"$a2:$port\"}"),
    $ej, 'its counters carried over');

$t->done_testing;
