#!/usr/bin/perl
# The I/O of TLS connections (src/tlsconn.c: meshd reads and writes the
# sockets under libevent's OpenSSL filter), across one mTLS hop: a (plain
# in, TLS out) to b (TLS in, plain out), certificates from meshc certs.
#
# - A tunnel (protocol=tcp) over the hop: bytes both ways; the client's
#   half-close reaches the upstream after its bytes, the upstream's answer
#   and close reach the client; 64 MiB each way at once, both readers
#   slower than the writers, arrive whole and exact while neither meshd's
#   private memory grows by 4 MiB; and 4 MiB then the client's end, into
#   b's small buffers and a slow upstream: b gets the end while records
#   wait undecrypted, and passes all of them on first, without spinning.
# - HTTP over the hop: a 32 MiB body that ends with the connection (no
#   length), read slowly, arrives whole: b ends its TLS stream only after
#   its last record is out, a ends its client's only after the last byte;
#   a 32 MiB upload to a slow upstream arrives whole; memory flat again.
# - A TLS client pipelining 16 MiB behind a slow answer: b reads no more
#   than its buffer_size meanwhile (memory flat), then answers 414.
# - Timeouts kept on the TLS sockets: a's response_timeout while b's
#   upstream is late, a's connect_timeout with an endpoint that takes the
#   TCP connection and never answers the TLS handshake: 504 each, in about
#   that time.
#
# Every socket read has a deadline: a meshd that hangs fails the test.
use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use Socket qw(SHUT_WR);
use Time::HiRes qw(time);
use MeshSock;
use MeshTest qw(rss_anon cpu_seconds);

my $t = MeshTest->new;
$t->require_binaries('meshd', 'meshc');
plan skip_all => 'openssl is not installed'
    unless grep { -x "$_/openssl" } split /:/, $ENV{PATH};
my ($h, $hb, $hc) = map { $t->host($_) } 1 .. 3;
my $dir = $t->dir;
my $MiB = 1 << 20;
my $BIG = 32 * $MiB;

# A development PKI for a and b (URI SAN spiffe://test/service/NAME).
$t->write_file('pki/registry.conf', '');
$t->write_file('pki/mesh.conf', <<'EOF');
[mesh]
name = tlsio
registry = registry.conf
trust_domain = test
mtls = strict

[service a]
app_port = 9001
inbound_port = 9101

[service b]
app_port = 9002
inbound_port = 9102
EOF
my $r = $t->meshc('certs', '-o', "$dir/certs", "$dir/pki/mesh.conf");
die "meshc certs: $r->{out}$r->{err}" if $r->{code};

# The upstreams, on their own host.
sub listener {
	my ($port) = @_;
	return IO::Socket::INET->new(LocalAddr => $hc, LocalPort => $port,
	    Proto => 'tcp', Listen => 5, ReuseAddr => 1)
	    // die "listen $hc:$port: $!";
}
my %up = map { $_ => $t->free_port($hc) } qw(bulk http app silent);
my $bulk_lsn = listener($up{bulk});
my $http_lsn = listener($up{http});
# Takes TCP connections (the kernel completes them) and never a byte.
my $silent_lsn = listener($up{silent});
$t->start_backend(name => 'app', listen => "$hc:$up{app}");

# Block $i of a body: 1 MiB, numbered in its first 8 bytes.
sub block { pack('Q>', $_[0]) . ('z' x ($MiB - 8)) }
my $big_md5 = do {
	my $d = Digest::MD5->new;
	$d->add(block($_)) for 0 .. $BIG / $MiB - 1;
	$d->hexdigest;
};

# The HTTP upstream: GET sends $BIG bytes with no length and closes; POST
# reads its body slower than it comes and says how much it got.
my $http_child = body_server($http_lsn, read => 64 * 1024,
    head => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
    blocks => $BIG / $MiB, block => \&block);
close $http_lsn;

my %b = map { $_ => $t->free_port($hb) } qw(admin tunnel trickle http slow);
my %a = map { $_ => $t->free_port($h) } qw(admin tunnel trickle http slow
    silent);
