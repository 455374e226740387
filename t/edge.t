#!/usr/bin/perl
# Edges from meshc: a mesh whose web service has a TLS edge with SNI
# certificates and a plain one, and whose tcp cache has a TLS edge, is
# compiled and given meshc certs' development certificates; the compiled
# sidecars run, and curl and openssl s_client come in from outside the
# mesh: the certificate verified against the CA, the one SNI names
# chosen, no client certificate asked (the strict inbound listener of the
# same sidecar still wants one), the service's rules on the edges too,
# the app told the client's address and that it spoke TLS, and the mesh's
# TLS ciphers and groups held to.
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd', 'meshc');
for my $bin (qw(openssl curl)) {
	plan skip_all => "$bin is not installed"
	    unless grep { -x "$_/$bin" } split /:/, $ENV{PATH};
}
my ($hw, $hc) = map { $t->host($_) } 1, 2;
my %w = map { $_ => $t->free_port($hw) } qw(app inbound public plain admin);
my %c = map { $_ => $t->free_port($hc) } qw(app inbound tls);
$t->start_backend(name => 'web-app', listen => "$hw:$w{app}");
$t->start_backend(name => 'cache-app', listen => "$hc:$c{app}");

# The admin port is the mesh's: one for both sidecars, on their hosts.
my $mesh = $t->write_file('mesh/mesh.conf', <<"EOF");
[mesh]
name = shop
registry = registry.conf
admin_port = $w{admin}
mtls = strict
tls_ciphers = ECDHE-ECDSA-AES256-GCM-SHA384
tls_groups = P-256

[service web]
app_port = $w{app}
inbound_port = $w{inbound}
forwarded_for = on

[service cache]
protocol = tcp
app_port = $c{app}
inbound_port = $c{inbound}

[edge public]
service = web
port = $w{public}
tls_cert = www.crt
tls_key = www.key
tls_sni = api.shop.test api-shop.crt api-shop.key
tls_sni = *.img.shop.test img.crt img.key

[edge plain]
service = web
port = $w{plain}

[edge cache-tls]
service = cache
port = $c{tls}
tls_cert = cache-edge.crt
tls_key = cache-edge.key

[rule no-admin]
service = web
path = /admin
action = deny

[rule anyone]
service = web
action = allow
EOF
my $dir = $t->path('mesh');
my $out = "$dir/out";
my $r = $t->run({ dir => $dir }, $t->meshc_bin, 'compile', '-Werror', '-o',
    $out, 'mesh.conf');
is($r->{code}, 0, 'the mesh with edges compiles') or diag $r->{err};
is($r->{err}, '', 'without a diagnostic');
$r = $t->run({ dir => $dir }, $t->meshc_bin, 'certs', '-o', "$out/certs",
    'mesh.conf');
is($r->{code}, 0, 'meshc certs') or diag $r->{err};
ok(-s "$out/certs/$_", "meshc certs wrote $_") for qw(www.crt www.key
    api-shop.crt api-shop.key img.crt img.key cache-edge.crt cache-edge.key);
$t->write_file('mesh/out/registry.conf', "; no instances: no cluster needs any\n");
my $web = MeshTest::slurp("$out/web.conf");
like($web, qr/^\[rule no-admin\]\nlistener = inbound\nlistener = public\nlistener = plain\naction = deny$/m,
    "web's rules guard its inbound listener and both edges");

$t->start_meshd(name => 'web', conf => "$out/web.conf", host => $hw);
$t->start_meshd(name => 'cache', conf => "$out/cache.conf", host => $hc);

sub curl { $t->curl(@_) }
# A client outside the mesh: it knows the CA (a browser would know the
# public one) and has no certificate of its own.
sub outside {
	my ($name, $port, $path) = @_;
	return curl('--cacert', "$out/certs/ca.crt", '--resolve',
	    "$name:$port:$hw", "https://$name:$port$path");
}
# The subject names of the certificate the edge shows for a name.
sub shown {
	my ($host, $port, $name) = @_;
	my $s = $t->run({ timeout => 20, stdin => '' }, 'openssl', 's_client',
	    '-connect', "$host:$port", '-servername', $name, '-showcerts');
	my ($pem) = $s->{out} =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/s
	    or return ('', $s->{out});
	my $x = $t->run({ timeout => 20, stdin => "$pem\n" }, 'openssl', 'x509',
	    '-noout', '-ext', 'subjectAltName');
	my @dns = $x->{out} =~ /DNS:([^,\s]+)/g;
	return (join(' ', @dns), $s->{out});
}

my ($rc, $code, $body, $err) = outside('localhost', $w{public}, '/');
is($code, 200, 'public: a client without a certificate gets through, the '
    . "edge's own certificate verified") or diag $err;
is($body, "web-app\n", '... to the app');
($rc, $code, $body, $err) = outside('api.shop.test', $w{public}, '/api');
is($code, 200, 'public: api.shop.test, verified against its own certificate')
    or diag $err;
