package MeshSock;
# Raw sockets with deadlines for tests that speak HTTP (or anything) byte
# by byte: every read is bounded by IO_TIMEOUT, so a meshd that hangs fails
# a test instead of stalling it. Reads keep what they got past a response
# in a buffer per socket, for the next read.
use strict;
use warnings;
use Digest::MD5;
use Errno qw(EAGAIN EINTR);
use Exporter 'import';
use IO::Select;
use POSIX ();
use IO::Socket::INET;
use Scalar::Util qw(refaddr);
use Socket qw(SHUT_WR);
use Time::HiRes qw(time);

our @EXPORT = qw(IO_TIMEOUT connect_to send_bytes write_all fill read_to_eof
    read_exactly read_response parse_all raw_accept raw_read_head duplex
    duplex_child body_server);

use constant IO_TIMEOUT => 5;

my %rbuf;       # refaddr(socket) => bytes read but not consumed yet

sub connect_to {
	my ($h, $port) = @_;
	return IO::Socket::INET->new(PeerAddr => $h, PeerPort => $port,
	    Proto => 'tcp', Timeout => IO_TIMEOUT)
	    // die "connect $h:$port: $!";
}

# One write() of all the bytes (pipelining wants them in one segment).
sub send_bytes {
	my ($s, $bytes) = @_;
	my $n = syswrite($s, $bytes);
	return defined $n && $n == length $bytes;
}

# All the bytes, in as many write()s as a blocking socket takes: true if
# they all went.
sub write_all {
	my ($s, $bytes) = @_;
	my $off = 0;
	while ($off < length $bytes) {
		my $n = syswrite($s, $bytes, length($bytes) - $off, $off);
		return 0 unless defined $n;
		$off += $n;
	}
	return 1;
}

