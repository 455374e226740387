#!/usr/bin/perl
#
# backend.pl: the small HTTP/1.1 application that the demo and the tests put
# behind meshd sidecars.  Perl core modules only.
#
#   perl t/lib/backend.pl --listen ADDR:PORT --name NAME [--call URL]
#        [--pidfile FILE] [--workers N] [--idle-timeout SECONDS]
#        [--verbose] [--watch-parent] [--status NNN] [--hang] [--delay MS]
#        [--record FILE]
#
# Answers (every answer carries "Content-Type: text/plain" and "X-Backend: NAME"):
#   POST, PUT, PATCH    200 "NAME got N bytes\n" (N = request body length)
#   any other method    200 "NAME\n"; with --call URL it first GETs URL and
#                       answers "NAME > BODY\n" (BODY without its trailing
#                       newline), or 502 "NAME > error STATUS\n" if that fails
#   .../status/NNN      the same, but with status NNN (200..599)
#   .../delay/MS        the same, answered MS milliseconds later (60000 at most)
#                       (the path is not otherwise looked at)
# --verbose logs each request, "METHOD TARGET STATUS (N bytes in)", then
# "for ADDRS proto P" from X-Forwarded-For/-Proto and "caller ID" from
# X-Forwarded-Client-Cert when the sidecar sent them.
# --status NNN answers every other request with NNN (a failing instance);
# --hang reads requests and never answers them (a hanging one).
# --delay MS answers every request MS milliseconds later (a slow instance);
# a /delay/MS path adds to it.  A delayed answer holds up only the answers
# after it on its connection: the worker serves other connections meanwhile.
# --record FILE appends each whole request to FILE as it was received (also
# with --hang): "request HEADLEN BODYLEN\n", the head as sent (request line
# and fields, up to and with the blank line), the body's bytes (without
# chunked framing) and "\n".  One write each, so workers never interleave.
# HEAD gets the GET headers without the body; 204 and 304 carry no body.
#
# HTTP/1.1 with keep-alive: Content-Length framing, "Connection: close"
# honoured, request bodies framed by Content-Length or chunked are read and
# discarded, "Expect: 100-continue" answered, pipelined requests answered in
# order, idle connections closed after --idle-timeout (30 s).
#
# Model: the parent binds and listens, writes --pidfile, then forks a fixed
# pool of --workers (8) processes.  Each worker runs a select loop over the
# shared non-blocking listener and its own connections, so idle keep-alive
# clients never starve new ones and a slow --call only delays that worker.
# The socket listens before the fork: "ready" means a TCP connect succeeds.
# SIGTERM or SIGINT stops the pool promptly (the parent waits for its
# workers, at most 5 s, then kills them).  Workers leave when the parent is
# gone; with --watch-parent the parent also leaves when whoever started it is
# gone, so a killed test run leaves no backend behind.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use Getopt::Long qw(GetOptions);
use HTTP::Tiny;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

use constant {
	HEAD_MAX   => 64 * 1024,       # request line + headers
	LINE_MAX   => 4096,            # chunk-size and trailer lines
	WBUF_MAX   => 1024 * 1024,     # stop reading a client that does not read
	CONN_MAX   => 900,             # per worker; select() handles < 1024 fds
	LINGER     => 2,               # seconds to drain a client after our close
};

# Filled before any code runs: the workers fork from the top-level code below.
my %REASON = (
	200 => 'OK', 201 => 'Created', 202 => 'Accepted', 204 => 'No Content',
	301 => 'Moved Permanently', 302 => 'Found', 304 => 'Not Modified',
	400 => 'Bad Request', 401 => 'Unauthorized', 403 => 'Forbidden',
	404 => 'Not Found', 405 => 'Method Not Allowed', 408 => 'Request Timeout',
	409 => 'Conflict', 413 => 'Content Too Large', 429 => 'Too Many Requests',
	431 => 'Request Header Fields Too Large',
	500 => 'Internal Server Error', 501 => 'Not Implemented',
	502 => 'Bad Gateway', 503 => 'Service Unavailable',
	504 => 'Gateway Timeout', 505 => 'HTTP Version Not Supported',
);

