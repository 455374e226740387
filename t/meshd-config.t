#!/usr/bin/perl
# meshd -t: accepts everything meshc emits from conf/, rejects broken
# files naming file and line; -V, -s and usage; a start that cannot bind
# fails with a clear message.
use strict;
use warnings;
use Test::More;
use File::Copy;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshd', 'meshc');
my $src = $t->srcdir;

# Round trip: every example mesh under conf/ compiles, and meshd -t takes
# every file meshc wrote (with the example's registry next to it).
my @meshes = sort glob "$src/conf/*/mesh.conf";
ok(@meshes >= 1, 'conf/ has example meshes');
for my $mesh (@meshes) {
	(my $dir = $mesh) =~ s{/mesh\.conf$}{};
	my $name = (split m{/}, $dir)[-1];
	my $out = $t->path("rt-$name");
	mkdir $out;
	my $r = $t->run({ dir => $dir }, $t->meshc_bin, 'compile', '-o', $out,
	    'mesh.conf');
	is($r->{code}, 0, "conf/$name compiles") or diag $r->{err};
	# The certificates mTLS needs, where the compiled files look.
	$r = $t->run({ dir => $dir }, $t->meshc_bin, 'certs', '-o',
	    "$out/certs", 'mesh.conf');
	is($r->{code}, 0, "meshc certs for conf/$name") or diag $r->{err};
	copy("$dir/registry.conf", "$out/registry.conf") if -e "$dir/registry.conf";
	for my $f (sort glob "$out/*.conf") {
		next if $f =~ m{/registry\.conf$};
		my $c = $t->run($t->meshd_bin, '-t', '-c', $f);
		is($c->{code}, 0, "meshd -t accepts conf/$name: " . (split m{/}, $f)[-1])
		    or diag $c->{err};
		like($c->{err}, qr/configuration is valid/, 'and says so');
	}
}

# The round trip covers every policy key: some caller's cluster in the
# compiled conf/example has it at a value other than meshd's default (a
# mesh of two services shows the defaults), so meshd -t read it above.
# lb and hash_key wait for the balancers that go by them (branch lb).
{
	my $mesh = $t->write_file('defaults/mesh.conf', "[mesh]\nname = m\n"
	    . "registry = r.conf\n[service a]\napp_port = 8001\n"
	    . "inbound_port = 7001\ndepends = b\n[service b]\n"
	    . "app_port = 8002\ninbound_port = 7002\n");
	my $r = $t->meshc('compile', '-o', $t->path('defaults'), $mesh);
	is($r->{code}, 0, 'a mesh at the defaults compiles') or diag $r->{err};
	my ($block) = MeshTest::slurp($t->path('defaults/a.conf'))
	    =~ /^\[cluster b\]\n(.*?)(?:\n\n|\z)/ms;
	my %default = $block =~ /^(\w+) = (.*)$/mg;
	delete @default{qw(service lb)};
	cmp_ok(scalar keys %default, '>=', 19, 'the policy keys of a cluster');
	my %seen;
	for my $f (glob $t->path('rt-example') . '/*.conf') {
		my $text = MeshTest::slurp($f);
		while ($text =~ /^\[cluster (?!local\])[^\]]+\]\n(.*?)(?:\n\n|\z)/msg) {
			my %v = $1 =~ /^(\w+) = (.*)$/mg;
			for my $k (keys %default) {
				$seen{$k} = 1 if defined $v{$k} && $v{$k} ne $default{$k};
			}
		}
	}
	ok($seen{$_}, "conf/example sets $_ (meshd -t read it)") for sort keys %default;
}

my $good = <<'EOF';
[meshd]
service = s
registry = registry.conf
admin = 127.0.0.1:15000

[listener inbound]
address = 0.0.0.0:7001
protocol = http
cluster = local

[cluster local]
endpoint = 127.0.0.1:8081
EOF
$t->write_file('registry.conf', "[/services/x/instances/a]\naddress = 127.0.0.1\nport = 1\n");

