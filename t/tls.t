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
	my ($name, $ca, $id) = @_;
	$t->write_file("$name.ext", "subjectAltName = URI:$id, IP:$h, IP:$hb\n"
	    . "extendedKeyUsage = serverAuth, clientAuth\n"
	    . "basicConstraints = CA:FALSE\n");
	openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
	    'ec_paramgen_curve:P-256', '-nodes', '-keyout', $t->path("$name.key"),
	    '-out', $t->path("$name.csr"), '-subj', "/CN=$name");
	openssl('x509', '-req', '-in', $t->path("$name.csr"), '-CA',
	    $t->path("$ca.crt"), '-CAkey', $t->path("$ca.key"), '-CAcreateserial',
	    '-out', $t->path("$name.crt"), '-days', '2', '-extfile',
	    $t->path("$name.ext"));
}
ca('ca');
ca('other-ca');
cert('b', 'ca', 'spiffe://test/service/b');
cert('a', 'ca', 'spiffe://test/service/a');
cert('client', 'ca', 'spiffe://test/service/client');
cert('stranger', 'other-ca', 'spiffe://test/service/client');

my %p = map { $_ => $t->free_port($h) } qw(strict permissive out wrong admin);
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

[listener permissive]
address = $hb:$p{permissive}
protocol = http
cluster = local
tls = permissive

[cluster local]
endpoint = $happ:$app
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

sub curl {
	my (@args) = @_;
	my $r = $t->run({ timeout => 20 }, 'curl', '-s', '-S', '--max-time', '5',
	    '-o', '-', '-w', '\n%{http_code}', @args);
	my ($body, $code) = $r->{out} =~ /\A(.*)\n(\d+)\z/s;
	return ($r->{code}, $code // 0, $body // '', $r->{err});
}
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

# a → b over mTLS, b's identity checked.
($rc, $code, $body) = curl("http://$h:$p{out}/");
is($code, 200, 'a reaches b over mTLS');
is($body, "app\n", '... and b\'s app answers');
my $m = $t->metrics("$h:$p{admin}");
($rc, $code, $body) = curl("http://$h:$p{out}/again");
is($t->metrics("$h:$p{admin}")->{'meshd_cluster_connections_total{cluster="b"}'},
    $m->{'meshd_cluster_connections_total{cluster="b"}'},
    'the TLS connection is pooled: no new handshake for the next request');
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
my $nokey = $t->write_file('nokey.conf', MeshTest::slurp($bconf) =~
    s{tls_key = \S+}{tls_key = $dir/a.key}r);
$r = $t->run($t->meshd_bin, '-t', '-c', $nokey);
like($r->{err}, qr/nokey\.conf:5: error: cannot use the key \S+a\.key with the certificate/,
    'a key that is not the certificate\'s');

$t->done_testing;
