package MeshTest;

# MeshTest: the harness behind meshd's t/*.t, in the spirit of nginx-tests'
# Test::Nginx and h2o's t/Util.pm.  Perl core modules only.
#
#   use lib 't/lib';
#   use Test::More;
#   use MeshTest;
#
#   my $t = MeshTest->new;
#   $t->require_binaries('meshd');            # skip_all unless built
#   my $host = $t->host(1);                   # 127.a.b.1, private to this test
#   my $app  = $t->free_port($host);
#   $t->start_backend(name => 'payments-1', listen => "$host:$app");
#   my $conf = $t->write_file('payments.conf', <<"EOF");
#   ...
#   EOF
#   $t->start_meshd(name => 'payments-sidecar', conf => $conf, host => $host);
#   my $r = $t->http_get("http://$host:$port/");
#   $t->done_testing;                          # check_logs + done_testing
#
# Every test gets a temp dir (kept with MESHD_TEST_KEEP=1), its own
# 127.a.b.0/24 (a, b derived from the pid; never 127.0.x.x) and ports that
# are handed out once.  Readiness is polled, never slept for.  Every spawned
# process runs in its own process group and is stopped when the harness goes
# away: DESTROY, END, die, or SIGINT/SIGTERM of the test.  At teardown (or
# earlier, with check_logs) the meshd logs must hold no "alert:" line and no
# sanitizer report.  Under prove, a test file that runs over 300 s
# (MESHD_TEST_TIME_LIMIT; 0: no limit) fails and stops: a read that never
# returns must not stall the suite.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Test::More ();
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(parse_metrics log_problems split_hostport join_hostport
    port_open slurp rss_anon cpu_seconds);

my $ROOT = dirname(dirname(dirname(abs_path(__FILE__))));

my @LIVE;           # weak refs to every harness object, for END
my %GIVEN_PORTS;    # "port" => 1: free_port never returns one twice

# What makes a log "dirty": meshd's fatal level, and the sanitizers' reports.
my @LOG_PROBLEMS = (
	qr/\balert:/,
	qr/(?:ERROR|WARNING): \w*Sanitizer/,
	qr/LeakSanitizer/,
	qr/runtime error:/,
);

# A test killed by ^C or by prove's timeout still stops what it started.
$SIG{PIPE} = 'IGNORE';
for my $sig (qw(INT TERM)) {
	next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
	$SIG{$sig} = sub {
		Test::More::diag("MeshTest: caught SIG$sig, stopping processes");
		exit($sig eq 'INT' ? 130 : 143);
	};
}

END {
	local $?;   # Test::Builder's END, which runs after this one, reads it
	for my $t (@LIVE) {
		$t->_teardown if $t;
	}
}

#
# Construction, files and addresses.
#

