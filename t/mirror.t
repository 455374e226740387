#!/usr/bin/perl
# Mirroring: a route's copy of each request (or of mirror_percent of them)
# to its mirror cluster, with real backends that record what they got.
# The primary answers the client; the mirror gets the same method, target,
# fields and body, with -shadow in its Host; a mirror that is down, hangs
# or stops reading changes neither the client's status nor its wait; the
# copies' counters add up; meshd -t's errors; and a mesh meshc compiled,
# over mTLS.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time);
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hp, $hm, $hh, $hd, $hs) = map { $t->host($_) } 1 .. 6;
my ($pport, $mport, $hport, $dport, $sport) =
    ($t->free_port($hp), $t->free_port($hm), $t->free_port($hh),
    $t->free_port($hd), $t->free_port($hs));
my ($precord, $mrecord, $hrecord) =
    map { $t->path("$_.requests") } qw(primary mirror hang);
$t->start_backend(name => 'primary', listen => "$hp:$pport", quiet => 1,
    record => $precord);
$t->start_backend(name => 'mirror', listen => "$hm:$mport", quiet => 1,
    record => $mrecord);
$t->start_backend(name => 'hang', listen => "$hh:$hport", quiet => 1,
    record => $hrecord, hang => 1);
# Nothing listens on $hd:$dport. $hs:$sport accepts (the kernel does) but
# never reads.
my $stuck = IO::Socket::INET->new(LocalAddr => $hs, LocalPort => $sport,
    Listen => 5, ReuseAddr => 1) or die "stuck: $!";

my ($app, $small, $admin) = map { $t->free_port($h) } 1 .. 3;
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = client
admin = $h:$admin
workers = 1

[listener app]
address = $h:$app
protocol = http
cluster = primary

[listener small]
address = $h:$small
protocol = http
cluster = primary
buffer_size = 16k

[cluster primary]
endpoint = $hp:$pport

[cluster shadow]
endpoint = $hm:$mport

[cluster hang]
endpoint = $hh:$hport
response_timeout = 4s

[cluster down]
endpoint = $hd:$dport

[cluster stuck]
endpoint = $hs:$sport

[route copy]
listener = app
path = /copy/
cluster = primary
mirror = shadow
add_header = X-Route: copy

[route half]
listener = app
path = /half/
cluster = primary
mirror = shadow
mirror_percent = 50

[route never]
listener = app
path = /never/
cluster = primary
mirror = shadow
mirror_percent = 0

[route hang]
listener = app
path = /hang/
cluster = primary
mirror = hang

[route down]
listener = app
path = /down/
cluster = primary
mirror = down

[route stuck]
listener = small
path = /stuck/
cluster = primary
mirror = stuck
EOF
my $r = $t->run($t->meshd_bin, '-t', '-c', $conf);
is($r->{code}, 0, 'meshd -t accepts mirror and mirror_percent') or diag $r->{err};
$t->start_meshd(name => 'meshd', conf => $conf, host => $h,
    admin => "$h:$admin");