# Reads more into the socket's buffer: the byte count, 0 at EOF, or undef
# with $@ set to "timeout" or the error.
sub fill {
	my ($s, $deadline) = @_;
	my $left = $deadline - time;
	if ($left <= 0 || !IO::Select->new($s)->can_read($left)) {
		$@ = 'timeout';
		return undef;
	}
	my $n = sysread($s, $rbuf{ refaddr $s }, 65536, length($rbuf{ refaddr $s } // ''));
	$@ = "read: $!" unless defined $n;
	return $n;
}

# Everything up to EOF: (bytes, how) with how "eof", "timeout" or an error.
sub read_to_eof {
	my ($s) = @_;
	my $deadline = time + IO_TIMEOUT;
	for (;;) {
		my $n = fill($s, $deadline);
		my $all = delete($rbuf{ refaddr $s }) // '';
		return ($all, 'eof') if defined $n && $n == 0;
		return ($all, $@) unless defined $n;
		$rbuf{ refaddr $s } = $all;
	}
}

# Exactly $len bytes (fewer if EOF, an error or the deadline comes first).
sub read_exactly {
	my ($s, $len) = @_;
	my $deadline = time + IO_TIMEOUT;
	my $buf = \$rbuf{ refaddr $s };
	$$buf //= '';
	while (length $$buf < $len) {
		fill($s, $deadline) or last;
	}
	return substr $$buf, 0, $len, '';
}

# One response framed by Content-Length (none for HEAD, 1xx, 204, 304):
# {status, head, headers => {lc name => value}, body}, or {error}.
sub read_response {
	my ($s, %o) = @_;
	my $deadline = time + IO_TIMEOUT;
	my $buf = \$rbuf{ refaddr $s };
	$$buf //= '';
	my $end;
	until (($end = index $$buf, "\r\n\r\n") >= 0) {
		my $n = fill($s, $deadline);
		return { error => defined $n ? 'eof before a whole head' : $@,
		    partial => $$buf } unless $n;
	}
	my $head = substr $$buf, 0, $end + 4, '';
	my ($status) = $head =~ m{\AHTTP/1\.[01] (\d{3})[ \r]}
	    or return { error => 'bad status line', partial => $head };
	my %hd;
	for my $line (split /\r\n/, $head) {
		next unless $line =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*\z/;
		$hd{ lc $1 } = exists $hd{ lc $1 } ? "$hd{lc $1}, $2" : $2;
	}
	my $len = $o{head} || $status < 200 || $status == 204 || $status == 304
	    ? 0 : $hd{'content-length'} // 0;
	while (length $$buf < $len) {
		my $n = fill($s, $deadline);
		return { error => defined $n ? 'eof inside the body' : $@,
		    partial => $head . $$buf } unless $n;
	}
	return { status => $status + 0, head => $head, headers => \%hd,
	    body => substr($$buf, 0, $len, '') };
}

# A response parsed from bytes read to EOF: {status, head, headers, body}.
sub parse_all {
	my ($all) = @_;
	my $end = index $all, "\r\n\r\n";
	return { status => 0, head => $all, headers => {}, body => '' } if $end < 0;
	my $head = substr $all, 0, $end + 4;
	my ($status) = $head =~ m{\AHTTP/1\.[01] (\d{3})[ \r]};
	my %hd = map { /^([^:\s]+):[ \t]*(.*?)[ \t]*\z/ ? (lc $1 => $2) : () }
	    split /\r\n/, $head;
	return { status => ($status // 0) + 0, head => $head, headers => \%hd,
	    body => substr($all, $end + 4) };
}

# Raw upstream: accept one connection from meshd (bounded), read its head.
sub raw_accept {
	my ($lsn) = @_;
	IO::Select->new($lsn)->can_read(IO_TIMEOUT) or return undef;
	return $lsn->accept;
}

sub raw_read_head {
	my ($s) = @_;
	my $deadline = time + IO_TIMEOUT;
	my $buf = \$rbuf{ refaddr $s };
	$$buf //= '';
	until ((my $end = index $$buf, "\r\n\r\n") >= 0) {
		fill($s, $deadline) or return $$buf;
	}
	my $end = index $$buf, "\r\n\r\n";
	return substr $$buf, 0, $end + 4, '';
}

# Send $total bytes and read to EOF on $s at once, reading at most 256 KiB
# at a time with a pause after each read (a reader slower than the
# writer); $tick->() after every read. The bytes are 1 MiB blocks numbered
# in their first 8 bytes. Returns (sent digest, bytes got, got digest) or
# dies.
sub duplex {
	my ($s, $total, $tick) = @_;
	my $MiB = 1 << 20;
	my $block = join '', map { chr(($_ * 7) & 0xff) } 0 .. $MiB - 1;
	my ($sent, $off, $got, $hashed) = (0, 0, 0, -1);
	my ($out, $in) = (Digest::MD5->new, Digest::MD5->new);
	my $deadline = time + 60;
	my ($wr_done, $eof) = (0, 0);
	$s->blocking(0);
	until ($wr_done && $eof) {
		die "duplex: timed out, sent $sent, got $got\n" if time > $deadline;
		my ($r, $w) = IO::Select->select($eof ? undef : IO::Select->new($s),
		    $wr_done ? undef : IO::Select->new($s), undef, 5);
		if ($w && @$w) {
			if ($off == 0 && $hashed != $sent / $MiB) {
				$hashed = $sent / $MiB;
				substr($block, 0, 8) = pack('Q>', $hashed);
				$out->add($block);
			}
			my $n = syswrite($s, $block, $MiB - $off, $off);
			die "duplex: write: $!\n" unless defined $n || $! == EAGAIN || $! == EINTR;
			if ($n) {
				$sent += $n;
				$off = ($off + $n) % $MiB;
				if ($sent == $total) {
					shutdown($s, SHUT_WR);
					$wr_done = 1;
				}
			}
		}
		if ($r && @$r) {
			my $n = sysread($s, my $buf, 256 * 1024);
			if (!defined $n) {
				die "duplex: read: $!\n" unless $! == EAGAIN || $! == EINTR;
			} elsif ($n == 0) {
				$eof = 1;
			} else {
				$got += $n;
				$in->add($buf);
				$tick->() if $tick;
				select(undef, undef, undef, 0.001);
			}
		}
	}
	return ($out->hexdigest, $got, $in->hexdigest);
}

# A child process answering on $lsn, for tests of bodies: a POST's body is
# read $o{read} bytes at a time with a pause after each read (slower than
# the client) and answered "got N bytes\n"; anything else gets $o{head},
# then $o{block}->($i) for $i in 0 .. $o{blocks} - 1. Every connection
# closes after its answer. Returns the child's pid.
sub body_server {
	my ($lsn, %o) = @_;
	my $pid = fork // die "fork: $!";
	return $pid if $pid;
	while (my $c = $lsn->accept) {
		my ($head, $len) = ('', 0);
		while (defined(my $l = <$c>)) { $head .= $l; last if $l eq "\r\n" }
		if ($head =~ /^POST/) {
			($len) = $head =~ /^Content-Length: (\d+)\r$/mi;
			my ($got, $buf) = (0, '');
			# read, not sysread: the head came through PerlIO's
			# buffer, which may hold the first body bytes too.
			while ($got < $len) {
				my $n = read($c, $buf, $o{read}) or last;
				$got += $n;
				select(undef, undef, undef, 0.002);
			}
			my $body = "got $got bytes\n";
			print $c "HTTP/1.1 200 OK\r\nContent-Length: " . length($body)
			    . "\r\nConnection: close\r\n\r\n$body";
		} else {
			write_all($c, $o{head});
			for my $i (0 .. $o{blocks} - 1) {
				write_all($c, $o{block}->($i)) or last;
			}
		}
		close $c;
	}
	POSIX::_exit(0);
}

# The other end of a duplex: a child accepts one connection on $lsn and
# runs duplex on it. Returns a sub that waits for the child and returns
# what its duplex did, or an error phrase.
sub duplex_child {
	my ($lsn, $total) = @_;
	pipe(my $rd, my $wr) or die "pipe: $!";
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		close $rd;
		my $c = raw_accept($lsn);
		my @r = $c ? eval { duplex($c, $total) } : ();
		print $wr @r ? "@r\n" : 'error: ' . ($c ? $@ : "no connection\n");
		close $wr;
		POSIX::_exit(0);
	}
	close $wr;
	return sub {
		my $r = IO::Select->new($rd)->can_read(30) ? <$rd> // '' : '';
		kill 'KILL', $pid;
		waitpid($pid, 0);
		chomp $r;
		return split ' ', $r;
	};
}

1;
