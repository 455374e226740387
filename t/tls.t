#!/usr/bin/perl
# mTLS between sidecars, with real TLS peers (curl, openssl s_client and
# another meshd): a strict inbound listener takes only clients with a
# certificate of the mesh CA; a permissive one takes those and plaintext;
# a cluster with tls = on originates TLS and checks its peer's SPIFFE
# identity. Certificates are made here with the openssl command.
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd');
for my $bin (qw(openssl curl)) {
	plan skip_all => "$bin is not installed"
	    unless grep { -x "$_/$bin" } split /:/, $ENV{PATH};
}
my ($h, $hb, $happ) = map { $t->host($_) } 1 .. 3;
my $app = $t->free_port($happ);
$t->start_backend(name => 'app', listen => "$happ:$app");

# A CA, and certificates for service identities, valid for the hosts.
sub openssl {
	my $r = $t->run({ timeout => 30 }, 'openssl', @_);
	die "openssl @_: $r->{err}" if $r->{code};
}
sub ca {
	my ($name) = @_;
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
	    'ec_paramgen_curve:P-256', '-nodes', '-keyout', $t->path("$name.key"),
	    '-out', $t->path("$name.crt"), '-days', '2', '-subj', "/CN=$name");
}
sub cert {
	my ($name, $ca, $id, $days) = @_;
	$t->write_file("$name.ext", "subjectAltName = URI:$id, IP:$h, IP:$hb\n"
	    . "extendedKeyUsage = serverAuth, clientAuth\n"
	    . "basicConstraints = CA:FALSE\n");
	openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
	    'ec_paramgen_curve:P-256', '-nodes', '-keyout', $t->path("$name.key"),
	    '-out', $t->path("$name.csr"), '-subj', "/CN=$name");
	openssl('x509', '-req', '-in', $t->path("$name.csr"), '-CA',
	    $t->path("$ca.crt"), '-CAkey', $t->path("$ca.key"), '-CAcreateserial',
	    '-out', $t->path("$name.crt"), '-days', $days // 2, '-extfile',
	    $t->path("$name.ext"));
}
ca('ca');
ca('other-ca');
# Public names for the edge listener.
sub web_cert {
	my ($name, $dns) = @_;
	$t->write_file("$name.ext", "subjectAltName = DNS:$dns\n"
	    . "extendedKeyUsage = serverAuth\n");
	openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
	    'ec_paramgen_curve:P-256', '-nodes', '-keyout', $t->path("$name.key"),
	    '-out', $t->path("$name.csr"), '-subj', "/CN=$name");
	openssl('x509', '-req', '-in', $t->path("$name.csr"), '-CA',
	    $t->path("ca.crt"), '-CAkey', $t->path("ca.key"), '-CAcreateserial',
	    '-out', $t->path("$name.crt"), '-days', 2, '-extfile',
	    $t->path("$name.ext"));
}
web_cert('www', 'www.test');
web_cert('api', '*.api.test');
cert('b', 'ca', 'spiffe://test/service/b');
cert('a', 'ca', 'spiffe://test/service/a');
cert('client', 'ca', 'spiffe://test/service/client');
cert('stranger', 'other-ca', 'spiffe://test/service/client');
cert('expired', 'ca', 'spiffe://test/service/client', 0);

my %p = map { $_ => $t->free_port($h) } qw(strict permissive out wrong admin);
my $tcpin = $t->free_port($hb);
my $edge = $t->free_port($hb);
my $bport = $t->free_port($hb);
my $badmin = $t->free_port($hb);
my $dir = $t->dir;

# Sidecar b: its inbound listener is strict, a second one permissive.
my $bconf = $t->write_file('b.conf', <<"EOF");
[meshd]
service = b
admin = $hb:$badmin
tls_cert = $dir/b.crt
tls_key = $dir/b.key
tls_ca = $dir/ca.crt

[listener inbound]
address = $hb:$bport
protocol = http
cluster = local
tls = strict
keepalive_timeout = 300ms

[listener permissive]
address = $hb:$p{permissive}
protocol = http
cluster = local
tls = permissive

[listener edge]
address = $hb:$edge
protocol = http
cluster = local
tls = edge
tls_cert = www.crt
tls_key = www.key
tls_sni = *.api.test api.crt api.key
forwarded_for = on

[listener tcpin]
address = $hb:$tcpin
protocol = tcp
cluster = local
tls = strict