my %opt = (workers => 8, 'idle-timeout' => 30);
GetOptions(\%opt, 'listen=s', 'name=s', 'call=s', 'pidfile=s', 'workers=i',
    'idle-timeout=f', 'verbose', 'watch-parent', 'status=i', 'hang',
    'delay=i', 'record=s', 'help')
	or usage(2);
usage(0) if $opt{help};
usage(2) if !defined $opt{listen} || !defined $opt{name} || @ARGV;
die "backend.pl: --workers must be 1..64\n"
	if $opt{workers} < 1 || $opt{workers} > 64;
die "backend.pl: --delay must be 0..60000\n"
	if defined $opt{delay} && ($opt{delay} < 0 || $opt{delay} > 60000);
die "backend.pl: --name must be one token of printable characters\n"
	unless $opt{name} =~ /^[\x21-\x7e]+\z/;

my $NAME = $opt{name};
my ($HOST, $PORT) = split_hostport($opt{listen})
	or die "backend.pl: bad --listen \"$opt{listen}\" (want ADDR:PORT or [ADDR6]:PORT)\n";

$SIG{PIPE} = 'IGNORE';

my $lsn = IO::Socket::IP->new(
	LocalHost => $HOST,
	LocalPort => $PORT,
	Proto     => 'tcp',
	Listen    => 1024,
	ReuseAddr => 1,
) or die "backend.pl: cannot listen on $opt{listen}: $@\n";
# Shared by all workers: whoever loses the accept race gets EAGAIN.
$lsn->blocking(0);

my $starter = getppid();        # watched with --watch-parent
my $master  = $$;               # watched by every worker
write_pidfile($opt{pidfile}) if defined $opt{pidfile};

my %kids;
my $stopping = 0;
$SIG{TERM} = $SIG{INT} = sub { $stopping = 1 };
$SIG{CHLD} = sub { };           # only there to cut the parent's sleep short

spawn_worker() for 1 .. $opt{workers};
logmsg(sprintf 'listening on %s with %d workers%s', $opt{listen},
    $opt{workers}, defined $opt{call} ? ", calling $opt{call}" : '');

my @respawns;
while (!$stopping) {
	while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
		next unless delete $kids{$pid};
		logmsg("worker $pid exited (wait status $?), starting another");
		push @respawns, time;
		shift @respawns while @respawns && $respawns[0] < time - 10;
		if (@respawns > 20) {
			logmsg('workers keep dying; giving up');
			$stopping = 1;
			last;
		}
		spawn_worker();
	}
	if ($opt{'watch-parent'} && getppid() != $starter) {
		logmsg('the process that started me is gone; stopping');
		last;
	}
	sleep 1 unless $stopping;   # SIGTERM, SIGINT and SIGCHLD end it early
}
shutdown_pool();
exit 0;

sub usage {
	my ($code) = @_;
	my $fh = $code ? \*STDERR : \*STDOUT;
	print {$fh} "usage: backend.pl --listen ADDR:PORT --name NAME [--call URL]\n",
	    "         [--pidfile FILE] [--workers N] [--idle-timeout SECONDS]\n",
	    "         [--verbose] [--watch-parent] [--status NNN] [--hang]\n",
	    "         [--delay MS] [--record FILE]\n";
	exit $code;
}

sub split_hostport {
	my ($s) = @_;
	return ($1, $2) if $s =~ /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})\z/;
	return ($1, $2) if $s =~ /^([^:\[\]]+):(\d{1,5})\z/;
	return;
}

sub logmsg {
	my ($msg) = @_;
	my $t = time;
	my @g = gmtime $t;
	printf STDERR "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ backend.pl[%d] %s: %s\n",
	    $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0], ($t - int $t) * 1000, $$,
	    $NAME, $msg;
}

