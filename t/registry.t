#!/usr/bin/perl
# The registry file followed live (mesh-registry(5)): every way of writing
# it (rename over it, rewrite in place, move it away and write a new one)
# is applied without a reload, and traffic follows additions, removals,
# weights and health; a broken file keeps the last good view; a service
# that loses every instance by accident keeps its last ones, one said
# empty gets none. Each new view is waited for on its generation number.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, @hosts) = map { $t->host($_) } 1 .. 4;
my @names = qw(a b c);
my $app_port = $t->free_port($hosts[0]);
my %addr;
for my $i (0 .. 2) {
	$addr{ $names[$i] } = $hosts[$i];
	$t->start_backend(name => $names[$i], listen => "$hosts[$i]:$app_port",
	    quiet => 1);
}
my ($out_port, $v2_port, $admin_port) = map { $t->free_port($h) } 1 .. 3;
my $admin = "$h:$admin_port";
my $reg = $t->path('registry.conf');

# An instance of app per name ("b:3" for weight 3, "b/maintenance"), after
# an instance of another service, so that the file is never empty.
sub instances {
	my $text = "[/services/other/instances/o-1]\naddress = 127.0.0.9\n"
	    . "port = 1\n";
	for (@_) {
		my ($n, $w, $health) = /^(\w)(?::(\d+))?(?:\/(\w+))?$/ or die $_;
		$text .= "\n[/services/app/instances/$n]\naddress = $addr{$n}\n"
		    . "port = $app_port\nlabels = version="
		    . ($n eq 'a' ? 'v1' : 'v2') . ", zone-group=x\n";
		$text .= "weight = $w\n" if $w;
		$text .= "health = $health\n" if $health;
	}
	return $text;
}

# Atomically, as meshsync does: a temp file renamed over the registry.
sub rename_over {
	my ($text) = @_;
	$t->write_file('registry.tmp', $text);
	rename $t->path('registry.tmp'), $reg or die "rename: $!";
}

# In place: truncate, write, close (a shell's ">" or a simple tool).
sub rewrite {
	my ($text) = @_;
	open my $fh, '>', $reg or die "$reg: $!";
	print $fh $text;
	close $fh or die "$reg: $!";
}

$t->write_file('meshd.conf', <<"CONF");
[meshd]
service = client
registry = registry.conf
workers = 2
admin = $admin

[listener app]
address = $h:$out_port
protocol = http
cluster = app

[cluster app]
service = app
lb = round_robin

[listener v2]
address = $h:$v2_port
protocol = http
cluster = app-v2

[cluster app-v2]
service = app
labels = version=v2
CONF
rename_over(instances('a'));
$t->start_meshd(name => 'meshd', conf => $t->path('meshd.conf'), host => $h,
    admin => $admin);

# $n requests on one kept-alive connection (one worker, so round robin's
# shares are exact): { backend => count }.
sub spread {
	my ($n, $port) = @_;
	my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 5);
	my %seen;
	for (1 .. $n) {
		my $r = $ua->get("http://$h:" . ($port // $out_port) . "/");
		(my $body = $r->{content} // '') =~ s/\s+\z//;
		my $who = $r->{status} == 200 && $body =~ /^(\w+)/ ? $1
		    : "status $r->{status}";
		$seen{$who}++;
	}
	return \%seen;
}

sub generation {
	my ($n, $what) = @_;
	is($t->wait_metric($admin, 'meshd_registry_generation', $n), $n,
	    "registry generation $n: $what");
}

is($t->metric($admin, 'meshd_registry_generation'), 1, 'generation 1 at start');
is_deeply(spread(10), { a => 10 }, 'all to a');

rename_over(instances('a', 'b'));
generation(2, 'b added, renamed over the file');
is_deeply(spread(20), { a => 10, b => 10 }, 'a and b share');
is($t->metric($admin, 'meshd_cluster_endpoints{cluster="app"}'), 2,
    'two endpoints on /metrics');
is_deeply(spread(10, $v2_port), { b => 10 },
    'a cluster with labels = version=v2 takes only b (a is version=v1)');

rename_over(instances('a:3', 'b'));
generation(3, 'a weighs 3');
is_deeply(spread(40), { a => 30, b => 10 }, 'weights 3:1 hold exactly');

rewrite(instances('a', 'b/maintenance'));
generation(4, 'b in maintenance, rewritten in place');
is_deeply(spread(10), { a => 10 }, 'b takes no traffic in maintenance');

rewrite(instances('c'));
generation(5, 'only c, rewritten in place');
is_deeply(spread(10), { c => 10 }, 'all to c');

# An editor's save: the old file moved away, a new one written.
rename $reg, "$reg~" or die "rename: $!";
$t->wait_for(sub { $t->log_text('meshd') =~ /registry\.conf is gone/ },
    what => 'meshd to see the file gone');
is_deeply(spread(5), { c => 5 }, 'the last view serves while the file is gone');
rewrite(instances('a', 'c'));
generation(6, 'moved away, then written anew');
is_deeply(spread(10), { a => 5, c => 5 }, 'a and c share');

# A broken file: reported with its line, the last good view stays.
rename_over(instances('b') . "addres = 127.0.0.1\n");
is($t->wait_metric($admin, 'meshd_registry_update_failures_total', 1), 1,
    'the broken file counted');
like($t->log_text('meshd'), qr/registry\.conf:9: error: unknown key "addres"; did you mean "address"\? \[unknown-key\]/,
    'the error names the file and line');
like($t->log_text('meshd'), qr/registry update failed: generation 6 keeps serving/,
    'and generation 6 keeps serving');
is($t->metric($admin, 'meshd_registry_generation'), 6, 'still generation 6');
is_deeply(spread(10), { a => 5, c => 5 }, 'traffic as before');

# app loses every instance, by accident: the last ones stay.
rename_over(instances());
generation(7, 'app has no instances');
is($t->metric($admin, 'meshd_registry_vanished_total'), 1, 'counted as vanished');
like($t->log_text('meshd'), qr/warning: service "app" has no instances any more; keeping its last 2 .*\[vanished\]/,
    'warned about');
is_deeply(spread(10), { a => 5, c => 5 }, 'a and c still serve');

# On purpose: [/services/app] empty = on.
rename_over(instances() . "\n[/services/app]\nempty = on\n");
generation(8, 'app said empty');
is_deeply(spread(3), { 'status 503' => 3 }, 'no instance: 503');
is($t->metric($admin, 'meshd_registry_vanished_total'), 1, 'not counted as vanished');

# Said empty but listing instances: an error, the view stays.
rename_over(instances('a') . "\n[/services/app]\nempty = on\n");
is($t->wait_metric($admin, 'meshd_registry_update_failures_total', 2), 2,
    'a contradiction counted as a failure');
like($t->log_text('meshd'), qr/registry\.conf:11: error: service "app" is said to be empty but lists instances \(line 5\)/,
    'reported at the "empty" line');

# Back to normal, and a SIGHUP reload reads the registry as well.
rename_over(instances('b'));
generation(9, 'b alone');
is_deeply(spread(4), { b => 4 }, 'all to b');
$t->reload('meshd');
$t->wait_generation($admin, 2);
is($t->metric($admin, 'meshd_registry_generation'), 10, 'a reload reads the registry too');
is_deeply(spread(4), { b => 4 }, 'still b');
is($t->metric($admin, 'meshd_registry_updates_total'), 12,
    'every read counted (start, 10 changes, the reload)');

$t->done_testing;
