package MeshDemo;
# The demo mesh (conf/demo/mesh.conf), started on a MeshTest harness:
# ./bootstrap demo and t/demo.t run the very same thing.
#
#   client -> frontend sidecar -> frontend app -> frontend's outbound
#          -> orders sidecar (2 instances) -> orders app -> orders' outbound
#          -> payments sidecar -> payments app
#
# Each service instance gets its own loopback address, as if it were its
# own host; every sidecar runs with meshd -a HOST.
use strict;
use warnings;
use Carp;
use MeshTest;

# Instances: name, service, host index.
my @INSTANCES = (
	[ 'frontend-1', 'frontend', 1 ],
	[ 'orders-1',   'orders',   2 ],
	[ 'orders-2',   'orders',   3 ],
	[ 'payments-1', 'payments', 4 ],
);

# The [section] => {key => value} of a compiled meshd.conf.
sub read_conf {
	my ($file) = @_;
	my (%c, $section);
	for my $line (split /\n/, MeshTest::slurp($file)) {
		next if $line =~ /^\s*(?:[;#]|$)/;
		if ($line =~ /^\[(.+)\]/) {
			$section = $1;
		} elsif ($line =~ /^(\w+)\s*=\s*(.*?)\s*$/) {
			$c{$section}{$1} = $2;
		}
	}
	return \%c;
}

sub port_of {
	my ($addr) = @_;
	return (MeshTest::split_hostport($addr))[1];
}

# start($t): compile the demo, write the registry, start the apps and the
# sidecars. Returns {entry => URL, instances => [{name, service, host,
# admin}], conf => {service => parsed conf}}.
sub start {
	my ($t) = @_;
	my $out = $t->path('demo');
	mkdir $out;
	my $r = $t->run({ dir => $t->srcdir . '/conf/demo' }, $t->meshc_bin,
	    'compile', '-o', $out, 'mesh.conf');
	croak "meshc failed:\n$r->{err}" if $r->{code} != 0;
	# A development CA and a certificate per service, where the compiled
	# files look for them (tls_dir, "certs" by default).
	$r = $t->run({ dir => $t->srcdir . '/conf/demo' }, $t->meshc_bin,
	    'certs', '-o', "$out/certs", 'mesh.conf');
	croak "meshc certs failed:\n$r->{err}" if $r->{code} != 0;

	my (%conf, @inst, $registry);
	for my $s (qw(frontend orders payments)) {
		$conf{$s} = read_conf("$out/$s.conf");
	}
	for my $i (@INSTANCES) {
		my ($name, $service, $n) = @$i;
		my $host = $t->host($n);
		my $inbound = port_of($conf{$service}{'listener inbound'}{address});
		push @inst, { name => $name, service => $service, host => $host,
		    admin => MeshTest::join_hostport($host,
		    port_of($conf{$service}{meshd}{admin})) };
		$registry .= "[/services/$service/instances/$name]\n"
		    . "address = $host\nport = $inbound\n\n";
	}
	$t->write_file('demo/registry.conf', $registry);

	# Apps first, from the last hop back: each calls its own sidecar's
	# outbound listener for the next service.
	my %next = (frontend => 'orders', orders => 'payments');
	for my $i (reverse @inst) {
		my $c = $conf{ $i->{service} };
		my $app = port_of($c->{'cluster local'}{endpoint});
		my %call;
		if (my $dep = $next{ $i->{service} }) {
			my $port = port_of($c->{"listener $dep"}{address});
			$call{call} = "http://$i->{host}:$port/";
		}
		# Verbose: its log names the callers its sidecar verified.
		$t->start_backend(name => "$i->{name}-app",
		    listen => "$i->{host}:$app", %call);
	}
	for my $i (reverse @inst) {
		$t->start_meshd(name => "$i->{name}-meshd",
		    conf => "$out/$i->{service}.conf", host => $i->{host});
	}
	my $front = $inst[0];
	my $port = port_of($conf{frontend}{'listener inbound'}{address});
	return { entry => "http://$front->{host}:$port/",
	    instances => \@inst, conf => \%conf };
}

1;