# Only under the harness: bench/ runs on MeshTest for many minutes. The
# alarm is not inherited by forked children, so nothing spawned sees it.
# One deadline for the whole file, armed again by each harness object (a
# teardown turns it off).
my $DEADLINE;
sub _watchdog {
	my $limit = int($ENV{MESHD_TEST_TIME_LIMIT} // 300);	# whole s
	return unless $ENV{HARNESS_ACTIVE} && $limit > 0;
	$DEADLINE //= time + $limit;
	$SIG{ALRM} = sub {
		Test::More::fail("the test ran over ${limit} s: something it "
		    . "waited for never came (MESHD_TEST_TIME_LIMIT)");
		exit 142;
	};
	my $left = int($DEADLINE - time + 0.999);
	alarm($left > 0 ? $left : 1);
}

# MeshTest->new: a temp dir and a private loopback /24 for this test.
sub new {
	my ($class, %args) = @_;
	my $k = $$ % (254 * 254);
	my $self = bless {
		owner  => $$,
		net    => sprintf('127.%d.%d', 1 + int($k / 254), 1 + $k % 254),
		procs  => {},
		order  => [],
		logs   => [],
		runs   => 0,
	}, $class;
	$self->{dir} = tempdir('meshd-t-XXXXXXXX', TMPDIR => 1, CLEANUP => 0);
	_watchdog();
	push @LIVE, $self;
	weaken($LIVE[-1]);
	return $self;
}

sub srcdir { $ROOT }
sub dir    { $_[0]{dir} }

sub meshd_bin { $ENV{MESHD} // "$ROOT/build/meshd" }
sub meshc_bin { $ENV{MESHC} // "$ROOT/build/meshc" }

# $t->sanitized: is meshd built with the sanitizers (memory figures then
# mean nothing)?
sub sanitized {
	my ($self) = @_;
	$self->{sanitized} //= $self->run($self->meshd_bin, '-V')->{out} =~
	    /^sanitizers: yes$/m ? 1 : 0;
	return $self->{sanitized};
}

# $t->require_binaries('meshd', 'meshc'): skip the whole test unless built.
sub require_binaries {
	my ($self, @which) = @_;
	for my $w (@which) {
		my $bin = $w eq 'meshd' ? $self->meshd_bin
		    : $w eq 'meshc' ? $self->meshc_bin
		    : croak "require_binaries: unknown binary \"$w\"";
		Test::More::plan(skip_all => "$bin is not built") unless -x $bin;
	}
	return 1;
}

# $t->host($n): 127.a.b.$n, the same for the whole test, $n in 1..254.
sub host {
	my ($self, $n) = @_;
	croak "host: want 1..254" unless defined $n && $n =~ /^\d+\z/ && $n >= 1 && $n <= 254;
	return "$self->{net}.$n";
}

# $t->free_port($addr): a port nothing listens on at $addr now, and that no
# harness in this process handed out before.
sub free_port {
	my ($self, $addr) = @_;
	$addr //= $self->host(1);
	for (1 .. 200) {
		my $s = IO::Socket::IP->new(
			LocalHost => $addr,
			LocalPort => 0,
			Proto     => 'tcp',
		) or croak "free_port: cannot bind $addr: $@";
		my $port = $s->sockport;
		close $s;
		next if $GIVEN_PORTS{$port}++;
		return $port;
	}
	croak "free_port: no fresh port on $addr";
}

sub path {
	my ($self, $name) = @_;
	return "$self->{dir}/$name";
}

# $t->write_file($name, $text): writes $text (bytes) under the temp dir,
# making subdirectories as needed; returns the path.
sub write_file {
	my ($self, $name, $text) = @_;
	my $path = $self->path($name);
	make_path(dirname($path));
	open my $fh, '>:raw', $path or croak "write_file: $path: $!";
	print {$fh} $text;
	close $fh or croak "write_file: $path: $!";
	return $path;
}

#
# Processes.
#

# $t->run([{timeout => 60, stdin => TEXT, env => {...}, dir => DIR},] @cmd):
# runs @cmd to completion (killed after timeout s) and returns
# {out, err, code, signal, status, timed_out}.
sub run {
	my $self = shift;
	my %o = ref $_[0] eq 'HASH' ? %{ shift() } : ();
	my @cmd = @_;
	croak 'run: no command' unless @cmd;

	my $n = ++$self->{runs};
	my ($out, $err) = map { $self->path(".run$n.$_") } qw(out err);
	my $in = '/dev/null';
	$in = $self->write_file(".run$n.in", $o{stdin}) if defined $o{stdin};

	my $pid = _fork_exec(\@cmd, $in, $out, $err, $o{env}, $o{dir});
	my $timeout = $o{timeout} // 60;
	my $deadline = time + $timeout;
	my ($status, $timed_out, $nap) = (undef, 0, 0.001);
	for (;;) {
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid) {
			$status = $?;
			last;
		}
		if (time >= $deadline) {
			kill 'KILL', -$pid;
			kill 'KILL', $pid;
			waitpid($pid, 0);
			$status = $?;
			$timed_out = 1;
			last;
		}
		sleep $nap;
		$nap *= 2 if $nap < 0.02;
	}
	kill 'KILL', -$pid;     # whatever the command left in its group
	my %res = (
		out       => slurp($out),
		err       => slurp($err),
		status    => $status,
		code      => $status >> 8,
		signal    => $status & 127,
		timed_out => $timed_out,
	);
	if ($timed_out) {
		$res{code} = 128 + 9;
		$res{err} .= "\n[MeshTest: \"$cmd[0]\" killed after $timeout s]\n";
	}
	unlink $out, $err, ($in eq '/dev/null' ? () : $in);
	return \%res;
}

# $t->meshc(@args): $t->run(meshc, @args).
sub meshc {
	my ($self, @args) = @_;
	return $self->run($self->meshc_bin, @args);
}

# $t->curl(@args): curl with @args, 5 s at most for the transfer: its exit
# status, the HTTP status (0: none), the body and curl's standard error.
sub curl {
	my ($self, @args) = @_;
	my $r = $self->run({ timeout => 20 }, 'curl', '-s', '-S', '--max-time',
	    '5', '-o', '-', '-w', '\n%{http_code}', @args);
	my ($body, $code) = $r->{out} =~ /\A(.*)\n(\d+)\z/s;
	return ($r->{code}, $code // 0, $body // '', $r->{err});
}

# Forks, puts the child in its own process group, redirects and execs.
# Dies here (not in the child) if the exec fails.
sub _fork_exec {
	my ($cmd, $in, $out, $err, $env, $dir) = @_;
	pipe(my $rd, my $wr) or croak "pipe: $!";
	my $pid = fork;
	croak "fork: $!" unless defined $pid;
	if (!$pid) {
		close $rd;
		my $why = eval {
			POSIX::setpgid(0, 0);
			$SIG{PIPE} = 'DEFAULT';     # ignored signals survive exec
			for my $k (keys %{ $env // {} }) {
				if (defined $env->{$k}) {
					$ENV{$k} = $env->{$k};
				} else {
					delete $ENV{$k};
				}
			}
			chdir $dir or die "chdir $dir: $!\n" if defined $dir;
			open STDIN, '<', $in or die "$in: $!\n";
			open STDOUT, '>>', $out or die "$out: $!\n";
			if ($err eq $out) {
				open STDERR, '>&', \*STDOUT or die "dup: $!\n";
			} else {
				open STDERR, '>>', $err or die "$err: $!\n";
			}
			exec { $cmd->[0] } @$cmd;
			die "cannot run $cmd->[0]: $!\n";
		};
		print {$wr} $@ || $why || "exec failed\n";
		close $wr;
		POSIX::_exit(127);
	}
	close $wr;
	POSIX::setpgid($pid, $pid);    # both sides, so kill(-pid) works at once
	# The write end closes on exec: EOF with nothing read means it ran.
	my $fail = do { local $/; <$rd> } // '';
	close $rd;
	if (length $fail) {
		waitpid($pid, 0);
		chomp $fail;
		croak "cannot start \"@$cmd\": $fail";
	}
	return $pid;
}

# $t->spawn(name => NAME, cmd => [...], log => FILE, env => {...},
#           dir => DIR, check_log => BOOL): starts a process with stdout and
# stderr appended to FILE (default NAME.log) in the temp dir; returns its pid.
sub spawn {
	my ($self, %a) = @_;
	my $name = $a{name} // croak 'spawn: name required';
	my $cmd  = $a{cmd}  // croak 'spawn: cmd required';
	croak "spawn: \"$name\" is already running"
	    if $self->{procs}{$name} && $self->alive($name);
	my $log = $self->path($a{log} // "$name.log");
	my $pid = _fork_exec($cmd, '/dev/null', $log, $log, $a{env}, $a{dir});
	push @{ $self->{order} }, $name unless $self->{procs}{$name};
	$self->{procs}{$name} = {
		name      => $name,
		pid       => $pid,
		log       => $log,
		cmd       => $cmd,
		check_log => $a{check_log},
	};
	return $pid;
}

sub _proc {
	my ($self, $name) = @_;
	return $self->{procs}{$name} // croak "no process named \"$name\"";
}

sub pid      { $_[0]->_proc($_[1])->{pid} }
sub log_path { $_[0]->_proc($_[1])->{log} }

# Reaps $p if it exited (blocking if $block); true once it is gone.
sub _reap {
	my ($p, $block) = @_;
	return 1 if $p->{exited};
	local $?;
	my $r = waitpid($p->{pid}, $block ? 0 : WNOHANG);
	return 0 if $r == 0;
	$p->{exited} = 1;
	$p->{status} = $r == $p->{pid} ? $? : -1;
	return 1;
}

# $t->alive($name): the process has not exited yet.
sub alive {
	my ($self, $name) = @_;
	return !_reap($self->_proc($name), 0);
}

# $t->signal($name, 'QUIT'); $t->reload($name) sends HUP.
sub signal {
	my ($self, $name, $sig) = @_;
	my $p = $self->_proc($name);
	croak "signal: \"$name\" has exited" if _reap($p, 0);
	kill($sig, $p->{pid}) or croak "kill $sig $p->{pid}: $!";
	return 1;
}

sub reload {
	my ($self, $name) = @_;
	return $self->signal($name, 'HUP');
}

# $t->wait_exit($name, timeout => 10): the wait status once it exited, or
# undef if it is still running after timeout s.
sub wait_exit {
	my ($self, $name, %o) = @_;
	my $p = $self->_proc($name);
	my $deadline = time + ($o{timeout} // 10);
	until (_reap($p, 0)) {
		return undef if time >= $deadline;
		sleep 0.02;
	}
	return $p->{status};
}

# $t->stop($name, timeout => 10, signal => 'TERM'): signals the process,
# waits for it (then KILLs its group), and returns its wait status.
sub stop {
	my ($self, $name, %o) = @_;
	$self->_stop_many([ $self->_proc($name) ], $o{signal} // 'TERM', $o{timeout} // 10);
	return $self->_proc($name)->{status};
}

# $t->stop_all: stops every running process, latest started first, all at
# once, bounded by one 10 s deadline.
sub stop_all {
	my ($self, %o) = @_;
	my @p = map { $self->{procs}{$_} } reverse @{ $self->{order} };
	$self->_stop_many(\@p, $o{signal} // 'TERM', $o{timeout} // 10);
}

sub _stop_many {
	my ($self, $procs, $sig, $timeout) = @_;
	my @run = grep { !_reap($_, 0) } @$procs;
	# KILL stands for a crash of the whole instance: its group goes.
	kill $sig, ($sig eq 'KILL' ? -$_->{pid} : $_->{pid}) for @run;
	my $deadline = time + $timeout;
	while (@run = grep { !_reap($_, 0) } @run) {
		last if time >= $deadline;
		sleep 0.02;
	}
	for my $p (@run) {
		Test::More::diag("MeshTest: $p->{name} (pid $p->{pid}) ignored SIG$sig for ${timeout}s; killing it");
		kill 'KILL', -$p->{pid};
		kill 'KILL', $p->{pid};
		_reap($p, 1);
	}
	# Children a process left behind in its group (workers, backend pool).
	for my $p (@$procs) {
		next if $p->{group_done}++;
		my $until = time + 2;
		sleep 0.02 while kill(0, -$p->{pid}) && time < $until;
		next unless kill 0, -$p->{pid};
		Test::More::diag("MeshTest: $p->{name} left processes in group $p->{pid}; killing them");
		kill 'KILL', -$p->{pid};
	}
}

# $t->start_backend(name => NAME, listen => "ADDR:PORT", call => URL,
#                   workers => N, quiet => BOOL, status => NNN, hang => BOOL,
#                   delay => MS, record => FILE): starts t/lib/backend.pl
# (answering as NAME, MS milliseconds late with delay, each request
# appended to FILE with record: $t->recorded reads them) and returns its
# pid once it wrote NAME.pid and its port accepts connections.
sub start_backend {
	my ($self, %a) = @_;
	my $name   = $a{name}   // croak 'start_backend: name required';
	my $listen = $a{listen} // croak 'start_backend: listen required';
	my ($host, $port) = split_hostport($listen)
	    or croak "start_backend: bad listen \"$listen\"";
	my @cmd = ($^X, "$ROOT/t/lib/backend.pl", '--listen', $listen,
	    '--name', $name, '--pidfile', $self->path("$name.pid"),
	    '--watch-parent');
	push @cmd, '--verbose' unless $a{quiet};
	push @cmd, '--call', $a{call} if defined $a{call};
	push @cmd, '--workers', $a{workers} if defined $a{workers};
	push @cmd, '--status', $a{status} if defined $a{status};
	push @cmd, '--hang' if $a{hang};
	push @cmd, '--delay', $a{delay} if defined $a{delay};
	push @cmd, '--record', $a{record} if defined $a{record};
	my $pid = $self->spawn(name => $name, cmd => \@cmd, log => $a{log}, env => $a{env});
	# The pidfile, written after listen(), tells our backend from anything
	# else that may answer on that port.
	my $pidfile = $self->path("$name.pid");
	$self->_wait_ready($name, sub {
		slurp($pidfile) =~ /^(\d+)$/m && $1 == $pid && port_open($host, $port);
	}, "backend $name to accept connections on $listen");
	return $pid;
}

# $t->start_meshd(name => NAME, conf => PATH, host => ADDR,
#                 admin => "ADDR:PORT", args => [...], env => {...}):
# runs "meshd -c CONF -a HOST -p NAME.pid" and returns its pid once
# http://ADMIN/ready answers 200.  ADMIN defaults to HOST with the port of
# the conf's "admin =" key.
sub start_meshd {
	my ($self, %a) = @_;
	my $name = $a{name} // croak 'start_meshd: name required';
	my $conf = $a{conf} // croak 'start_meshd: conf required';
	my $host = $a{host} // croak 'start_meshd: host required';
	my $admin = $a{admin} // _conf_admin($conf, $host)
	    // croak "start_meshd: $conf has no admin key; pass admin =>";
	my @cmd = ($self->meshd_bin, '-c', $conf, '-a', $host,
	    '-p', $self->path("$name.pid"), @{ $a{args} // [] });
	my $pid = $self->spawn(name => $name, cmd => \@cmd, log => $a{log},
	    env => $a{env}, check_log => 1);
	$self->{procs}{$name}{admin} = $admin;
	$self->_wait_ready($name, sub {
		my $r = $self->http_get("http://$admin/ready", timeout => 1);
		# Another process could answer on that address: ours must live.
		return $r->{status} == 200 && $self->alive($name);
	}, "meshd $name to answer 200 on http://$admin/ready");
	return $pid;
}

# $t->admin($name): the admin ADDR:PORT start_meshd polled.
sub admin {
	my ($self, $name) = @_;
	return $self->_proc($name)->{admin} // croak "\"$name\" is not a meshd";
}

sub _conf_admin {
	my ($conf, $host) = @_;
	open my $fh, '<', $conf or croak "$conf: $!";
	my $section = '';
	while (my $line = <$fh>) {
		$section = $1 if $line =~ /^\s*\[\s*([^\]]*?)\s*\]/;
		next unless $section eq 'meshd'
		    && $line =~ /^\s*admin\s*=\s*(\S+)/;
		my (undef, $port) = split_hostport($1) or return undef;
		return join_hostport($host, $port);
	}
	return undef;
}

# Polls $probe every 20 ms for 10 s; dies with the log tail if the process
# exits first or the time runs out.
sub _wait_ready {
	my ($self, $name, $probe, $what) = @_;
	my $p = $self->_proc($name);
	my $deadline = time + 10;
	for (;;) {
		return 1 if eval { $probe->() };
		if (_reap($p, 0)) {
			croak "$name exited (wait status $p->{status}) before it was ready; "
			    . "the end of $p->{log}:\n" . $self->log_tail($name);
		}
		if (time >= $deadline) {
			croak "timed out after 10s waiting for $what; "
			    . "the end of $p->{log}:\n" . $self->log_tail($name);
		}
		sleep 0.02;
	}
}

#
# HTTP and metrics.
#

sub _ua {
	my (%o) = @_;
	return HTTP::Tiny->new(
		timeout      => $o{timeout} // 5,
		keep_alive   => $o{keep_alive} ? 1 : 0,
		max_redirect => 0,
		agent        => 'MeshTest/0.1',
		proxy        => undef,   # explicit undef: ignore *_proxy in %ENV
		http_proxy   => undef,
		https_proxy  => undef,
	);
}

# $t->http_request($method, $url, headers => {...}, content => BYTES,
#                  timeout => 5, keep_alive => BOOL): HTTP::Tiny's response
# hash {status, reason, headers (lower-case keys), content, success}; 599 is
# HTTP::Tiny's own failure.  keep_alive reuses one connection per harness.
sub http_request {
	my ($self, $method, $url, %o) = @_;
	my $ua = $o{keep_alive} ? ($self->{ua} //= _ua(keep_alive => 1, timeout => $o{timeout}))
	    : _ua(timeout => $o{timeout});
	my %req;
	$req{headers} = $o{headers} if $o{headers};
	$req{content} = $o{content} if defined $o{content};
	return $ua->request($method, $url, \%req);
}

sub http_get {
	my ($self, $url, %o) = @_;
	return $self->http_request('GET', $url, %o);
}

sub http_post {
	my ($self, $url, $content, %o) = @_;
	return $self->http_request('POST', $url, %o, content => $content);
}

# $t->metrics("ADDR:PORT"): {"name{labels}" => value, "name" => value}.
sub metrics {
	my ($self, $admin) = @_;
	my $r = $self->http_get("http://$admin/metrics");
	croak "GET http://$admin/metrics: $r->{status} $r->{reason}"
	    . ($r->{status} == 599 ? ": $r->{content}" : '')
	    unless $r->{status} == 200;
	return parse_metrics($r->{content});
}

# $t->metric("ADDR:PORT", 'name{labels}'): one value, undef when absent.
sub metric {
	my ($self, $admin, $key) = @_;
	return $self->metrics($admin)->{$key};
}

# parse_metrics($text): the Prometheus text format as a hashref keyed by
# the series exactly as printed ("name" or "name{labels}").
sub parse_metrics {
	my ($text) = @_;
	my %m;
	for my $line (split /\n/, $text) {
		next if $line =~ /^\s*(?:#|\z)/;
		my ($name, $labels, $value) =
		    $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?[ \t]*\r?\z/
		    or next;
		$m{ $name . ($labels // '') } =
		    $value =~ /^[-+]?(?:\d|\.\d)/ ? $value + 0 : $value;
	}
	return \%m;
}

# $t->wait_for(sub { ... }, timeout => 10, what => TEXT, interval => 0.02):
# polls until the sub returns true and returns that value; an exception
# counts as "not yet".  Dies with TEXT (and the last exception) on timeout.
sub wait_for {
	my ($self, $code, %o) = @_;
	my $timeout = $o{timeout} // 10;
	my $what = $o{what} // 'a condition';
	my $deadline = time + $timeout;
	my $last;
	for (;;) {
		my $v = eval { $code->() };
		if ($@) {
			($last = $@) =~ s/\s+\z//;
		} elsif ($v) {
			return $v;
		}
		croak "timed out after ${timeout}s waiting for $what"
		    . (defined $last ? " (last error: $last)" : '')
		    if time >= $deadline;
		sleep($o{interval} // 0.02);
	}
}

# $t->wait_generation("ADDR:PORT", $n): waits for meshd_config_generation
# to reach $n (after a reload); returns it.
sub wait_generation {
	my ($self, $admin, $n, %o) = @_;
	return $self->wait_for(sub {
		my $g = $self->metrics($admin)->{meshd_config_generation};
		return defined $g && $g >= $n ? $g : 0;
	}, timeout => $o{timeout} // 10,
	    what => "meshd_config_generation on $admin to reach $n");
}

# $t->wait_metric("ADDR:PORT", 'name{labels}', $n): waits for a counter or
# gauge to reach $n; returns its value.
sub wait_metric {
	my ($self, $admin, $key, $n, %o) = @_;
	return $self->wait_for(sub {
		my $v = $self->metrics($admin)->{$key};
		return defined $v && $v >= $n ? "$v" : 0;
	}, timeout => $o{timeout} // 10, what => "$key on $admin to reach $n");
}

#
# Logs.
#

sub log_text {
	my ($self, $name) = @_;
	return slurp($self->_proc($name)->{log});
}

sub log_tail {
	my ($self, $name, $n) = @_;
	my @l = split /^/m, $self->log_text($name);
	splice @l, 0, @l - ($n // 20) if @l > ($n // 20);
	return join '', map { "    $_" } @l;
}

# $t->watch_log($path): one more file check_logs scans (say a meshd "log =").
sub watch_log {
	my ($self, $path) = @_;
	push @{ $self->{logs} }, $path;
}

# log_problems($text): the lines that make a log dirty.
sub log_problems {
	my ($text) = @_;
	my @bad;
	for my $line (split /\n/, $text) {
		push @bad, $line if grep { $line =~ $_ } @LOG_PROBLEMS;
	}
	return @bad;
}

sub _log_findings {
	my ($self) = @_;
	my @files = ((map { $_->{log} } grep { $_->{check_log} }
	    map { $self->{procs}{$_} } @{ $self->{order} }), @{ $self->{logs} });
	my @bad;
	for my $f (@files) {
		next unless -e $f;
		push @bad, map { "$f: $_" } log_problems(slurp($f));
	}
	return @bad;
}

sub _report_logs {
	my ($self, @bad) = @_;
	my $ok = Test::More::ok(!@bad, 'no alerts or sanitizer reports in the meshd logs');
	if (@bad) {
		splice @bad, 30, @bad - 30, '...' if @bad > 31;
		Test::More::diag(join "\n", @bad);
	}
	return $ok;
}

# $t->check_logs: stops every process first (sanitizers report at exit),
# then is one test: no meshd log has an alert or a sanitizer report.
sub check_logs {
	my ($self) = @_;
	$self->stop_all;
	$self->{logs_checked} = 1;
	return $self->_report_logs($self->_log_findings);
}

# $t->done_testing: check_logs, then Test::More's done_testing.
sub done_testing {
	my ($self, @n) = @_;
	$self->check_logs;
	Test::More::done_testing(@n);
}

# Teardown: stop everything, check the logs unless the test did, remove
# the temp dir.  A clean log adds a test only while the plan is still open
# (no done_testing yet, no fixed plan, no skip_all); a dirty log always
# adds a failing one.
sub _teardown {
	my ($self) = @_;
	return if $self->{torn_down} || $$ != $self->{owner};
	$self->{torn_down} = 1;
	# The watchdog's exit would cut the stopping short: done is done.
	alarm 0;
	local ($?, $@, $!);
	$self->stop_all;
	if (!$self->{logs_checked}) {
		my @bad = $self->_log_findings;
		$self->_report_logs(@bad) if @bad || _plan_open();
	}
	if ($ENV{MESHD_TEST_KEEP}) {
		Test::More::diag("MeshTest: MESHD_TEST_KEEP is set; files kept in $self->{dir}");
	} else {
		remove_tree($self->{dir});
	}
}

sub _plan_open {
	my $hub = eval { require Test2::API; Test2::API::test2_stack()->top } or return 0;
	return 0 if $hub->ended;
	my $plan = $hub->plan;
	return !defined $plan || $plan eq 'NO PLAN';
}

sub DESTROY {
	my ($self) = @_;
	$self->_teardown;
}

#
# Small helpers, exported on request.
#

# split_hostport("a.b.c.d:p" or "[v6]:p") -> (host, port), or () if malformed.
sub split_hostport {
	my ($s) = @_;
	return ($1, $2) if $s =~ /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})\z/;
	return ($1, $2) if $s =~ /^([^:\[\]]+):(\d{1,5})\z/;
	return;
}

sub join_hostport {
	my ($host, $port) = @_;
	return $host =~ /:/ ? "[$host]:$port" : "$host:$port";
}

# port_open($host, $port): a TCP connect succeeds.
sub port_open {
	my ($host, $port) = @_;
	my $s = IO::Socket::IP->new(
		PeerHost => $host,
		PeerPort => $port,
		Proto    => 'tcp',
		Timeout  => 1,
	) or return 0;
	close $s;
	return 1;
}

sub slurp {
	my ($path) = @_;
	open my $fh, '<:raw', $path or return '';
	local $/;
	my $text = <$fh>;
	return $text // '';
}

# MeshTest::recorded(FILE): the requests a backend started with record =>
# FILE received so far, in order: hashes with method, target, head (as
# sent), headers (lower-case name => value, repeated ones joined with
# ", ") and body (without chunked framing). Dies on a malformed file.
sub recorded {
	my ($file) = @_;
	my $text = slurp($file);
	my @reqs;
	while ($text =~ /\Grequest (\d+) (\d+)\n/gc) {
		my ($hlen, $blen) = ($1, $2);
		my $at = pos $text;
		croak "recorded: $file is cut short"
		    if length($text) < $at + $hlen + $blen + 1;
		my $head = substr $text, $at, $hlen;
		my %r = (head => $head, body => substr($text, $at + $hlen, $blen));
		my ($line, @fields) = split /\r\n/, $head;
		@r{qw(method target)} = split / /, $line;
		for (@fields) {
			my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*\z/ or next;
			$k = lc $k;
			$r{headers}{$k} = exists $r{headers}{$k}
			    ? "$r{headers}{$k}, $v" : $v;
		}
		push @reqs, \%r;
		pos($text) = $at + $hlen + $blen + 1;
	}
	croak "recorded: $file has junk at byte " . (pos($text) // 0)
	    if (pos($text) // 0) != length $text;
	return @reqs;
}

# CPU seconds a process has used, user and system.
sub cpu_seconds {
	my ($pid) = @_;
	my @f = split / /, (split /\) /, slurp("/proc/$pid/stat"), 2)[1] // '';
	return (($f[11] // 0) + ($f[12] // 0)) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# A process's private memory (RssAnon), KiB.
sub rss_anon {
	my ($pid) = @_;
	my ($kb) = slurp("/proc/$pid/status") =~ /^RssAnon:\s+(\d+) kB/m;
	return $kb;
}

1;