# Each broken variant: the line to change and the exact diagnostic.
my @cases = (
	[ 'unknown key', "adress = 0.0.0.0:7001\n", 'address = 0.0.0.0:7001',
	  qr/^\S+broken\.conf:7: error: unknown key "adress" in \[listener inbound\]; did you mean "address"\? \[unknown-key\]$/m ],
	[ 'bad address', "address = 0.0.0.0:99999\n", 'address = 0.0.0.0:7001',
	  qr/^\S+broken\.conf:7: error: bad value "0\.0\.0\.0:99999" for "address": expected a port from 1 to 65535 \[bad-value\]$/m ],
	[ 'unknown cluster', "cluster = nowhere\n", 'cluster = local',
	  qr/^\S+broken\.conf:9: error: listener "inbound" sends to unknown cluster "nowhere" \[unknown-cluster\]$/m ],
	[ 'unclosed section', "[cluster local\n", '[cluster local]',
	  qr/^\S+broken\.conf:11: error: section header is missing its closing '\]' \[syntax\]$/m ],
	[ 'bad duration', "endpoint = 127.0.0.1:8081\nconnect_timeout = 5\n", 'endpoint = 127.0.0.1:8081',
	  qr/^\S+broken\.conf:13: error: bad value "5" for "connect_timeout": expected a duration with a unit/m ],
	[ 'size out of range', "cluster = local\nmax_header_size = 128k\n", 'cluster = local',
	  qr/^\S+broken\.conf:10: error: bad value "128k" for "max_header_size": expected a size from 1k to 64k \(bytes, or with k or m\) \[bad-value\]$/m ],
	[ 'size without a number', "cluster = local\nbuffer_size = big\n", 'cluster = local',
	  qr/^\S+broken\.conf:10: error: bad value "big" for "buffer_size": expected a size from 16k to 64m/m ],
	[ 'count out of range', "cluster = local\nmax_headers = 0\n", 'cluster = local',
	  qr/^\S+broken\.conf:10: error: bad value "0" for "max_headers": expected a whole number from 1 to 1000 \[bad-value\]$/m ],
	[ 'duration or off', "endpoint = 127.0.0.1:8081\nrequest_timeout = never\n", 'endpoint = 127.0.0.1:8081',
	  qr/^\S+broken\.conf:13: error: bad value "never" for "request_timeout": expected a duration with a unit: ms, s, m or h \(e\.g\. 250ms, 5s\), or off \[bad-value\]$/m ],
	[ 'unknown lb', "endpoint = 127.0.0.1:8081\nlb = magic\n", 'endpoint = 127.0.0.1:8081',
	  qr/^\S+broken\.conf:13: error: bad value "magic" for "lb": no such load balancer module/m ],
	[ 'bad hash_key', "endpoint = 127.0.0.1:8081\nhash_key = path\n", 'endpoint = 127.0.0.1:8081',
	  qr/^\S+broken\.conf:13: error: bad value "path" for "hash_key": expected source, header:NAME or cookie:NAME \[bad-value\]$/m ],
	[ 'hash_key without a name', "endpoint = 127.0.0.1:8081\nhash_key = cookie:\n", 'endpoint = 127.0.0.1:8081',
	  qr/^\S+broken\.conf:13: error: bad value "cookie:" for "hash_key": expected a cookie name after cookie:/m ],
	[ 'over-long line', "endpoint = 127.0.0.1:8081 ; " . ('x' x 200) . "\n", 'endpoint = 127.0.0.1:8081',
	  qr/^\S+broken\.conf:12: error: line is 228 bytes long, at most 198 are allowed/m ],
);
for my $c (@cases) {
	my ($what, $new, $old, $re) = @$c;
	(my $text = $good) =~ s/^\Q$old\E\n/$new/m or die "case $what: no line $old";
	my $f = $t->write_file('broken.conf', $text);
	my $r = $t->run($t->meshd_bin, '-t', '-c', $f);
	is($r->{code}, 1, "meshd -t rejects: $what");
	like($r->{err}, $re, "$what: file, line and message");
}