sub write_pidfile {
	my ($file) = @_;
	my $tmp = "$file.tmp.$$";
	open my $fh, '>', $tmp or die "backend.pl: $tmp: $!\n";
	print {$fh} "$$\n";
	close $fh or die "backend.pl: $tmp: $!\n";
	rename $tmp, $file or die "backend.pl: rename $tmp to $file: $!\n";
}

sub shutdown_pool {
	kill 'TERM', keys %kids;
	my $deadline = time + 5;
	while (%kids && time < $deadline) {
		my $pid = waitpid(-1, WNOHANG);
		if ($pid > 0) {
			delete $kids{$pid};
		} elsif ($pid < 0) {
			%kids = ();
		} else {
			select(undef, undef, undef, 0.01);
		}
	}
	if (%kids) {
		logmsg('workers did not stop in 5 s; killing them');
		kill 'KILL', keys %kids;
		waitpid($_, 0) for keys %kids;
	}
	if (defined $opt{pidfile} && open my $fh, '<', $opt{pidfile}) {
		my $pid = <$fh>;
		close $fh;
		unlink $opt{pidfile} if defined $pid && $pid =~ /^(\d+)/ && $1 == $$;
	}
	logmsg('stopped');
}

sub spawn_worker {
	my $pid = fork;
	if (!defined $pid) {
		logmsg("fork: $!");
		return;
	}
	if ($pid) {
		$kids{$pid} = 1;
		return;
	}
	# A worker dies at once on TERM/INT: nothing of its state outlives it.
	$SIG{$_} = 'DEFAULT' for qw(TERM INT CHLD);
	my $ok = eval { worker(); 1 };
	logmsg("worker failed: $@") unless $ok;
	POSIX::_exit($ok ? 0 : 1);
}

#
# The worker: a select loop over the listener and its connections.
#

my %conns;      # fd => connection state
my $ua;         # HTTP::Tiny for --call, made in the worker, never shared

sub worker {
	my $lfd = fileno $lsn;

	for (;;) {
		return if getppid() != $master;
		my ($rin, $win) = ('', '');
		vec($rin, $lfd, 1) = 1 if keys %conns < CONN_MAX;
		for my $c (values %conns) {
			vec($rin, $c->{fd}, 1) = 1
			    if $c->{linger}
			    || (!$c->{closing} && length $c->{wbuf} < WBUF_MAX);
			vec($win, $c->{fd}, 1) = 1 if length $c->{wbuf};
		}
		my ($rout, $wout) = ($rin, $win);
		my $wait = 1;
		for my $c (values %conns) {
			next unless @{ $c->{later} };
			my $in = $c->{later}[0][0] - time;
			$wait = $in < 0 ? 0 : $in if $in < $wait;
		}
		my $n = select($rout, $wout, undef, $wait);
		if ($n < 0) {
			next if $! == EINTR;
			die "select: $!\n";
		}
		my @active = values %conns;
		if ($n > 0) {
			accept_clients() if vec($rout, $lfd, 1);
			for my $c (@active) {
				next unless $conns{$c->{fd}} && $conns{$c->{fd}} == $c;
				if (vec($wout, $c->{fd}, 1)) {
					flush($c) or next;
				}
				on_readable($c) if vec($rout, $c->{fd}, 1);
			}
		}
		my $now = time;
		for my $c (values %conns) {
			next unless @{ $c->{later} } && $c->{later}[0][0] <= $now;
			release($c, $now);
			flush($c);
		}
		for my $c (values %conns) {
			if ($c->{linger}) {
				close_conn($c) if $now >= $c->{linger};
			} elsif ($now - $c->{last} >= $opt{'idle-timeout'}
			    && !@{ $c->{later} }) {
				close_conn($c);
			}
		}
	}
}

sub accept_clients {
	for (1 .. 32) {
		last if keys %conns >= CONN_MAX;
		my $s = $lsn->accept or last;   # EAGAIN: another worker won
		$s->blocking(0);
		setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
		my $fd = fileno $s;
		$conns{$fd} = {
			sock    => $s,
			fd      => $fd,
			rbuf    => '',
			wbuf    => '',
			st      => 'head',
			last    => time,
			closing => 0,
			eof     => 0,
			linger  => 0,
			later   => [],     # [due, bytes]: delayed answers, in order
		};
	}
}