my $peer = 'tls_peer = spiffe://test/service/b';
# A sidecar's [meshd] section: one worker, its certificate from meshc.
sub sidecar {
	my ($name, $addr) = @_;
	return "[meshd]\nservice = $name\nadmin = $addr\nworkers = 1\n"
	    . "tls_cert = $dir/certs/$name.crt\ntls_key = $dir/certs/$name.key\n"
	    . "tls_ca = $dir/certs/ca.crt\n";
}
my $bconf = $t->write_file('b.conf', sidecar('b', "$hb:$b{admin}") . <<"EOF");

[listener tunnel]
address = $hb:$b{tunnel}
protocol = tcp
cluster = bulk
tls = strict

; Takes little from a at a time: most of what a sends waits in b.
[listener trickle]
address = $hb:$b{trickle}
protocol = tcp
cluster = bulk
tls = strict
buffer_size = 16k

[listener http]
address = $hb:$b{http}
cluster = http
tls = strict

[listener slow]
address = $hb:$b{slow}
cluster = app
tls = strict

[cluster bulk]
endpoint = $hc:$up{bulk}

[cluster http]
endpoint = $hc:$up{http}

[cluster app]
endpoint = $hc:$up{app}
EOF
my $aconf = $t->write_file('a.conf', sidecar('a', "$h:$a{admin}") . <<"EOF");

[listener tunnel]
address = $h:$a{tunnel}
protocol = tcp
cluster = tunnel

[listener trickle]
address = $h:$a{trickle}
protocol = tcp
cluster = trickle

[listener http]
address = $h:$a{http}
cluster = http

[listener slow]
address = $h:$a{slow}
cluster = slow

[listener silent]
address = $h:$a{silent}
cluster = silent

[cluster tunnel]
endpoint = $hb:$b{tunnel}
tls = on
$peer

[cluster trickle]
endpoint = $hb:$b{trickle}
tls = on
$peer

[cluster http]
endpoint = $hb:$b{http}
tls = on
$peer

[cluster slow]
endpoint = $hb:$b{slow}
tls = on
$peer
response_timeout = 500ms
retries = 0

[cluster silent]
endpoint = $hc:$up{silent}
tls = on
connect_timeout = 300ms
retries = 0
EOF
my $bpid = $t->start_meshd(name => 'b', conf => $bconf, host => $hb);
my $apid = $t->start_meshd(name => 'a', conf => $aconf, host => $h);
my $sanitized = $t->sanitized;

# The largest growth of both meshds' private memory since the last reset.
my (%base, %max);
sub mem_reset { %base = %max = (a => rss_anon($apid), b => rss_anon($bpid)) }
sub mem_tick {
	for my $k (qw(a b)) {
		my $kb = rss_anon($k eq 'a' ? $apid : $bpid);
		$max{$k} = $kb if $kb > $max{$k};
	}
}
sub mem_flat {
	my ($what) = @_;
	SKIP: {
		skip 'memory figures mean nothing under the sanitizers', 2
		    if $sanitized;
		for my $k (qw(a b)) {
			my $growth = $max{$k} - $base{$k};
			cmp_ok($growth, '<', 4096,
			    "$what: $k\'s RssAnon grew $growth KiB (< 4 MiB)");
		}
	}
}

#
# The tunnel.
#
my $s = connect_to($h, $a{tunnel});
my $c = raw_accept($bulk_lsn) // die 'tunnel: b did not connect';
send_bytes($s, "ping\0");
is(read_exactly($c, 5), "ping\0", 'tunnel: the client\'s bytes reach the upstream');
send_bytes($c, "pong\xff");
is(read_exactly($s, 5), "pong\xff", 'tunnel: the upstream\'s bytes reach the client');
send_bytes($s, 'bye');
shutdown($s, SHUT_WR);
my ($all, $how) = read_to_eof($c);
is("$all $how", 'bye eof', 'tunnel: the client\'s half-close reaches the upstream after its bytes');
send_bytes($c, 'late');
close $c;
($all, $how) = read_to_eof($s);
is("$all $how", 'late eof', 'tunnel: the upstream\'s answer still comes back, then its close');
close $s;

