#!/usr/bin/perl
# Reloads under load: a registry change and a config change, each applied
# with SIGHUP while clients keep sending (on kept-alive and on new
# connections), lose no request and switch routing; a broken config or
# registry on reload is logged with file and line and the last good
# config keeps serving.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $ha, $hb) = ($t->host(1), $t->host(2), $t->host(3));
my $app_port = $t->free_port($ha);
$t->start_backend(name => 'alpha', listen => "$ha:$app_port", quiet => 1);
$t->start_backend(name => 'beta', listen => "$hb:$app_port", quiet => 1);
my ($out_port, $new_port, $admin_port) =
    ($t->free_port($h), $t->free_port($h), $t->free_port($h));
my $admin = "$h:$admin_port";

sub registry {
	my ($host) = @_;
	$t->write_file('registry.tmp', "[/services/app/instances/one]\n"
	    . "address = $host\nport = $app_port\n");
	rename $t->path('registry.tmp'), $t->path('registry.conf') or die $!;
}

sub config {
	my (%o) = @_;
	my $extra = $o{extra} // '';
	my $cluster = $o{static} ? "endpoint = $o{static}:$app_port"
	    : 'service = app';
	$t->write_file('meshd.tmp', <<"EOF");
[meshd]
service = client
registry = registry.conf
workers = 2
admin = $admin

[listener app]
address = $h:$out_port
protocol = http
cluster = app
$extra
[cluster app]
$cluster
lb = round_robin
EOF
	rename $t->path('meshd.tmp'), $t->path('meshd.conf') or die $!;
}

registry($ha);
config();
$t->start_meshd(name => 'meshd', conf => $t->path('meshd.conf'), host => $h,
    admin => $admin);

# The client loop: a child process sending requests back to back, one on
# a kept-alive connection, the next on a new one, until told to stop.
my $results = $t->path('results');
my $stop = $t->path('stop');
my $pid = fork // die "fork: $!";
if ($pid == 0) {
	my $ka = HTTP::Tiny->new(keep_alive => 1, timeout => 5);
	open my $fh, '>', $results or _exit(1);
	$fh->autoflush(1);
	my $deadline = time + 60;
	for (my $i = 0; !-e $stop && time < $deadline; $i++) {
		my $ua = $i % 2 ? $ka : HTTP::Tiny->new(keep_alive => 0, timeout => 5);
		my $r = $ua->get("http://$h:$out_port/");
		(my $body = $r->{content} // '') =~ s/\s+\z//;
		print $fh "$r->{status} $body\n";
	}
	close $fh;
	_exit(0);
}

sub answers { [ split /\n/, MeshTest::slurp($results) ] }
sub wait_answers {
	my ($what, $re, $n) = @_;
	my $start = @{ answers() };
	$t->wait_for(sub {
		my $a = answers();
		return @$a >= $start + $n && grep { /$re/ } @$a[$start .. $#$a];
	}, what => $what, timeout => 20);
}

wait_answers('requests answered by alpha', qr/^200 alpha$/, 20);

# 1. The registry moves the service to beta; SIGHUP applies it.
registry($hb);
$t->reload('meshd');
$t->wait_generation($admin, 2);
wait_answers('requests answered by beta after the reload', qr/^200 beta$/, 20);

# 2. A config change: a static endpoint (back to alpha) and a new listener.
config(static => $ha, extra => "\n[listener second]\naddress = $h:$new_port\n"
    . "protocol = http\ncluster = app\n");
$t->reload('meshd');
$t->wait_generation($admin, 3);
wait_answers('requests answered by alpha again', qr/^200 alpha$/, 20);
is($t->http_get("http://$h:$new_port/")->{content}, "alpha\n",
    'the listener the reload added serves');

# 3. A broken config: logged with file and line, generation 3 serves on.
$t->write_file('meshd.conf', MeshTest::slurp($t->path('meshd.conf'))
    . "\n[cluster broken]\nendpoint = nowhere\n");
$t->reload('meshd');
$t->wait_for(sub { $t->metrics($admin)->{meshd_config_reload_failures_total} == 1 },
    what => 'the failed reload to be counted');
like($t->log_text('meshd'),
    qr/error: \S*meshd\.conf:\d+: error: bad value "nowhere" for "endpoint"/,
    'the broken config is logged with its file and line');
like($t->log_text('meshd'), qr/reload failed: generation 3 keeps serving/,
    'and the old generation keeps serving');
wait_answers('requests still answered by alpha', qr/^200 alpha$/, 20);

# 4. A good config with a broken registry: same.
config();
$t->write_file('registry.conf', "[/services/app/instances/one]\naddress = $hb\nport = x\n");
$t->reload('meshd');
$t->wait_for(sub { $t->metrics($admin)->{meshd_config_reload_failures_total} == 2 },
    what => 'the second failed reload to be counted');
like($t->log_text('meshd'), qr/registry\.conf:3: error: bad value "x" for "port"/,
    'the broken registry is logged with its file and line');
wait_answers('requests still answered by alpha', qr/^200 alpha$/, 20);

# Stop the loop and look at every answer.
$t->write_file('stop', '');
waitpid($pid, 0);
is($?, 0, 'the client loop ended cleanly');
my $a = answers();
my @bad = grep { !/^200 (alpha|beta)$/ } @$a;
cmp_ok(scalar @$a, '>=', 100, scalar(@$a) . ' requests sent across four reloads');
is(scalar @bad, 0, 'no request failed') or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)];
my $m = $t->metrics($admin);
is($m->{meshd_config_generation}, 3, 'generation 3 in force');
is($m->{meshd_config_reloads_total}, 4, 'four reloads tried');
is($m->{meshd_config_reload_failures_total}, 2, 'two of them failed');