[cluster local]
endpoint = $happ:$app

; Who may call b: the first rule that matches decides; none, 403.
[rule no-admin]
listener = inbound
path = /admin
action = deny

[rule client-reads]
listener = inbound
identity = spiffe://test/service/client
method = GET, HEAD
action = allow

[rule a-calls]
listener = inbound
identity = spiffe://test/service/a
action = allow

; One rule for two listeners.
[rule no-private]
listener = permissive, edge
path = /private
action = deny

[rule loopback-plain]
listener = permissive
source = 127.0.0.1/32
action = allow

[rule client-tls]
listener = permissive
identity = spiffe://test/service/client
action = allow

[rule client-tcp]
listener = tcpin
identity = spiffe://test/service/client
action = allow

[rule edge-rest]
listener = edge
action = allow
EOF
$t->start_meshd(name => 'b', conf => $bconf, host => $hb, admin => "$hb:$badmin");

# Sidecar a calls b over mTLS, once naming b's identity, once another.
my $aconf = $t->write_file('a.conf', <<"EOF");
[meshd]
service = a
admin = $h:$p{admin}
tls_cert = $dir/a.crt
tls_key = $dir/a.key
tls_ca = $dir/ca.crt

[listener b]
address = $h:$p{out}
protocol = http
cluster = b

[listener wrong]
address = $h:$p{wrong}
protocol = http
cluster = wrong

[cluster b]
endpoint = $hb:$bport
tls = on
tls_peer = spiffe://test/service/b

[cluster wrong]
endpoint = $hb:$bport
tls = on
tls_peer = spiffe://test/service/x
retries = 0
EOF
$t->start_meshd(name => 'a', conf => $aconf, host => $h, admin => "$h:$p{admin}");

sub curl { $t->curl(@_) }
my @mine = ('--cacert', "$dir/ca.crt", '--cert', "$dir/client.crt", '--key',
    "$dir/client.key");
my $seen = sub { scalar(() = $t->log_text('app') =~ /^.*GET \/secret.*$/mg) };

my ($rc, $code, $body, $err) = curl(@mine, "https://$hb:$bport/");
is($code, 200, 'strict: a client with a mesh certificate gets through');
is($body, "app\n", '... to the app');

my $before = $seen->();
($rc, $code) = curl('--cacert', "$dir/ca.crt", "https://$hb:$bport/secret");
isnt($rc, 0, 'strict: no client certificate, no handshake');
($rc, $code) = curl('--cacert', "$dir/ca.crt", '--cert', "$dir/stranger.crt",
    '--key', "$dir/stranger.key", "https://$hb:$bport/secret");
isnt($rc, 0, 'strict: a certificate of another CA, no handshake');
($rc, $code) = curl('--cacert', "$dir/ca.crt", '--cert', "$dir/expired.crt",
    '--key', "$dir/expired.key", "https://$hb:$bport/secret");
isnt($rc, 0, 'strict: an expired certificate of the mesh CA, no handshake');
($rc, $code) = curl("http://$hb:$bport/secret");
isnt($code, 200, 'strict: plaintext gets nothing');
is($seen->(), $before, 'and the app saw none of them');

($rc, $code, $body) = curl("http://$hb:$p{permissive}/");
is($code, 200, 'permissive: plaintext gets through');
($rc, $code, $body) = curl(@mine, "https://$hb:$p{permissive}/");
is($code, 200, 'permissive: mTLS too, on the same port');
($rc, $code) = curl('--cacert', "$dir/ca.crt", "https://$hb:$p{permissive}/secret");
isnt($rc, 0, 'permissive: TLS without a client certificate is refused');

my $r = $t->run({ timeout => 20, stdin => "" }, 'openssl', 's_client', '-connect',
    "$hb:$bport", '-CAfile', "$dir/ca.crt", '-cert', "$dir/client.crt",
    '-key', "$dir/client.key", '-alpn', 'http/1.1', '-verify_return_error');
like($r->{out}, qr/Verify return code: 0 \(ok\)/, 'openssl s_client verifies b');
like($r->{out}, qr/ALPN protocol: http\/1\.1/, 'ALPN http/1.1');
like($r->{out}, qr/^New, TLSv1\.3,/m, 'TLS 1.3');

