#!/usr/bin/perl
# ./bootstrap demo: the demo mesh of conf/demo/mesh.conf, run for real on
# loopback. Compiles it with meshc, starts one app and one meshd per
# service instance, sends traffic through frontend -> orders -> payments,
# applies a registry change live (no reload), prints what happened and
# stops everything it started.
use strict;
use warnings;
use MeshTest;
use MeshDemo;

$| = 1;
my $t = MeshTest->new;
for my $bin ($t->meshd_bin, $t->meshc_bin) {
	die "demo: $bin is not built; run ./bootstrap first\n" unless -x $bin;
}
print "Compiling conf/demo/mesh.conf and starting 4 apps and 4 sidecars...\n";
my $demo = MeshDemo::start($t);
my %inst = map { $_->{name} => $_ } @{ $demo->{instances} };
for my $i (@{ $demo->{instances} }) {
	printf "  %-10s  host %-13s  sidecar admin http://%s/\n", $i->{name},
	    $i->{host}, $i->{admin};
}

sub traffic {
	my ($n) = @_;
	my (%who, $failed);
	for (1 .. $n) {
		my $r = $t->http_get($demo->{entry}, keep_alive => 1);
		if ($r->{status} == 200) {
			chomp(my $path = $r->{content});
			$path =~ s/-app//g;
			$who{$path}++;
		} else {
			$failed++;
		}
	}
	printf "  %3d x  %s\n", $who{$_}, $_ for sort keys %who;
	printf "  %3d failed\n", $failed // 0;
}

print "\n20 requests into $demo->{entry} (the frontend's inbound listener):\n";
traffic(20);

print "\nThe callers each app was told its sidecar verified (mTLS, "
    . "X-Forwarded-Client-Cert):\n";
for my $i (@{ $demo->{instances} }) {
	my %ids = map { $_ => 1 }
	    $t->log_text("$i->{name}-app") =~ /caller URI=(\S+)$/mg;
	printf "  %-10s  %s\n", $i->{name},
	    %ids ? join(', ', sort keys %ids) : '(none: plaintext from outside the mesh)';
}

print "\nWhat each sidecar counted (from its /metrics):\n";
for my $i (@{ $demo->{instances} }) {
	my $m = $t->metrics($i->{admin});
	my @parts = sprintf 'inbound %d requests',
	    $m->{'meshd_listener_requests_total{listener="inbound"}'} // 0;
	for my $k (sort keys %$m) {
		next unless $k =~ /^meshd_cluster_requests_total\{cluster="(\w+)"\}/
		    && $1 ne 'local';
		push @parts, sprintf 'sent %d to %s', $m->{$k}, $1;
	}
	printf "  %-10s  %s\n", $i->{name}, join(', ', @parts);
}

# Take orders-2 out through the registry: every sidecar watching the file
# applies it without a reload, and the frontend's routes only to orders-1.
my $reg = $t->path('demo/registry.conf');
(my $text = MeshTest::slurp($reg)) =~
    s{(\[/services/orders/instances/orders-2\]\n)}{$1health = maintenance\n};
$t->write_file('demo/registry.conf.tmp', $text);
rename $t->path('demo/registry.conf.tmp'), $reg or die "rename: $!";
$t->wait_metric($inst{'frontend-1'}{admin}, 'meshd_registry_generation', 2);
print "\norders-2 set to maintenance in the registry (renamed over it); the "
    . "frontend's sidecar applied it live, no reload (registry generation "
    . "2); 10 more requests:\n";
traffic(10);

$t->stop_all;
my @bad = $t->_log_findings;
$t->{logs_checked} = 1;
print "\nStopped everything the demo started", @bad ?
    "; the logs have problems:\n" . join("\n", @bad) . "\n" : ".\n";
exit(@bad ? 1 : 0);
