#!/usr/bin/perl
# Outlier detection's sweeps (outlier_interval): with real backends, an
# instance that answers 503 is ejected at once either way; without an
# interval it is back as soon as its ejection_time is up, with one its
# ejection ends at the first sweep after that, a multiple of the interval
# on the monotonic clock meshd and this test share, and no request
# reaches it before.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use POSIX qw(ceil);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $ha, $hbad) = map { $t->host($_) } 1 .. 3;
my $port = $t->free_port($ha);
$t->start_backend(name => 'a', listen => "$ha:$port", quiet => 1);
$t->start_backend(name => 'bad', listen => "$hbad:$port", quiet => 1,
    status => 503);

# Both clusters eject bad at its first 503, for 300 ms; "sweep" looks at
# its ejections every 2 s.
my ($ejection, $interval) = (300, 2000);
my %l = map { $_ => $t->free_port($h) } qw(now sweep admin);
my $admin = "$h:$l{admin}";
my $conf = <<"EOF";
[meshd]
service = client
admin = $admin
workers = 1

[listener now]
address = $h:$l{now}
protocol = http
cluster = now

[listener sweep]
address = $h:$l{sweep}
protocol = http
cluster = sweep

EOF
for my $name (qw(now sweep)) {
	$conf .= "\n[cluster $name]\nendpoint = $ha:$port\nendpoint = $hbad:$port\n"
	    . "retries = 0\noutlier_consecutive_5xx = 1\n"
	    . ($name eq 'sweep' ? "outlier_interval = ${interval}ms\n" : '')
	    . "ejection_time = ${ejection}ms\nmax_ejected_percent = 50\n";
}
$conf = $t->write_file('meshd.conf', $conf);
$t->start_meshd(name => 'meshd', conf => $conf, host => $h, admin => $admin);
my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 10);

sub now_ms { clock_gettime(CLOCK_MONOTONIC) * 1000 }

# Requests on a listener until bad answers one: the monotonic times
# before and after the request that got its 503.
sub until_bad {
	my ($listener) = @_;
	for (1 .. 4) {
		my $t0 = now_ms();
		my $r = $ua->get("http://$h:$l{$listener}/");
		return ($t0, now_ms()) if $r->{status} == 503 &&
		    $r->{content} =~ /^bad\b/;
		die "$listener: $r->{status} $r->{content}" unless $r->{status} == 200;
	}
	die "$listener: bad never answered";
}

# bad's line in /clusters for a cluster: its ejected_ms (undef if none),
# and the monotonic times before and after the question.
sub ejected_ms {
	my ($cluster) = @_;
	my $t0 = now_ms();
	my $text = $t->http_get("http://$admin/clusters")->{content};
	my $t1 = now_ms();
	my ($block) = $text =~ /^cluster \Q$cluster\E .*\n((?:  .*\n)*)/m;
	my ($line) = ($block // '') =~ /^  endpoint \Q$hbad:$port\E (.*)$/m;
	die "no line for bad in cluster $cluster:\n$text" unless defined $line;
	return ($line =~ /\bejected_ms=(\d+)/ ? $1 : undef, $t0, $t1);
}

# Requests on a listener until bad answers one again: the monotonic time
# before that request, and how many a answered meanwhile.
sub until_back {
	my ($listener) = @_;
	my $served = 0;
	my $back;
	$t->wait_for(sub {
		my $t0 = now_ms();
		my $r = $ua->get("http://$h:$l{$listener}/");
		return $back = $t0 if $r->{content} =~ /^bad\b/;
		$served++ if $r->{status} == 200 && $r->{content} =~ /^a\b/;
		return 0;
	}, timeout => 10, interval => 0.01, what => "bad back in $listener");
	return ($back, $served);
}

# The clocks: meshd's coarse monotonic clock runs up to a tick behind.
my $slack = 30;

# No interval: the ejection lasts ejection_time, and bad is back after it.
my ($e0, $e1) = until_bad('now');
my ($left, $q0, $q1) = ejected_ms('now');
ok(defined $left, 'now: bad is ejected after one 503');
cmp_ok($q0 + ($left // 0), '<=', $e1 + $ejection + $slack,
    'now: until its ejection_time is up, no longer');
my ($back, $served) = until_back('now');
cmp_ok($back, '>=', $e0 + $ejection - $slack,
    'now: bad takes requests again once its time is up');
cmp_ok($back, '<', $e1 + $ejection + 1000, 'now: and soon after');

# An interval: the ejection ends at the first sweep after its time is up.
($e0, $e1) = until_bad('sweep');
($left, $q0, $q1) = ejected_ms('sweep');
ok(defined $left, 'sweep: bad is ejected at once, not at a sweep');
my %sweeps = map { $_ => 1 } map { ceil(($_ + $ejection) / $interval) * $interval }
    $e0 - $slack, $e1;
my ($end) = grep { $q0 + $left - $slack <= $_ && $_ <= $q1 + $left + $slack }
    sort keys %sweeps;
ok(defined $end, sprintf('sweep: the ejection ends at the first sweep after '
    . 'ejection_time: %.0f ms from now, on a multiple of %d ms', $left // 0,
    $interval)) or diag sprintf('ends between %.0f and %.0f; sweeps %s',
    $q0 + ($left // 0), $q1 + ($left // 0), join(' ', sort keys %sweeps));
$end //= $q0 + ($left // 0);
($back, $served) = until_back('sweep');
cmp_ok($back, '>=', $end - $slack,
    'sweep: no request reaches bad before that sweep');
cmp_ok($back, '<', $end + 1000, 'sweep: and it takes requests after it');
cmp_ok($served, '>', 0, "sweep: a answered the $served requests meanwhile");
my $m = $t->metrics($admin);
is($m->{"meshd_endpoint_ejections_total{cluster=\"$_\",endpoint=\"$hbad:$port\"}"},
    2, "$_: two ejections counted (one each time bad answered)") for qw(now sweep);
like($t->log_text('meshd'), qr/cluster sweep: ejecting \Q$hbad:$port\E for \d+ ms after 1 5xx or failures in a row \(ejection 1 in a row(?:, to the next sweep)?\)/,
    'the ejection is logged with how long it lasts');

$t->done_testing;