sub metric { $t->metric("$h:$admin", $_[0]) // 0 }
sub counts {
	my ($cl) = @_;
	my %c = map { $_ => metric("meshd_cluster_${_}_total{cluster=\"$cl\"}") }
	    qw(mirrored mirror_failures mirror_dropped);
	$c{responses} = 0;
	$c{responses} += metric("meshd_cluster_responses_total{cluster=\"$cl\",class=\"${_}xx\"}")
	    for 1 .. 5;
	return \%c;
}
# The head as recorded, without its Host line.
sub hostless { (my $x = $_[0]) =~ s/^Host: [^\r]*\r\n//mi; $x }

# A copy of a POST with a body: the same request but for its Host.
$r = $t->http_post("http://$h:$app/copy/a?x=1", "hello, mirror\n",
    headers => { 'X-Test' => 'one', 'Content-Type' => 'text/plain' });
is("$r->{status} $r->{content}", "200 primary got 14 bytes\n",
    'the primary answers the client');
my @m = @{ $t->wait_for(sub { my @r = MeshTest::recorded($mrecord);
    @r == 1 ? \@r : 0 }, what => 'the copy at the mirror') };
my ($p) = MeshTest::recorded($precord);
is("$m[0]{method} $m[0]{target}", 'POST /copy/a?x=1', 'the copy: method and target');
is($m[0]{headers}{host}, "$h-shadow:$app", 'the copy: Host with -shadow before the port');
is($p->{headers}{host}, "$h:$app", '... the request\'s Host unchanged');
is($m[0]{headers}{'x-test'}, 'one', 'the copy: the client\'s fields');
is($m[0]{headers}{'x-route'}, 'copy', 'the copy: the route\'s added field');
is($m[0]{body}, "hello, mirror\n", 'the copy: the body');
is(hostless($m[0]{head}), hostless($p->{head}),
    'the copy\'s head is the request\'s but for Host');

# A chunked body goes to both as it comes, framing and all.
my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $app) or die "$!";
print $s "POST /copy/chunked HTTP/1.1\r\nHost: orders\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
# The copy starts with the head; the rest of the body follows it there.
$t->wait_metric("$h:$admin", 'meshd_cluster_mirrored_total{cluster="shadow"}', 2);
print $s "7\r\n, again\r\n0\r\n\r\n";
my $resp = '';
while (<$s>) { $resp .= $_; last if /^primary got/ }
like($resp, qr/^HTTP\/1\.1 200 .*\r\n\r\nprimary got 12 bytes\n\z/s,
    'a chunked body: the primary answers');
@m = @{ $t->wait_for(sub { my @r = MeshTest::recorded($mrecord);
    @r == 2 ? \@r : 0 }, what => 'the chunked copy') };
is($m[1]{body}, 'hello, again', 'the copy has the whole chunked body');
is($m[1]{headers}{'transfer-encoding'}, 'chunked', '... framed as it was');
is($m[1]{headers}{host}, 'orders-shadow', 'a Host without a port: -shadow at the end');

# HTTP/1.0 without Host: the copy names its endpoint, with -shadow.
print $s "GET /copy/old HTTP/1.0\r\n\r\n";
$resp = do { local $/; <$s> };
like($resp, qr/^HTTP\/1\.1 200 .*\r\n\r\nprimary\n\z/s, 'HTTP/1.0: answered');
close $s;
@m = @{ $t->wait_for(sub { my @r = MeshTest::recorded($mrecord);
    @r == 3 ? \@r : 0 }, what => 'the HTTP/1.0 copy') };
is($m[2]{headers}{host}, "$hm-shadow:$mport",
    'no Host: the mirror endpoint\'s, with -shadow');
is((MeshTest::recorded($precord))[-1]{headers}{host}, "$hp:$pport",
    '... and the primary its own');
$t->wait_for(sub { counts('shadow')->{responses} == 3 },
    what => 'the three copies answered');
is_deeply(counts('shadow'), { mirrored => 3, responses => 3,
    mirror_failures => 0, mirror_dropped => 0 },
    'shadow: 3 mirrored, 3 answered');

# A mirror that hangs: the client does not wait for it.
my $t0 = time;
my @st;
for my $i (1 .. 10) {
	my $x = $t->http_get("http://$h:$app/hang/$i", keep_alive => 1);
	push @st, "$x->{status} $x->{content}";
}
my $took = time - $t0;
is_deeply(\@st, [ ("200 primary\n") x 10 ], 'a hanging mirror: all answered by the primary');
# Had one waited for its copy, it would have waited the 4 s the copy takes
# to time out.
cmp_ok($took, '<', 4, "in ${\ sprintf '%.2f', $took} s, under the copy's 4 s response_timeout");
$t->wait_for(sub { MeshTest::recorded($hrecord) == 10 },
    what => 'the hanging mirror to have the 10 copies');
my $c = counts('hang');
is("$c->{mirrored} $c->{responses} $c->{mirror_failures}", '10 0 0',
    'hang: 10 copies in flight, none answered or failed yet');
$t->wait_metric("$h:$admin", 'meshd_cluster_mirror_failures_total{cluster="hang"}',
    10);
pass('hang: the 10 copies fail at their response_timeout');

# A mirror that is down: the same.
@st = map { my $x = $t->http_get("http://$h:$app/down/$_"); "$x->{status}" } 1 .. 5;
is("@st", '200 200 200 200 200', 'a mirror that is down: all answered');
$t->wait_metric("$h:$admin", 'meshd_cluster_mirror_failures_total{cluster="down"}', 5);
is(metric('meshd_cluster_connect_failures_total{cluster="down"}'), 5,
    'down: 5 failed connections');

# A mirror that stops reading: its copy of a big body falls behind and is
# dropped, the request's body goes on at the client's pace.
my $big = 'x' x (16 * 1024 * 1024);
$t0 = time;
$r = $t->http_post("http://$h:$small/stuck/big", $big, timeout => 60);
is("$r->{status} $r->{content}", "200 primary got 16777216 bytes\n",
    'a mirror that stops reading: the primary gets all 16 MiB');
is_deeply(counts('stuck'), { mirrored => 1, responses => 0,
    mirror_failures => 0, mirror_dropped => 1 },
    'stuck: the copy was dropped, once it fell behind');
diag sprintf 'the 16 MiB POST took %.2f s', time - $t0;

# A request cut short: its copy cannot be whole, and is dropped.
$s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $app) or die "$!";
print $s "POST /copy/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789";
$t->wait_metric("$h:$admin", 'meshd_cluster_mirrored_total{cluster="shadow"}', 4);
close $s;
$t->wait_metric("$h:$admin", 'meshd_cluster_mirror_dropped_total{cluster="shadow"}', 1);
pass('a request cut short: its copy dropped');