# A hash_key nothing goes by: valid, with a warning naming its line.
for my $w (
	[ 'lb = round_robin', "lb = round_robin\nhash_key = header:X-User\n",
	  qr/^\S+warn\.conf:14: warning: cluster "local" sets hash_key, but lb = round_robin goes by none: ignored \[unused-hash-key\]$/m ],
	[ 'a tcp listener', "lb = maglev\nhash_key = cookie:sid\n",
	  qr/^\S+warn\.conf:14: warning: hash_key = cookie:sid of cluster "local" is ignored for tcp listener "inbound" \(line 6\): connections hash by their source address \[unused-hash-key\]$/m ],
    ) {
	my ($what, $lines, $re) = @$w;
	(my $text = $good) =~ s/^(endpoint = 127\.0\.0\.1:8081\n)/$1$lines/m;
	$text =~ s/protocol = http/protocol = tcp/ if $what =~ /tcp/;
	my $r = $t->run($t->meshd_bin, '-t', '-c', $t->write_file('warn.conf', $text));
	is($r->{code}, 0, "meshd -t accepts hash_key with $what");
	like($r->{err}, $re, "and warns that it is ignored ($what)");
}
(my $hashed = $good) =~ s/^(endpoint = 127\.0\.0\.1:8081\n)/${1}lb = ring_hash\nhash_key = header:X-User\n/m;
my $r = $t->run($t->meshd_bin, '-t', '-c', $t->write_file('hashed.conf', $hashed));
is($r->{code}, 0, 'meshd -t accepts ring_hash by a header');
unlike($r->{err}, qr/warning/, 'without a warning');

# Two errors, both reported.
(my $two = $good) =~ s/protocol = http/protocol = udp/;
$two =~ s/cluster = local/klaster = local/;
$r = $t->run($t->meshd_bin, '-t', '-c', $t->write_file('two.conf', $two));
my @lines = grep { /: error: / } split /\n/, $r->{err};
is(scalar @lines, 2, 'every error of a file in one run') or diag $r->{err};

# A broken registry fails the test run, naming the registry's line.
(my $reg = $good) =~ s/endpoint = 127.0.0.1:8081/service = x/;
$t->write_file('registry.conf', "[/services/x/instances/a]\naddress = 127.0.0.1\nport = 1\nwieght = 2\n");
$r = $t->run($t->meshd_bin, '-t', '-c', $t->write_file('reg.conf', $reg));
is($r->{code}, 1, 'a broken registry fails meshd -t');
like($r->{err}, qr{registry\.conf:4: error: unknown key "wieght"; did you mean "weight"\?},
    'naming the registry file and line');

# -V lists the build and the modules.
$r = $t->run($t->meshd_bin, '-V');
is($r->{code}, 0, 'meshd -V');
like($r->{out}, qr/^meshd \d+\.\d+\.\d+$/m, 'version');
# Every load balancer, unless configure left it out.
my $flags = defined $ENV{MSH_BUILDDIR} && -x "$ENV{MSH_BUILDDIR}/config.status"
    ? $t->run("$ENV{MSH_BUILDDIR}/config.status", '--config')->{out} : '';
for my $m (qw(round_robin random least_request peak_ewma ring_hash maglev)) {
	(my $switch = "--without-lb-$m") =~ tr/_/-/;
	next if $flags =~ /\Q$switch\E/;
	like($r->{out}, qr/^modules: .*\b$m\b/m, "lists the $m module");
}

# Usage errors exit 2.
is($t->run($t->meshd_bin)->{code}, 2, 'no -c: usage');
is($t->run($t->meshd_bin, '-x')->{code}, 2, 'unknown flag: usage');
is($t->run($t->meshd_bin, '-s', 'reload')->{code}, 2, '-s without -p: usage');
is($t->run($t->meshd_bin, '-s', 'dance', '-p', $t->path('x.pid'))->{code}, 2,
    '-s with an unknown signal: usage');
$r = $t->run($t->meshd_bin, '-s', 'reload', '-p', $t->path('none.pid'));
is($r->{code}, 1, '-s with a missing pid file fails');
like($r->{err}, qr/none\.pid: No such file/, 'and says why');

# A running meshd: -s reload reaches it, -s stop stops it.
my $host = $t->host(1);
my ($port, $admin) = ($t->free_port($host), $t->free_port($host));
my $live = $t->write_file('live.conf', <<"EOF");
[meshd]
service = live
admin = 127.0.0.1:$admin