# A hundred reloads in a row under wrk's load, every other one changing
# the cluster (alpha or beta) and adding or dropping a listener: 50
# kept-alive connections and 10 with a new connection per request see no
# connection refused or reset and no error answered.
SKIP: {
	skip 'wrk is not installed', 5 unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};
	registry($ha);
	config();
	my $gen = $t->metrics($admin)->{meshd_config_generation};
	my $before = $t->metrics($admin)->{'meshd_listener_connections_total{listener="app"}'};
	$t->spawn(name => 'wrk-ka', cmd => ['wrk', '-t', '1', '-c', '50', '-d', '60s',
	    "http://$h:$out_port/"]);
	$t->spawn(name => 'wrk-close', cmd => ['wrk', '-t', '1', '-c', '10', '-d', '60s',
	    '-H', 'Connection: close', "http://$h:$out_port/"]);
	$t->wait_for(sub { $t->metrics($admin)->{'meshd_listener_connections_total{listener="app"}'} > $before + 500 },
	    what => 'wrk to get going');
	for my $i (1 .. 100) {
		if ($i % 2) {
			config(static => $hb, extra => "\n[listener second]\n"
			    . "address = $h:$new_port\nprotocol = http\n"
			    . "cluster = app\n");
		} else {
			config();
		}
		$t->reload('meshd');
		$t->wait_generation($admin, $gen + $i);
	}
	$t->signal($_, 'INT') for qw(wrk-ka wrk-close);
	for my $w (qw(wrk-ka wrk-close)) {
		is($t->wait_exit($w, timeout => 20), 0, "$w stopped");
		my $out = $t->log_text($w);
		my ($n) = $out =~ /(\d+) requests in/;
		unlike($out, qr/Socket errors|Non-2xx/,
		    "$w: no socket error and no error status across 100 reloads ($n requests)")
		    or diag $out;
	}
	is($t->metrics($admin)->{meshd_config_generation}, $gen + 100,
	    'a hundred reloads applied');
}

# A listener a reload drops stops listening at once, even while a
# connection of the old config lives on; added again, it serves every new
# connection.
{
	config(extra => "\n[listener second]\naddress = $h:$new_port\n"
	    . "protocol = http\ncluster = app\n");
	my $gen = $t->metrics($admin)->{meshd_config_generation};
	$t->reload('meshd');
	$t->wait_generation($admin, $gen + 1);
	my $idle = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $new_port,
	    Timeout => 5) or die "connect: $!";
	print $idle "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	like(scalar <$idle>, qr{^HTTP/1\.1 200 }, 'a kept-alive client on the listener');
	config();
	$t->reload('meshd');
	$t->wait_generation($admin, $gen + 2);
	my $c = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $new_port,
	    Timeout => 2);
	ok(!$c, 'the dropped listener refuses new connections at once')
	    or diag 'connected to a listener the config dropped';
	config(extra => "\n[listener second]\naddress = $h:$new_port\n"
	    . "protocol = http\ncluster = app\n");
	$t->reload('meshd');
	$t->wait_generation($admin, $gen + 3);
	my $ok = 0;
	for (1 .. 6) {
		my $r = HTTP::Tiny->new(timeout => 2)->get("http://$h:$new_port/");
		$ok++ if $r->{status} == 200;
	}
	is($ok, 6, 'added again, it answers every new connection');
	close $idle;
}

$t->done_testing;