# The edge: TLS for clients outside the mesh, no client certificate,
# the certificate chosen by the name the client asks for (SNI).
($rc, $code, $body) = curl('--cacert', "$dir/ca.crt", '--resolve',
    "www.test:$edge:$hb", "https://www.test:$edge/");
is($code, 200, 'edge: a client with no certificate gets through');
($rc, $code, $body) = curl('--cacert', "$dir/ca.crt", '--resolve',
    "v1.api.test:$edge:$hb", "https://v1.api.test:$edge/");
is($code, 200, 'edge: another name, verified against its own certificate');
like($t->log_text('app'), qr{^.*GET / 200 \(0 bytes in\) for 127\.0\.0\.1 proto https$}m,
    'edge: the app is told the client spoke TLS (X-Forwarded-Proto: https)');
($rc, $code) = curl('--cacert', "$dir/ca.crt", '--resolve',
    "www.test:$edge:$hb", "https://www.test:$edge/private");
is($code, 403, 'a rule for two listeners: the edge takes it');
($rc, $code) = curl("http://$hb:$p{permissive}/private");
is($code, 403, '... and so does the other');
my $em = $t->metrics("$hb:$badmin");
is($em->{"meshd_rule_matches_total{listener=\"$_\",rule=\"no-private\"}"}, 1,
    "counted on $_") for qw(edge permissive);
for my $case (['v1.api.test', 'api'], ['www.test', 'www'], ['other.test', 'www']) {
	my $s = $t->run({ timeout => 20, stdin => "" }, 'openssl', 's_client',
	    '-connect', "$hb:$edge", '-servername', $case->[0]);
	like($s->{out}, qr/^\s*0 s:\s*CN\s*=\s*\Q$case->[1]\E$/m,
	    "edge: SNI $case->[0] gets the $case->[1] certificate");
}
# The edge's own certificate is watched too: renamed over, it is used.
web_cert('www2', 'www.test');
rename $t->path('www2.crt'), "$dir/www.crt" or die $!;
rename $t->path('www2.key'), "$dir/www.key" or die $!;
$t->wait_metric("$hb:$badmin", 'meshd_tls_reloads_total', 1);
$r = $t->run({ timeout => 20, stdin => "" }, 'openssl', 's_client',
    '-connect', "$hb:$edge", '-servername', 'www.test');
like($r->{out}, qr/^\s*0 s:\s*CN\s*=\s*www2$/m,
    'edge: a new certificate renamed over the old is shown at once');

# Authorization on b, by identity, path, method and source network.
my $posts = sub { scalar(() = $t->log_text('app') =~ /^.*POST \/(?:secret|ok).*$/mg) };
$before = $posts->();
($rc, $code, $body) = curl(@mine, '-X', 'POST', '-d', 'x', "https://$hb:$bport/secret");
is($code, 403, 'client may GET, not POST: 403');
is($body, "Forbidden\n", 'with a short body');
($rc, $code) = curl(@mine, "https://$hb:$bport/admin/x");
is($code, 403, 'a deny rule first in the file wins over a later allow');
($rc, $code) = curl('--interface', $h, "http://$hb:$p{permissive}/secret");
is($code, 403, 'permissive: plaintext from another network, 403');
($rc, $code) = curl('--interface', $h, @mine, "https://$hb:$p{permissive}/");
is($code, 200, 'permissive: from there with the client identity, 200');
my $bmet = $t->metrics("$hb:$badmin");
is($bmet->{'meshd_rule_matches_total{listener="inbound",rule="no-admin"}'}, 1,
    'each rule counts what it decided');
is($bmet->{'meshd_listener_errors_total{listener="inbound",cause="forbidden"}'}, 2,
    'the 403s counted as forbidden');
$r = $t->run({ timeout => 20, stdin => "GET / HTTP/1.0\r\n\r\n" }, 'openssl',
    's_client', '-quiet', '-connect', "$hb:$tcpin", '-CAfile', "$dir/ca.crt",
    '-cert', "$dir/client.crt", '-key', "$dir/client.key");
like($r->{out}, qr{^HTTP/1\.1 200 .*\bapp$}ms, 'tcp: the client identity is let through');
$r = $t->run({ timeout => 20, stdin => "GET / HTTP/1.0\r\n\r\n" }, 'openssl',
    's_client', '-quiet', '-connect', "$hb:$tcpin", '-CAfile', "$dir/ca.crt",
    '-cert', "$dir/a.crt", '-key', "$dir/a.key");
