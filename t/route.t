#!/usr/bin/perl
# Routes on an http listener, with real backends that echo what they got:
# matching on path (prefix, exact, regex), method and header fields (value,
# regex, present, absent) in the file's order; sending to a cluster or a
# weighted split; rewriting the path prefix; adding and removing fields;
# answering directly or with a redirect; and the errors meshd -t reports.
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hv1, $hv2) = map { $t->host($_) } 1 .. 3;
my $port = $t->free_port($hv1);
$t->start_backend(name => 'v1', listen => "$hv1:$port", quiet => 1);
$t->start_backend(name => 'v2', listen => "$hv2:$port", quiet => 1);
my $hbad = $t->host(4);
$t->start_backend(name => 'bad', listen => "$hbad:$port", quiet => 1,
    status => 503);

# A raw upstream that shows what the request looked like once routed.
my $raw_port = $t->free_port($h);
my $raw = IO::Socket::INET->new(LocalAddr => $h, LocalPort => $raw_port,
    Listen => 5, ReuseAddr => 1) or die "raw: $!";

my ($app, $admin) = map { $t->free_port($h) } 1 .. 2;
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = client
admin = $h:$admin
workers = 1

[listener app]
address = $h:$app
protocol = http
cluster = v1

[cluster v1]
endpoint = $hv1:$port

[cluster v2]
endpoint = $hv2:$port

[cluster raw]
endpoint = $h:$raw_port

[cluster mixed]
endpoint = $hv1:$port
endpoint = $hbad:$port
retry_backoff = off

[route pay]
listener = app
path = /pay
cluster = mixed
retries = 1
retry_on = 503
retry_non_idempotent = on

[route other]
listener = app
path = /other
cluster = mixed

[route health]
listener = app
path_exact = /healthz
direct_response = 200 ok

[route old]
listener = app
path = /old/
redirect = 301 https://example.com/new/

[route canary]
listener = app
header = X-Canary: yes
cluster = v2

[route beta-user]
listener = app
header_regex = X-User: ^beta-[0-9]+\$
cluster = v2

[route debug]
listener = app
header_present = X-Debug
header_absent = X-Prod
method = GET, HEAD
cluster = v2

[route versioned]
listener = app
path_regex = ^/v[0-9]+/items\$
cluster = v2

[route api]
listener = app
path = /api/
rewrite_prefix = /internal/
add_header = X-Route: api
add_header = X-Team: core
add_header = X-Tight:v
remove_header = X-Secret
cluster = raw

[route split]
listener = app
path = /split
split = v1 75, v2 25
EOF
my $r = $t->run($t->meshd_bin, '-t', '-c', $conf);
is($r->{code}, 0, 'meshd -t accepts the routes') or diag $r->{err};
$t->start_meshd(name => 'meshd', conf => $conf, host => $h, admin => "$h:$admin");
my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 5, max_redirect => 0);