# mirror_percent 50 over 1000 requests: a binomial draw, whose standard
# deviation is 15.8; 5 of them either side fail a good meshd once in
# 1.7 million runs.
my $before = counts('shadow');
my $n = 0;
for my $i (1 .. 1000) {
	$n++ if $t->http_get("http://$h:$app/half/$i", keep_alive => 1)->{status} == 200;
}
is($n, 1000, 'mirror_percent 50: 1000 answered');
my $copies = counts('shadow')->{mirrored} - $before->{mirrored};
cmp_ok(abs($copies - 500), '<=', 80, "mirror_percent 50: $copies copies of 1000, 500 +- 80");
$t->wait_for(sub { grep({ $_->{target} =~ m{^/half/} } MeshTest::recorded($mrecord)) == $copies },
    what => "the mirror to get the $copies copies");
for (1 .. 50) { $t->http_get("http://$h:$app/never/$_", keep_alive => 1) }
is(counts('shadow')->{mirrored} - $before->{mirrored}, $copies,
    'mirror_percent 0: no copy');

# Every copy is answered, failed or dropped: the counters add up.
for my $cl (qw(shadow hang down stuck)) {
	$c = $t->wait_for(sub { my $c = counts($cl);
	    $c->{responses} + $c->{mirror_failures} + $c->{mirror_dropped} ==
	    $c->{mirrored} ? $c : 0 }, what => "the copies to $cl to end");
	ok($c->{mirrored} > 0, "$cl: mirrored $c->{mirrored} = $c->{responses} answered "
	    . "+ $c->{mirror_failures} failed + $c->{mirror_dropped} dropped");
	is(metric("meshd_cluster_requests_total{cluster=\"$cl\"}"), $c->{mirrored},
	    "$cl: each copy is a request to the cluster");
}
is(metric('meshd_cluster_mirrored_total{cluster="primary"}'), 0,
    'the primary cluster mirrored nothing');

# meshd -t: the mistakes a mirror can have.
my $bad = $t->write_file('bad.conf', <<"EOF");
[meshd]
service = client
admin = $h:$admin

[listener app]
address = $h:$app
cluster = primary

[cluster primary]
endpoint = $hp:$pport

[route typo]
listener = app
cluster = primary
mirror = shadwo

[route answers]
listener = app
direct_response = 200 ok
mirror = primary

[route lone]
listener = app
cluster = primary
mirror_percent = 10
EOF
$r = $t->run($t->meshd_bin, '-t', '-c', $bad);
is($r->{code}, 1, 'meshd -t: mirror mistakes fail');
is(join('', grep { /: error: / } split /^/m, $r->{err}),
    "$bad:15: error: route \"typo\" mirrors to unknown cluster \"shadwo\" [unknown-cluster]\n"
    . "$bad:20: error: route \"answers\" answers itself: it sends no request to mirror [bad-value]\n"
    . "$bad:25: error: route \"lone\" sets mirror_percent but no mirror [missing-key]\n",
    'meshd -t: each at its line');
(my $over = MeshTest::slurp($bad)) =~ s/^mirror_percent = 10$/mirror = primary\nmirror_percent = 101/m;
$t->write_file('bad.conf', $over);
$r = $t->run($t->meshd_bin, '-t', '-c', $bad);
like($r->{err}, qr/^\Q$bad\E:26: error: bad value "101" for "mirror_percent": expected a whole number from 0 to 100 \[bad-value\]$/m,
    'meshd -t: mirror_percent is 0 to 100');