sub close_conn {
	my ($c) = @_;
	delete $conns{$c->{fd}};
	close $c->{sock};
}

sub on_readable {
	my ($c) = @_;
	my $r;
	if ($c->{linger}) {
		# Our side is shut; drain what the client still sends so that
		# closing does not reset the connection under our last answer.
		my $junk;
		$r = sysread($c->{sock}, $junk, 65536);
		return if !defined $r && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR);
		close_conn($c) unless $r;
		return;
	}
	$r = sysread($c->{sock}, $c->{rbuf}, 65536, length $c->{rbuf});
	if (!defined $r) {
		return if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
		close_conn($c);
		return;
	}
	$c->{last} = time;
	$c->{eof} = 1 if $r == 0;
	parse($c);
	if ($c->{eof}) {
		$c->{closing} = 1;
		$c->{rbuf} = '';
	}
	flush($c);
}

# Writes what it can; when a closing connection has nothing left to write,
# closes it (after the client's EOF) or half-closes and lingers.  Returns
# false once the connection is gone.
sub flush {
	my ($c) = @_;
	while (length $c->{wbuf}) {
		my $w = syswrite($c->{sock}, $c->{wbuf});
		if (!defined $w) {
			next if $! == EINTR;
			return 1 if $! == EAGAIN || $! == EWOULDBLOCK;
			close_conn($c);
			return 0;
		}
		substr($c->{wbuf}, 0, $w, '');
		$c->{last} = time;
	}
	return 1 unless $c->{closing};
	return 1 if @{ $c->{later} };     # answers still to come
	if ($c->{eof}) {
		close_conn($c);
		return 0;
	}
	if (!$c->{linger}) {
		shutdown($c->{sock}, 1);
		$c->{linger} = time + LINGER;
		$c->{rbuf} = '';
	}
	return 1;
}

#
# Request parsing: an incremental state machine over the read buffer.
#   head -> (len | chunk -> cdata -> cend -> chunk ... -> trailer) -> head
#

sub parse {
	my ($c) = @_;

	while (!$c->{closing}) {
		my $st = $c->{st};

		if ($st eq 'head') {
			my $end = index $c->{rbuf}, "\r\n\r\n";
			if ($end < 0) {
				return bad($c, 431, 'request header too large')
				    if length $c->{rbuf} > HEAD_MAX;
				if ($c->{eof} && length $c->{rbuf}) {
					return bad($c, 400, 'incomplete request');
				}
				return;
			}
			my $head = substr $c->{rbuf}, 0, $end + 4, '';
			start_request($c, $head);

		} elsif ($st eq 'len' || $st eq 'cdata') {
			my $take = length $c->{rbuf};
			$take = $c->{remain} if $take > $c->{remain};
			my $data = substr($c->{rbuf}, 0, $take, '');
			$c->{req}{body} .= $data if defined $opt{record};
			$c->{remain} -= $take;
			$c->{req}{nbytes} += $take;
			if ($c->{remain} > 0) {
				return bad($c, 400, 'incomplete request body') if $c->{eof};
				return;
			}
			if ($st eq 'len') {
				complete($c);
			} else {
				$c->{st} = 'cend';
			}

		} elsif ($st eq 'cend') {
			if (length $c->{rbuf} < 2) {
				return bad($c, 400, 'incomplete chunked body') if $c->{eof};
				return;
			}
			return bad($c, 400, 'chunk data not followed by CRLF')
			    if substr($c->{rbuf}, 0, 2, '') ne "\r\n";
			$c->{st} = 'chunk';

		} elsif ($st eq 'chunk' || $st eq 'trailer') {
			my $eol = index $c->{rbuf}, "\r\n";
			if ($eol < 0) {
				return bad($c, 400, 'line too long in chunked body')
				    if length $c->{rbuf} > LINE_MAX;
				return bad($c, 400, 'incomplete chunked body') if $c->{eof};
				return;
			}
			my $line = substr $c->{rbuf}, 0, $eol + 2, '';
			if ($st eq 'trailer') {
				complete($c) if $line eq "\r\n";
				next;
			}
			$line =~ /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[^\r\n]*)?\r\n\z/
			    or return bad($c, 400, 'bad chunk size line');
			my $size = hex $1;
			if ($size == 0) {
				$c->{st} = 'trailer';
			} else {
				$c->{remain} = $size;
				$c->{st} = 'cdata';
			}
		}
	}
}

