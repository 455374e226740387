#!/usr/bin/perl
# The demo mesh end to end: requests enter the frontend's sidecar and
# reach payments through frontend -> orders -> payments, both orders
# instances get traffic, and every sidecar counted what it forwarded.
use strict;
use warnings;
use Test::More;
use MeshTest;
use MeshDemo;

my $t = MeshTest->new;
$t->require_binaries('meshd', 'meshc');
my $demo = MeshDemo::start($t);

my (%answered, $bad);
for (1 .. 20) {
	my $r = $t->http_get($demo->{entry}, keep_alive => 1);
	if ($r->{status} == 200 &&
	    $r->{content} =~ /^frontend-1-app > (orders-[12])-app > payments-1-app$/) {
		$answered{$1}++;
	} else {
		$bad++;
		diag "unexpected: $r->{status} $r->{content}";
	}
}
ok(!$bad, 'all 20 requests crossed the three services');
is($answered{'orders-1'}, 10, 'orders-1 answered half (round robin)');
is($answered{'orders-2'}, 10, 'orders-2 answered the other half');

# mTLS between the sidecars: each app was told who called, verified.
my %callers;
for my $i (@{ $demo->{instances} }) {
	my %ids = map { $_ => 1 } $t->log_text("$i->{name}-app") =~ /caller URI=(\S+)$/mg;
	$callers{ $i->{name} } = join ',', sort keys %ids;
}
is_deeply(\%callers, { 'frontend-1' => '',
    'orders-1' => 'spiffe://demo/service/frontend',
    'orders-2' => 'spiffe://demo/service/frontend',
    'payments-1' => 'spiffe://demo/service/orders' },
    'each hop over mTLS, with the caller\'s identity verified');
is($t->metrics($demo->{instances}[1]{admin})->{'meshd_cluster_connections_total{cluster="payments"}'} // 0,
    1, 'one TLS connection from orders-1 to payments carried its 10 calls');

my %admin = map { $_->{name} => $_->{admin} } @{ $demo->{instances} };
my $m = $t->metrics($admin{'frontend-1'});
is($m->{'meshd_listener_requests_total{listener="inbound"}'}, 20,
    'frontend inbound counted 20 requests');
is($m->{'meshd_cluster_requests_total{cluster="orders"}'}, 20,
    'frontend sent 20 to orders');
is($m->{'meshd_cluster_responses_total{cluster="orders",class="2xx"}'}, 20,
    'and got 20 2xx back');
is($m->{'meshd_cluster_endpoints{cluster="orders"}'}, 2,
    'frontend knows two orders endpoints from the registry');
for my $o (qw(orders-1 orders-2)) {
	(my $host = $admin{$o}) =~ s/:\d+$//;
	is($m->{"meshd_endpoint_requests_total{cluster=\"orders\",endpoint=\"$host:7001\"}"},
	    10, "frontend sent 10 to $o");
	my $om = $t->metrics($admin{$o});
	is($om->{'meshd_listener_requests_total{listener="inbound"}'}, 10,
	    "${o}'s sidecar received 10");
	is($om->{'meshd_cluster_requests_total{cluster="payments"}'}, 10,
	    "${o}'s sidecar sent 10 to payments");
}
my $pm = $t->metrics($admin{'payments-1'});
is($pm->{'meshd_listener_responses_total{listener="inbound",class="2xx"}'},
    20, 'payments answered all 20');
is($pm->{meshd_config_generation}, 1, 'generation 1');
is($t->http_get("http://$admin{'payments-1'}/ready")->{content}, "ready\n",
    '/ready says ready');
is($t->http_get("http://$admin{'payments-1'}/nope")->{status}, 404,
    'unknown admin path: 404');

# SIGQUIT drains and exits cleanly; SIGTERM stops.
$t->signal('orders-2-meshd', 'QUIT');
my $st = $t->wait_exit('orders-2-meshd', timeout => 10);
is($st, 0, 'QUIT: orders-2 sidecar drained and exited 0');
like($t->log_text('orders-2-meshd'), qr/notice: draining.*notice: exiting/s,
    'it logged the drain');
ok(!-e $t->path('orders-2-meshd.pid'), 'and removed its pid file');

$t->done_testing;