# End to end: meshc compiles a mesh whose route mirrors to a subset and,
# on another path, to another service; the caller's sidecar sends the
# copies over mTLS to the mirrors' sidecars, which see its identity.
SKIP: {
	skip 'meshc is not built', 7 unless -x $t->meshc_bin;
	my ($hw, $ho1, $ho2, $hn) = map { $t->host($_) } 7 .. 10;
	my %port = map { $_ => $t->free_port($hw) }
	    qw(admin base webapp webin oapp oin napp nin);
	my $out = $t->path('mesh');
	my $mesh = $t->write_file('mesh/mesh.conf', <<"EOF");
[mesh]
name = m
registry = registry.conf
admin_port = $port{admin}
outbound_port_base = $port{base}
workers = 1
mtls = strict

[service web]
app_port = $port{webapp}
inbound_port = $port{webin}
depends = orders

[service orders]
app_port = $port{oapp}
inbound_port = $port{oin}
subset = v1 version=v1
subset = next version=next

[service orders-next]
app_port = $port{napp}
inbound_port = $port{nin}

[route subset]
service = orders
path = /subset/
to = v1
mirror = next

[route service]
service = orders
path = /service/
to = v1
mirror = orders-next
EOF
	my $r = $t->meshc('compile', '-o', $out, $mesh);
	is($r->{code}, 0, 'mesh: compiles') or diag $r->{err};
	$r = $t->meshc('certs', '-o', "$out/certs", $mesh);
	is($r->{code}, 0, 'mesh: certificates') or diag $r->{err};
	$t->write_file('mesh/registry.conf', <<"EOF");
[/services/orders/instances/orders-1]
address = $ho1
port = $port{oin}
labels = version=v1

[/services/orders/instances/orders-2]
address = $ho2
port = $port{oin}
labels = version=next

[/services/orders-next/instances/next-1]
address = $hn
port = $port{nin}
EOF
	my %rec = map { $_ => $t->path("$_.requests") } qw(orders-1 orders-2 next-1);
	$t->start_backend(name => 'orders-1-app', listen => "$ho1:$port{oapp}",
	    quiet => 1, record => $rec{'orders-1'});
	$t->start_backend(name => 'orders-2-app', listen => "$ho2:$port{oapp}",
	    quiet => 1, record => $rec{'orders-2'});
	$t->start_backend(name => 'next-1-app', listen => "$hn:$port{napp}",
	    quiet => 1, record => $rec{'next-1'});
	$t->start_meshd(name => 'orders-1', conf => "$out/orders.conf", host => $ho1);
	$t->start_meshd(name => 'orders-2', conf => "$out/orders.conf", host => $ho2);
	$t->start_meshd(name => 'next-1', conf => "$out/orders-next.conf", host => $hn);
	$t->start_meshd(name => 'web', conf => "$out/web.conf", host => $hw);
	my ($local) = MeshTest::slurp("$out/web.conf")
	    =~ /^\[listener orders\]\naddress = [^:]+:(\d+)$/m;
	my @got = map { my $x = $t->http_get("http://$hw:$local/$_/1");
	    "$x->{status} $x->{content}" } qw(subset service);
	is_deeply(\@got, [ "200 orders-1-app\n", "200 orders-1-app\n" ],
	    'mesh: the calls go to v1');
	my @copy = map { my $f = $rec{$_}; @{ $t->wait_for(sub {
	    my @r = MeshTest::recorded($f); @r == 1 ? \@r : 0 },
	    what => "the copy at $_") } } qw(orders-2 next-1);
	is("$copy[0]{target} $copy[1]{target}", '/subset/1 /service/1',
	    'mesh: one copy at the subset, one at the service');
	is($copy[0]{headers}{host}, "$hw-shadow:$local", 'mesh: the copy says -shadow');
	is_deeply([ map { $_->{headers}{'x-forwarded-client-cert'} } @copy ],
	    [ ('URI=spiffe://m/service/web') x 2 ],
	    'mesh: over mTLS, with the caller\'s identity');
	my $m = $t->metrics(join ':', $hw, $port{admin});
	is(join(' ', map { $m->{"meshd_cluster_mirrored_total{cluster=\"$_\"}"} }
	    qw(orders__next orders-next)), '1 1', 'mesh: counted on the caller');
}

$t->done_testing;