sub start_request {
	my ($c, $head) = @_;

	my @lines = split /\r\n/, $head;
	my $rl = shift @lines // '';
	my ($method, $target, $major, $minor) =
	    $rl =~ m{^([A-Z]+) (\S+) HTTP/(\d)\.(\d)\z}
	    or return bad($c, 400, 'malformed request line');
	return bad($c, 505, 'HTTP version not supported') if $major != 1;

	my (%h, $cl, @te);
	for my $line (@lines) {
		my ($k, $v) = $line =~ /^([!#\$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\z/
		    or return bad($c, 400, 'malformed header line');
		$k = lc $k;
		if ($k eq 'content-length') {
			return bad($c, 400, 'bad Content-Length')
			    unless $v =~ /^\d{1,15}\z/ && (!defined $cl || $cl == $v);
			$cl = $v + 0;
		} elsif ($k eq 'transfer-encoding') {
			push @te, map { lc } grep { length } split /[ \t]*,[ \t]*/, $v;
		} else {
			$h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
		}
	}

	my %tokens = map { lc($_) => 1 } split /[ \t]*,[ \t]*/, $h{connection} // '';
	my $keep = $minor >= 1 ? !$tokens{close} : !!$tokens{'keep-alive'};
	$c->{req} = {
		method => $method,
		target => $target,
		http10 => $minor < 1,
		keep   => $keep,
		nbytes => 0,
		caller => $h{'x-forwarded-client-cert'},
		proto  => $h{'x-forwarded-proto'},
		for    => $h{'x-forwarded-for'},
		head   => $head,
		body   => '',
	};

	my $body = 0;
	if (@te) {
		# Transfer-Encoding wins over Content-Length; we frame only chunked.
		return bad($c, 400, 'unsupported Transfer-Encoding')
		    if $te[-1] ne 'chunked' || $minor < 1;
		$c->{st} = 'chunk';
		$c->{req}{keep} = 0 if defined $cl;    # ambiguous framing
		$body = 1;
	} elsif ($cl) {
		$c->{st} = 'len';
		$c->{remain} = $cl;
		$body = 1;
	}
	if ($body && $minor >= 1 && lc($h{expect} // '') eq '100-continue') {
		$c->{wbuf} .= "HTTP/1.1 100 Continue\r\n\r\n";
	}
	complete($c) unless $body;
	return 1;
}

# Delayed answers whose time has come, in order, to the write buffer.
sub release {
	my ($c, $now) = @_;
	while (@{ $c->{later} } && $c->{later}[0][0] <= $now) {
		$c->{wbuf} .= (shift @{ $c->{later} })->[1];
	}
	$c->{last} = $now;
}

sub complete {
	my ($c) = @_;
	my $req = delete $c->{req};
	record($req) if defined $opt{record};
	if ($opt{hang}) {	# read it, never answer
		logmsg("$req->{method} $req->{target} held") if $opt{verbose};
		$c->{st} = 'head';
		return;
	}
	my ($status, $body) = answer($req);
	my $delay = $opt{delay} // 0;
	$delay += $1 > 60000 ? 60000 : $1
	    if $req->{target} =~ m{^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?/delay/(\d{1,5})(?:[/?#]|\z)};
	if ($delay > 0 || @{ $c->{later} }) {
		# Behind a delayed answer, or delayed itself: queued in order.
		my $before = length $c->{wbuf};
		queue_response($c, $req, $status, $body);
		push @{ $c->{later} }, [ time + $delay / 1000,
		    substr($c->{wbuf}, $before, length($c->{wbuf}) - $before, '') ];
	} else {
		queue_response($c, $req, $status, $body);
	}
	logmsg("$req->{method} $req->{target} $status ($req->{nbytes} bytes in)"
	    . (defined $req->{proto} ? " for $req->{for} proto $req->{proto}" : '')
	    . (defined $req->{caller} ? " caller $req->{caller}" : ''))
	    if $opt{verbose};
	$c->{st} = 'head';
	$c->{closing} = 1 unless $req->{keep};
}

sub record {
	my ($req) = @_;
	my $rec = sprintf("request %d %d\n", length $req->{head},
	    length $req->{body}) . $req->{head} . $req->{body} . "\n";
	open my $fh, '>>', $opt{record} or die "backend.pl: $opt{record}: $!\n";
	binmode $fh;
	my $w = syswrite $fh, $rec;
	die "backend.pl: $opt{record}: short write\n"
	    unless defined $w && $w == length $rec;
	close $fh;
}

sub answer {
	my ($req) = @_;
	my $path = $req->{target};
	$path =~ s{^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*}{};

	my $status = $opt{status} // 200;
	if ($path =~ m{^/status/(\d+)(?:[/?#]|\z)}) {
		return (400, "$NAME: status must be 200..599\n")
		    if $1 < 200 || $1 > 599;
		$status = $1 + 0;
	}
	if ($req->{method} =~ /^(?:POST|PUT|PATCH)\z/) {
		return ($status, "$NAME got $req->{nbytes} bytes\n");
	}
	return ($status, "$NAME\n") unless defined $opt{call};

	$ua //= HTTP::Tiny->new(
		keep_alive   => 1,
		timeout      => 10,
		max_redirect => 0,
		agent        => "backend.pl/$NAME ",
		proxy        => undef,      # explicit undef: ignore *_proxy in %ENV
		http_proxy   => undef,
		https_proxy  => undef,
	);
	my $r = $ua->get($opt{call});
	if (!$r->{success}) {
		my $why = $r->{status} == 599 ? $r->{content} : $r->{reason};
		$why =~ s/\s+\z//;
		logmsg("call $opt{call} failed: $r->{status} $why");
		return (502, "$NAME > error $r->{status}\n");
	}
	(my $down = $r->{content}) =~ s/\n\z//;
	return ($status, "$NAME > $down\n");
}

sub queue_response {
	my ($c, $req, $status, $body) = @_;
	my @d = gmtime;
	my $date = sprintf '%s, %02d %s %04d %02d:%02d:%02d GMT',
	    (qw(Sun Mon Tue Wed Thu Fri Sat))[$d[6]], $d[3],
	    (qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec))[$d[4]],
	    $d[5] + 1900, @d[2, 1, 0];
	my $h = "HTTP/1.1 $status " . ($REASON{$status} // 'Status') . "\r\n"
	    . "Date: $date\r\n"
	    . "Content-Type: text/plain\r\n"
	    . "X-Backend: $NAME\r\n";
	if ($status == 204 || $status == 304) {
		$body = '';
	} else {
		$h .= 'Content-Length: ' . length($body) . "\r\n";
	}
	if (!$req->{keep}) {
		$h .= "Connection: close\r\n";
	} elsif ($req->{http10}) {
		$h .= "Connection: keep-alive\r\n";
	}
	$c->{wbuf} .= $h . "\r\n" . ($req->{method} eq 'HEAD' ? '' : $body);
}

# A request we cannot (or will not) frame: answer and close the connection.
sub bad {
	my ($c, $status, $why) = @_;
	my $req = $c->{req} // { method => 'GET', target => '-', nbytes => 0 };
	$req->{keep} = 0;
	my $before = length $c->{wbuf};
	queue_response($c, $req, $status, "$NAME: $why\n");
	push @{ $c->{later} }, [ time,
	    substr($c->{wbuf}, $before, length($c->{wbuf}) - $before, '') ]
	    if @{ $c->{later} };    # after the delayed answers before it
	logmsg("$status: $why");
	delete $c->{req};
	$c->{closing} = 1;
	return 0;
}