# 64 MiB each way at once; the upstream end in a child.
my $BULK = 64 * $MiB;
my $theirs = duplex_child($bulk_lsn, $BULK);
END { kill 'KILL', $http_child if $http_child }

mem_reset();
my $ticks = 0;
$s = connect_to($h, $a{tunnel});
my @mine = eval { duplex($s, $BULK, sub { mem_tick() unless ++$ticks % 16 }) };
is($@, '', 'bulk: the client sent 64 MiB and read to EOF');
close $s;
my @theirs = $theirs->();
is(scalar @theirs, 3, 'bulk: the upstream sent 64 MiB and read to EOF')
    or diag "@theirs";
ok(($theirs[1] // 0) == $BULK && ($theirs[2] // '') eq ($mine[0] // ''),
    'bulk: the upstream got exactly the client\'s 64 MiB');
ok(($mine[1] // 0) == $BULK && ($mine[2] // '') eq ($theirs[0] // 'x'),
    'bulk: the client got exactly the upstream\'s 64 MiB');
mem_flat('bulk');

# The client's end behind a slow upstream, through b's small buffers: b
# holds records it has not decrypted yet when the end arrives, and must
# pass on all of them first.
my $HALF = 4 * $MiB;
my $cpu = cpu_seconds($bpid);
my $writer = fork // die "fork: $!";
if ($writer == 0) {
	my $s = connect_to($h, $a{trickle});
	for my $i (0 .. $HALF / $MiB - 1) {
		write_all($s, block($i)) or _exit(1);
	}
	shutdown($s, SHUT_WR);
	read_to_eof($s);
	_exit(0);
}
$c = raw_accept($bulk_lsn) // die 'half-close: b did not connect';
my ($got, $eof, $stalled, $deadline) = (0, 0, 0, time + 60);
my $d = Digest::MD5->new;
while (time < $deadline) {
	my $n = IO::Select->new($c)->can_read(IO_TIMEOUT) ?
	    sysread($c, my $more, 16 * 1024) : undef;
	last unless defined $n;
	if ($n == 0) {
		$eof = 1;
		last;
	}
	$got += $n;
	$d->add($more);
	# Once, a second's stall near the end: b has had the end by then.
	select(undef, undef, undef, $got > $HALF - $MiB && !$stalled++ ? 1 :
	    0.002);
}
close $c;
waitpid($writer, 0);
ok($eof && $got == $HALF, "half-close: a slow upstream read 4 MiB, then the end ($got)");
is($d->hexdigest, md5_hex(map { block($_) } 0 .. $HALF / $MiB - 1),
    'half-close: exactly the client\'s bytes');
# Not spinning on the end meanwhile: milliseconds of work.
$cpu = cpu_seconds($bpid) - $cpu;
cmp_ok($cpu, '<', 0.5, sprintf 'half-close: b used %.2f s of CPU for it', $cpu);

#
# HTTP: a body that ends with the connection, read slowly.
#
mem_reset();
$s = connect_to($h, $a{http});
send_bytes($s, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
my ($buf, $head, $reads) = ('', undef, 0);
($got, $eof, $deadline) = (0, 0, time + 60);
$d = Digest::MD5->new;
while (time < $deadline) {
	my $n = IO::Select->new($s)->can_read(IO_TIMEOUT) ?
	    sysread($s, my $more, 64 * 1024) : undef;
	last unless defined $n;
	if ($n == 0) {
		$eof = 1;
		last;
	}
	$buf .= $more;
	if (!defined $head) {
		my $end = index $buf, "\r\n\r\n";
		next if $end < 0;
		$head = substr $buf, 0, $end + 4, '';
	}
	$got += length $buf;
	$d->add($buf);
	$buf = '';
	mem_tick() unless ++$reads % 16;
	select(undef, undef, undef, 0.002);
}
close $s;
like($head // '', qr{^HTTP/1\.1 200 .*^Connection: close\r$}ms,
    'until close: a passes the answer on, to end with the connection');
ok($eof, 'until close: the client reads to the end of the connection');
is($got, $BIG, 'until close: 32 MiB arrived');
is($d->hexdigest, $big_md5, 'until close: exactly the upstream\'s bytes');
mem_flat('until close');

# An upload to an upstream slower than the client.
mem_reset();
$s = connect_to($h, $a{http});
send_bytes($s, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: $BIG\r\n\r\n");
for my $i (0 .. $BIG / $MiB - 1) {
	write_all($s, block($i)) or die "upload: write: $!";
	mem_tick() unless $i % 2;
}
$r = read_response($s);
is($r->{body}, "got $BIG bytes\n", 'upload: 32 MiB arrived') or diag explain $r;
close $s;
mem_flat('upload');

# Bytes pipelined behind a slow answer by a TLS client of b's: b takes
# what fits its buffer_size and leaves the rest to TCP meanwhile; then the
# bytes, no request, get a 414.
pipe(my $in_rd, my $in_wr) or die "pipe: $!";
pipe(my $out_rd, my $out_wr) or die "pipe: $!";
my $client = fork // die "fork: $!";
if ($client == 0) {
	open STDIN, '<&', $in_rd or _exit(126);
	open STDOUT, '>&', $out_wr or _exit(126);
	open STDERR, '>', "$dir/s_client.log" or _exit(126);
	close $in_wr;
	close $out_rd;
	{ exec 'openssl', 's_client', '-quiet', '-connect', "$hb:$b{slow}",
	    '-cert', "$dir/certs/a.crt", '-key', "$dir/certs/a.key",
	    '-CAfile', "$dir/certs/ca.crt" }
	_exit(127);
}
close $in_rd;
close $out_wr;
my $feeder = fork // die "fork: $!";
if ($feeder == 0) {
	write_all($in_wr, "GET /delay/2000 HTTP/1.1\r\nHost: x\r\n\r\n");
	for (1 .. 16) {
		write_all($in_wr, 'x' x $MiB) or last;
	}
	_exit(0);
}
close $in_wr;
mem_reset();
my $answers = '';
$deadline = time + 30;
while (time < $deadline) {
	mem_tick();
	next unless IO::Select->new($out_rd)->can_read(0.1);
	sysread($out_rd, my $more, 65536) or last;
	$answers .= $more;
}
waitpid($_, 0) for $feeder, $client;
like($answers, qr{\AHTTP/1\.1 200 .*^HTTP/1\.1 414 }ms,
    'pipelined: the slow answer, then a 414 for what came after it');
mem_flat('pipelined');

#
# Timeouts.
#
sub timed_get {
	my ($port, $path) = @_;
	my $s = connect_to($h, $port);
	my $t0 = time;
	send_bytes($s, "GET $path HTTP/1.1\r\nHost: x\r\n\r\n");
	my $r = read_response($s);
	close $s;
	return ($r, time - $t0);
}
my ($ans, $took) = timed_get($a{slow}, '/');
is($ans->{status}, 200, 'slow: an answer in time comes through');
($ans, $took) = timed_get($a{slow}, '/delay/4000');
is($ans->{status}, 504, 'response_timeout: a late answer over TLS is a 504');
ok($took > 0.4 && $took < 3.5,
    sprintf 'response_timeout: after about 500 ms (%.2f s)', $took);
($ans, $took) = timed_get($a{silent}, '/');
is($ans->{status}, 504, 'connect_timeout: a TLS handshake never answered is a 504');
ok($took > 0.2 && $took < 3.5,
    sprintf 'connect_timeout: after about 300 ms (%.2f s)', $took);
like($t->log_text('a'), qr/cluster silent: timeout connecting to /,
    'and logged as a connect timeout');

$t->done_testing;