($rc, $code, $body, $err) = outside('cdn.img.shop.test', $w{public}, '/logo');
is($code, 200, 'public: a name the wildcard *.img.shop.test covers') or diag $err;
my ($names, $text) = shown($hw, $w{public}, 'api.shop.test');
is($names, 'api.shop.test', 'SNI api.shop.test: its certificate');
($names) = shown($hw, $w{public}, 'cdn.img.shop.test');
is($names, '*.img.shop.test', 'SNI cdn.img.shop.test: the wildcard one');
($names, $text) = shown($hw, $w{public}, 'elsewhere.test');
is($names, 'localhost', "another name: the edge's own certificate");
unlike($text, qr/^Requested Signature Algorithms/m,
    'no client certificate asked for');
(undef, $text) = shown($hw, $w{inbound}, 'elsewhere.test');
like($text, qr/^Requested Signature Algorithms/m,
    'where the strict inbound listener of the same sidecar asks for one');
($rc, $code) = curl('--cacert', "$out/certs/ca.crt", "https://$hw:$w{inbound}/");
isnt($rc, 0, 'while the strict inbound listener of the same sidecar wants one');

like($t->log_text('web-app'), qr{^.*GET /api 200 \(0 bytes in\) for 127\.0\.0\.1 proto https$}m,
    'the app is told the client\'s address, and that it spoke TLS');
($rc, $code, $body) = curl("http://$hw:$w{plain}/plain");
is($code, 200, 'plain: plain HTTP from outside');
like($t->log_text('web-app'), qr{^.*GET /plain 200 \(0 bytes in\) for 127\.0\.0\.1 proto http$}m,
    '... told so');

# web's rules, on both edges.
my $before = () = $t->log_text('web-app') =~ m{GET /admin}g;
($rc, $code) = outside('localhost', $w{public}, '/admin/users');
is($code, 403, "public: web's deny rule");
($rc, $code) = curl("http://$hw:$w{plain}/admin");
is($code, 403, 'plain: the same');
is(scalar(() = $t->log_text('web-app') =~ m{GET /admin}g), $before,
    'the app saw neither');
my $m = $t->metrics($t->admin('web'));
is($m->{"meshd_rule_matches_total{listener=\"$_\",rule=\"no-admin\"}"}, 1,
    "the rule counted on $_") for qw(public plain);
is($m->{'meshd_listener_requests_total{listener="public"}'}, 4,
    'the public edge counted its requests');

# The mesh's TLS 1.2 ciphers and groups hold at the edge.
sub hello {
	my (@args) = @_;
	my $s = $t->run({ timeout => 20, stdin => '' }, 'openssl', 's_client',
	    '-connect', "$hw:$w{public}", '-servername', 'localhost', @args);
	return $s->{out} =~ /^New, TLSv1\.[23], Cipher is (\S+)/m ? $1 : '';
}
is(hello('-tls1_2'), 'ECDHE-ECDSA-AES256-GCM-SHA384',
    'tls_ciphers: TLS 1.2 gets the one cipher the mesh allows');
is(hello('-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'), '',
    'tls_ciphers: a client with only another gets no handshake');
isnt(hello('-groups', 'P-256'), '', 'tls_groups: P-256 is taken');
is(hello('-groups', 'X25519'), '', 'tls_groups: X25519 alone is not');

# The tcp edge: TLS in, bytes to the cache's app.
$r = $t->run({ timeout => 20, stdin => "GET /tunnel HTTP/1.0\r\n\r\n" },
    'openssl', 's_client', '-quiet', '-connect', "$hc:$c{tls}", '-servername',
    'localhost', '-CAfile', "$out/certs/ca.crt", '-verify_return_error');
like($r->{out}, qr{^HTTP/1\.1 200 .*\bcache-app$}ms,
    'cache-tls: TLS from outside, verified, passed on as bytes');

# An assigned outbound port skips the edges' ports: with the base taken
# by an edge, a and b get the two ports after it.
my $base = $t->write_file('base/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
tls_groups = P-256
[service a]
app_port = 8001
inbound_port = 7001
depends = b
[service b]
app_port = 8002
inbound_port = 7002
[edge a-public]
service = a
port = 15001
[edge b-public]
service = b
port = 443
tls_cert = b-public.crt
tls_key = b-public.key
EOF
$r = $t->meshc('compile', '-o', $t->path('base'), $base);
is($r->{code}, 0, 'an edge on the outbound port base compiles') or diag $r->{err};
like(MeshTest::slurp($t->path('base/a.conf')),
    qr/^\[listener b\]\naddress = 127\.0\.0\.1:15003$/m,
    'the assigned outbound ports are past it');
unlike(MeshTest::slurp($t->path('base/a.conf')), qr/^tls_/m,
    'a sidecar that speaks no TLS has no TLS keys');
like(MeshTest::slurp($t->path('base/b.conf')),
    qr/^\[meshd\]\n(?:\w+ = .*\n)*tls_groups = P-256\n/m,
    'one with a TLS edge has the mesh\'s groups');

$t->done_testing;