sub who {
	my ($path, %hdr) = @_;
	my $res = $ua->get("http://$h:$app$path", { headers => \%hdr });
	(my $b = $res->{content} // '') =~ s/\s+\z//;
	return "$res->{status} $b";
}

is(who('/'), '200 v1', 'no route matches: the listener\'s cluster');
is(who('/healthz'), '200 ok', 'path_exact: a direct response');
is(who('/healthz/x'), '200 v1', '... exact only');
my $res = $ua->get("http://$h:$app/old/page");
is($res->{status}, 301, 'path prefix: a redirect');
is($res->{headers}{location}, 'https://example.com/new/', 'with its Location');
is(who('/', 'X-Canary' => 'yes'), '200 v2', 'header: exact value');
is(who('/', 'X-Canary' => 'Yes'), '200 v1', '... case matters in the value');
is(who('/', 'X-User' => 'beta-42'), '200 v2', 'header_regex');
is(who('/', 'X-User' => 'beta-42x'), '200 v1', '... anchored');
is(who('/', 'X-Debug' => '1'), '200 v2', 'header_present, header_absent, method');
is(who('/', 'X-Debug' => '1', 'X-Prod' => '1'), '200 v1', '... absent means absent');
my $post = $ua->post("http://$h:$app/", { headers => { 'X-Debug' => 1 }, content => 'x' });
like($post->{content}, qr/^v1 /, '... and POST is not GET or HEAD');
is(who('/v2/items'), '200 v2', 'path_regex');
is(who('/v2/items/9'), '200 v1', '... anchored at the end');
is(who('/v2/items?x=1'), '200 v2', '... on the path, not the query');

# The first match wins: a canary request to /healthz is answered by the
# health route, which comes first.
is(who('/healthz', 'X-Canary' => 'yes'), '200 ok', 'routes are tried in order');

# Rewrite and fields, seen by the raw upstream.
my $c = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $app) or die $!;
print $c "GET /api/users?id=7 HTTP/1.1\r\nHost: x\r\nX-Secret: s3\r\nX-Keep: k\r\n\r\n";
my $peer = $raw->accept or die "accept: $!";
my $head = '';
while (defined(my $l = <$peer>)) { $head .= $l; last if $l eq "\r\n" }
like($head, qr{^GET /internal/users\?id=7 HTTP/1\.1\r\n}, 'rewrite_prefix keeps the rest and the query');
like($head, qr/^X-Route: api\r$/m, 'add_header');
like($head, qr/^X-Team: core\r$/m, 'add_header, twice');
like($head, qr/^X-Tight: v\r$/m, 'add_header without a space after the colon');
unlike($head, qr/X-Secret/i, 'remove_header');
like($head, qr/^X-Keep: k\r$/m, 'other fields pass');
print $peer "HTTP/1.1 204 No Content\r\n\r\n";
my $status = <$c>;
like($status, qr{^HTTP/1\.1 204 }, 'the answer comes back');
close $peer;
close $c;

# A route's retry policy over its cluster's: POSTs to /pay are retried
# on a 503 (the cluster alone retries neither POSTs nor 503s). Without a
# body: a body is streamed, not kept, so it cannot be sent twice.
my %pay;
for my $path (qw(pay pay pay pay other other other other)) {
	my $r = $ua->post("http://$h:$app/$path", { content => "" });
	$pay{"$path $r->{status}"}++;
}
is_deeply(\%pay, { 'pay 200' => 4, 'other 200' => 2, 'other 503' => 2 },
    'route retries POST on 503; the plain cluster answers its 503');

# A weighted split over 400 requests: 75/25 within 6 points.
my %n;
$n{ (split / /, who('/split'))[1] }++ for 1 .. 400;
cmp_ok(abs(($n{v1} // 0) / 4 - 75), '<=', 6, "split: v1 took $n{v1} of 400 (75%)");
cmp_ok(abs(($n{v2} // 0) / 4 - 25), '<=', 6, "split: v2 took $n{v2} of 400 (25%)");

# Errors, each with its line.
my $bad = $t->write_file('bad.conf', <<"EOF");
[meshd]
service = client
admin = $h:$admin

[listener app]
address = $h:$app
protocol = http
cluster = v1

[cluster v1]
endpoint = $hv1:$port

[route a]
listener = nowhere
path_regex = ^/(x
cluster = v9

[route b]
listener = app
header = NoColon
split = v1 50, v1
EOF
$r = $t->run($t->meshd_bin, '-t', '-c', $bad);
is($r->{code}, 1, 'meshd -t rejects bad routes');
like($r->{err}, qr/bad\.conf:14: error: route "a" is for unknown listener "nowhere" \[unknown-listener\]/,
    'an unknown listener');
like($r->{err}, qr/bad\.conf:15: error: bad value "\^\/\(x" for "path_regex": regex error at offset 4: missing closing parenthesis \[bad-value\]/,
    'a regex that does not compile');
like($r->{err}, qr/bad\.conf:16: error: route "a" sends to unknown cluster "v9" \[unknown-cluster\]/,
    'an unknown cluster');
like($r->{err}, qr/bad\.conf:20: error: bad value "NoColon" for "header": expected "Name: value"/,
    'a header match without a value');
like($r->{err}, qr/bad\.conf:21: error: bad value "v1 50, v1" for "split"/,
    'a split without its last weight');

$t->done_testing;