unlike($r->{out}, qr{HTTP/1}, 'tcp: another identity is closed on at once');
is($t->metrics("$hb:$badmin")->{'meshd_listener_errors_total{listener="tcpin",cause="forbidden"}'},
    1, 'and counted');

# a → b over mTLS, b's identity checked.
($rc, $code, $body) = curl("http://$h:$p{out}/");
is($code, 200, 'a reaches b over mTLS');
is($body, "app\n", '... and b\'s app answers');
# b closes idle connections after 300 ms: a's next connection resumes its
# TLS session instead of a full handshake.
my $resumed = sub { $t->metrics("$hb:$badmin")->{'meshd_listener_tls_resumed_total{listener="inbound"}'} // 0 };
is($resumed->(), 0, 'no session resumed yet');
$t->wait_for(sub { curl("http://$h:$p{out}/"); $resumed->() > 0 },
    what => 'a connection from a that resumes its session', timeout => 15,
    interval => 0.5);
pass('a resumed its TLS session with b on a new connection');
($rc, $code) = curl('-X', 'POST', '-d', 'x', "http://$h:$p{out}/ok");
is($code, 200, 'a may POST to b (rule a-calls)');
($rc, $code) = curl("http://$h:$p{out}/admin");
is($code, 403, 'but not reach /admin');
is($posts->(), $before + 1, 'the app saw only the POST that was allowed');
like($t->log_text('app'), qr{POST /ok 200 .* caller URI=spiffe://test/service/a$}m,
    'the app is told the verified caller: X-Forwarded-Client-Cert');
($rc, $code) = curl('-H', 'X-Forwarded-Client-Cert: URI=spiffe://test/service/root',
    "http://$hb:$p{permissive}/forged");
is($code, 200, 'a plaintext request claiming an identity');
like($t->log_text('app'), qr{^.*GET /forged 200 \(0 bytes in\)$}m,
    'reaches the app without the claim');
# Two requests in a row, in one curl: b's 300 ms idle timeout may have
# closed the pooled connection before the first, never before the second.
my $conns = sub { $t->metrics("$h:$p{admin}")->{'meshd_cluster_connections_total{cluster="b"}'} };
my $m = $conns->();
($rc, $code, $body) = curl("http://$h:$p{out}/again", "http://$h:$p{out}/again");
is($code, 200, 'two requests in a row from a to b');
cmp_ok($conns->() - $m, '<=', 1,
    'the TLS connection is pooled: no new handshake for the second');
($rc, $code) = curl("http://$h:$p{wrong}/secret");
is($code, 502, 'a peer with another identity: 502');
like($t->log_text('a'), qr{cluster wrong: \Q$hb:$bport\E is "spiffe://test/service/b", not spiffe://test/service/x},
    'logged with both identities');

# Errors in the files: reported with the line of the key.
my $broken = $t->write_file('broken.conf', MeshTest::slurp($bconf) =~
    s{tls_cert = \S+}{tls_cert = $dir/nothere.crt}r);
$r = $t->run($t->meshd_bin, '-t', '-c', $broken);
is($r->{code}, 1, 'meshd -t: a missing certificate fails');
like($r->{err}, qr/broken\.conf:4: error: cannot load the certificate \S+nothere\.crt: .* \[tls\]/,
    '... with its file and line');
my $nolistener = $t->write_file('nolistener.conf', MeshTest::slurp($bconf) =~
    s{^listener = permissive, edge$}{listener = permissive, egde}mr);
$r = $t->run($t->meshd_bin, '-t', '-c', $nolistener);
like($r->{err}, qr/nolistener\.conf:\d+: error: rule "no-private" is for unknown listener "egde" \[unknown-listener\]/,
    'a rule for an unknown listener in a list');
my $nokey = $t->write_file('nokey.conf', MeshTest::slurp($bconf) =~
    s{tls_key = \S+}{tls_key = $dir/a.key}r);
$r = $t->run($t->meshd_bin, '-t', '-c', $nokey);
like($r->{err}, qr/nokey\.conf:5: error: cannot use the key \S+a\.key with the certificate/,
    'a key that is not the certificate\'s');

# Rotation under load: b's certificate and key are renamed over the old
# ones while wrk calls b through a; b loads them without a reload, and
# no request fails.
my $bm = sub { $t->metrics("$hb:$badmin")->{$_[0]} // 0 };
like(join(' ', keys %{ $t->metrics("$hb:$badmin") }),
    qr/meshd_tls_certificate_expiry_timestamp_seconds\{path="\Q$dir\E\/b\.crt"\}/,
    'the certificate\'s expiry on /metrics');
my $expiry = $bm->("meshd_tls_certificate_expiry_timestamp_seconds{path=\"$dir/b.crt\"}");
cmp_ok($expiry, '>', time, 'in the future');
$t->spawn(name => 'wrk', cmd => ['wrk', '-t', '1', '-c', '10', '-d', '30s',
    "http://$h:$p{out}/"]);
my $m0 = $t->metrics("$h:$p{admin}")->{'meshd_cluster_requests_total{cluster="b"}'} // 0;
$t->wait_for(sub { ($t->metrics("$h:$p{admin}")->{'meshd_cluster_requests_total{cluster="b"}'} // 0) > $m0 + 200 },
    what => 'wrk to get going');
cert('b2', 'ca', 'spiffe://test/service/b', 3);
my $reloads = $bm->('meshd_tls_reloads_total');
rename $t->path('b2.crt'), "$dir/b.crt" or die $!;
rename $t->path('b2.key'), "$dir/b.key" or die $!;
cmp_ok($t->wait_metric("$hb:$badmin", 'meshd_tls_reloads_total', $reloads + 1),
    '>', $reloads,
    'b loaded its new certificate (once for each file watched that changed)');
cmp_ok($bm->("meshd_tls_certificate_expiry_timestamp_seconds{path=\"$dir/b.crt\"}"),
    '>', $expiry, 'the new expiry (a day later) on /metrics');
$r = $t->run({ timeout => 20, stdin => "" }, 'openssl', 's_client', '-connect',
    "$hb:$bport", '-CAfile', "$dir/ca.crt", '-cert', "$dir/client.crt",
    '-key', "$dir/client.key");
like($r->{out}, qr/^\s*0 s:\s*CN\s*=\s*b2$/m, 'new handshakes get it');
my $n = $t->metrics("$h:$p{admin}")->{'meshd_cluster_requests_total{cluster="b"}'};
$t->wait_for(sub { $t->metrics("$h:$p{admin}")->{'meshd_cluster_requests_total{cluster="b"}'} > $n + 200 },
    what => 'more requests after the rotation');
$t->signal('wrk', 'INT');
$t->wait_exit('wrk');
my $out = $t->log_text('wrk');
like($out, qr/\d+ requests in/, 'wrk ran');
unlike($out, qr/Socket errors|Non-2xx/, 'no request failed across the rotation')
    or diag $out;

# A broken certificate, then an expired one: the one in use stays.
my $failures = $bm->('meshd_tls_reload_failures_total');
$t->write_file('junk.crt', "-----BEGIN CERTIFICATE-----\nnot one\n");
rename $t->path('junk.crt'), "$dir/b.crt" or die $!;
is($t->wait_metric("$hb:$badmin", 'meshd_tls_reload_failures_total',
    $failures + 1), $failures + 1, 'a broken certificate is counted');
like($t->log_text('b'), qr/b\.conf:\d+: error: cannot load the certificate \S+b\.crt: .*\[tls\]/,
    'and logged with its path and why');
cert('old', 'ca', 'spiffe://test/service/b', 0);
rename $t->path('old.key'), "$dir/b.key" or die $!;
rename $t->path('old.crt'), "$dir/b.crt" or die $!;
$t->wait_for(sub { $t->log_text('b') =~ /has expired/ },
    what => 'the expired certificate to be refused');
like($t->log_text('b'), qr/b\.conf:\d+: error: the certificate \S+b\.crt has expired \[tls\]/,
    'an expired certificate is refused, with its path');
($rc, $code, $body) = curl("http://$h:$p{out}/");
is($code, 200, 'a still reaches b');
$r = $t->run({ timeout => 20, stdin => "" }, 'openssl', 's_client', '-connect',
    "$hb:$bport", '-CAfile', "$dir/ca.crt", '-cert', "$dir/client.crt",
    '-key', "$dir/client.key");
like($r->{out}, qr/^\s*0 s:\s*CN\s*=\s*b2$/m, 'with the last good certificate');

$t->done_testing;
