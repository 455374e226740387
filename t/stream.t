#!/usr/bin/perl
# Bodies stream: a 1 GiB upload and a 1 GiB download through meshd arrive
# whole while meshd's private memory (RssAnon) grows by less than 4 MiB,
# with the receiving side slower than the sending one each time, so only
# backpressure keeps the difference out of meshd. The upstream is a raw
# server in this test that streams and discards. Then 16 MiB pipelined
# behind a request whose answer is slow: meshd reads no more than its
# buffer_size of them meanwhile (the read limit, not backpressure, holds
# them back) and uses no CPU while it waits, answers, and refuses the rest
# with a 414.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);
use MeshSock;
use MeshTest;

my $GiB = 1 << 30;
my $MiB = 1 << 20;
my $t = MeshTest->new;
$t->require_binaries('meshd');
my ($h, $hb) = ($t->host(1), $t->host(2));
my $up_port = $t->free_port($hb);
my $srv = IO::Socket::INET->new(LocalAddr => $hb, LocalPort => $up_port,
    Listen => 5, ReuseAddr => 1) or die "server: $!";

# The upstream: GET streams 1 GiB; POST reads its body, slower than the
# client (without backpressure the difference would pile up in meshd), and
# says how much.
my $block = 'x' x $MiB;
my $child = body_server($srv, read => $MiB, blocks => $GiB / $MiB,
    head => "HTTP/1.1 200 OK\r\nContent-Length: $GiB\r\n"
    . "Connection: close\r\n\r\n", block => sub { $block });
close $srv;
END { kill 'KILL', $child if $child }

my ($port, $slow, $admin) = map { $t->free_port($h) } 1 .. 3;
my $slow_up = $t->free_port($hb);
$t->start_backend(name => 'slow', listen => "$hb:$slow_up", delay => 1500,
    quiet => 1);
my $conf = $t->write_file('meshd.conf', <<"EOF");
[meshd]
service = stream
admin = $h:$admin

[listener in]
address = $h:$port
cluster = up

[listener slow]
address = $h:$slow
cluster = slow

[cluster up]
endpoint = $hb:$up_port

[cluster slow]
endpoint = $hb:$slow_up
EOF
my $pid = $t->start_meshd(name => 'meshd', conf => $conf, host => $h,
    admin => "$h:$admin");
my $sanitized = $t->sanitized;
sub anon { MeshTest::rss_anon($pid) }
sub connect_meshd {
	my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $port,
	    Timeout => 30) or die "connect: $!";
	return $s;
}

# Upload: 1 GiB with Content-Length, written as fast as meshd takes it.
my $base = anon();
my $max = $base;
my $s = connect_meshd();
print $s "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: $GiB\r\n"
    . "Connection: close\r\n\r\n";
my $up_block = 'y' x $MiB;
for my $i (1 .. $GiB / $MiB) {
	write_all($s, $up_block) or die "write: $!";
	if ($i % 16 == 0) {
		my $a = anon();
		$max = $a if $a > $max;
	}
}
my $answer = do { local $/; <$s> } // '';
like($answer, qr/\r\n\r\ngot 1073741824 bytes\n\z/, '1 GiB upload arrived whole');
close $s;
my $up_growth = $max - $base;

# Download: 1 GiB, read as fast as meshd sends it.
$base = anon();
$max = $base;
$s = connect_meshd();
print $s "GET /down HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my $head = '';
while (defined(my $l = <$s>)) { $head .= $l; last if $l eq "\r\n" }
like($head, qr/^HTTP\/1\.1 200 .*Content-Length: 1073741824\r\n/s, 'download head');
my ($got, $buf, $reads) = (0, '', 0);
while (my $n = read($s, $buf, $MiB)) {
	$got += $n;
	select(undef, undef, undef, 0.002);	# slower than the upstream
	if (++$reads % 64 == 0) {
		my $a = anon();
		$max = $a if $a > $max;
	}
}
is($got, $GiB, '1 GiB download arrived whole');
close $s;
my $down_growth = $max - $base;

# Pipelined behind a slow answer: a writer child sends the request, then
# 16 MiB as fast as meshd takes them; it blocks once meshd stops reading,
# and ends when meshd closes.
$base = anon();
$max = $base;
sub cpu_ticks {
	my @f = split ' ', (MeshTest::slurp("/proc/$pid/stat") =~ s/^.*\) //sr);
	return $f[11] + $f[12];		# utime + stime, 1/100 s
}
my $ticks = cpu_ticks();
$s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $slow, Timeout => 30)
    or die "connect: $!";
my $writer = fork // die "fork: $!";
if ($writer == 0) {
	local $SIG{PIPE} = 'IGNORE';
	write_all($s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") or POSIX::_exit(1);
	for (1 .. 16) {
		write_all($s, 'x' x $MiB) or last;
	}
	POSIX::_exit(0);
}
my $answers = '';
my $deadline = time + 30;
while (time < $deadline) {
	my $a = anon();
	$max = $a if $a > $max;
	next unless IO::Select->new($s)->can_read(0.05);
	sysread($s, my $more, 65536) or last;
	$answers .= $more;
}
waitpid($writer, 0);
close $s;
like($answers, qr{\AHTTP/1\.1 200 .*^HTTP/1\.1 414 }ms,
    'pipelined: the slow answer, then a 414 for what came after it');
$ticks = cpu_ticks() - $ticks;
cmp_ok($ticks, '<', 30, "pipelined: meshd used ${ticks}0 ms of CPU over the "
    . '1.5 s it held the client (a busy loop takes all of it)');
my $pipe_growth = $max - $base;

SKIP: {
	skip 'memory figures mean nothing under the sanitizers', 3 if $sanitized;
	cmp_ok($up_growth, '<', 4096, "upload: RssAnon grew $up_growth KiB (< 4 MiB)");
	cmp_ok($down_growth, '<', 4096, "download: RssAnon grew $down_growth KiB (< 4 MiB)");
	cmp_ok($pipe_growth, '<', 4096, "pipelined: RssAnon grew $pipe_growth KiB (< 4 MiB)");
}

$t->done_testing;