[listener inbound]
address = 127.0.0.1:$port
cluster = app

[cluster app]
endpoint = 127.0.0.1:9
EOF
$t->start_meshd(name => 'live', conf => $live, host => $host);
my $pidfile = $t->path('live.pid');
is(MeshTest::slurp($pidfile), $t->pid('live') . "\n", 'pid file written');
$r = $t->run($t->meshd_bin, '-s', 'reload', '-p', $pidfile);
is($r->{code}, 0, 'meshd -s reload');
is($t->wait_generation("$host:$admin", 2), 2, 'the running meshd reloaded');

# A reload may move the admin listener.
my $admin2 = $t->free_port($host);
(my $moved = MeshTest::slurp($live)) =~ s/admin = 127\.0\.0\.1:$admin/admin = 127.0.0.1:$admin2/
    or die 'no admin line';
$t->write_file('live.conf', $moved);
$t->reload('live');
is($t->wait_generation("$host:$admin2", 3), 3, 'after a reload the admin answers on its new port');
ok(!MeshTest::port_open($host, $admin), 'and no longer on the old one');
$admin = $admin2;

# A second meshd on the same admin address cannot start, and says why.
$r = $t->run({ timeout => 10 }, $t->meshd_bin, '-c', $live, '-a', $host);
isnt($r->{code}, 0, 'a meshd whose admin address is taken does not start');
like($r->{err}, qr/cannot listen on \Q$host:$admin\E for the admin: Address already in use/,
    'and says which address');

$r = $t->run($t->meshd_bin, '-s', 'stop', '-p', $pidfile);
is($r->{code}, 0, 'meshd -s stop');
is($t->wait_exit('live', timeout => 10), 0, 'it stopped, exit status 0');
ok(!-e $pidfile, 'and removed its pid file');

# -d: daemonizes once everything is bound, logs to the "log" file, which
# SIGUSR1 reopens after a rotation; -s quit drains it away.
my $dport = $t->free_port($host);
my $dlog = $t->path('daemon.log');
my $dconf = $t->write_file('daemon.conf', <<"EOF");
[meshd]
service = daemon
admin = 127.0.0.1:$admin
log = daemon.log

[listener inbound]
address = 127.0.0.1:$dport
cluster = app

[cluster app]
endpoint = 127.0.0.1:9
EOF
my $dpid = $t->path('daemon.pid');
$r = $t->run({ timeout => 10 }, $t->meshd_bin, '-d', '-c', $dconf, '-a', $host,
    '-p', $dpid);
is($r->{code}, 0, 'meshd -d returns 0 once the daemon serves');
# It returned after the daemon wrote its pid file: no waiting for it.
my ($pid) = (-e $dpid ? MeshTest::slurp($dpid) : '') =~ /^(\d+)$/m;
BAIL_OUT("no pid file when meshd -d returned; the daemon's log:\n"
    . (-e $dlog ? MeshTest::slurp($dlog) : "(none)\n")) unless $pid;
# Not the harness's child: stop it ourselves if the test dies.
END { kill 'TERM', $pid if $pid && kill 0, $pid }
$t->watch_log($dlog);
is($t->wait_for(sub { $t->http_get("http://$host:$admin/ready")->{status} == 200 },
    what => 'the daemon to be ready'), 1, 'the daemon answers /ready');
like(MeshTest::slurp($dlog), qr/notice: serving \S+daemon\.conf/,
    'it logs to its log file');
rename $dlog, "$dlog.1" or die $!;
kill 'USR1', $pid;
$t->wait_for(sub { -e $dlog && MeshTest::slurp($dlog) =~ /log reopened/ },
    what => 'SIGUSR1 to reopen the log');
pass('SIGUSR1 reopened the log after a rename');
$r = $t->run($t->meshd_bin, '-s', 'quit', '-p', $dpid);
is($r->{code}, 0, 'meshd -s quit');
$t->wait_for(sub { !kill 0, $pid }, what => 'the daemon to exit');
like(MeshTest::slurp($dlog), qr/notice: draining.*notice: exiting/s,
    'it drained and exited');
ok(!-e $dpid, 'and removed its pid file');

$t->done_testing;
