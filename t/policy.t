#!/usr/bin/perl
# meshc's policies: [policy NAME] attached with policy = in [mesh] and
# [service], later names and narrower levels winning key by key; the
# effective policy of a callee in every caller's [cluster], with every key;
# explain's origins in the policy sections, across included files; graph
# labels; lb and hash_key; zones and active health checks; rate limits on
# the callee's inbound listener and routes' faults; the retry
# amplification threshold, fan-in,
# cycles and long chains. The exact diagnostics of each check are cases
# under t/meshc/errors/ (t/meshc.t).
use strict;
use warnings;
use Test::More;
use MeshTest;

my $t = MeshTest->new;
$t->require_binaries('meshc');
my $src = $t->srcdir;

# The cluster block for service $name in a compiled file's text.
sub cluster {
	my ($text, $name) = @_;
	my ($block) = $text =~ /^(\[cluster \Q$name\E\]\n(?:[^\[\n][^\n]*\n)*)/m;
	return $block // '';
}

# Precedence: meshd's defaults < the mesh's policies, in order < [mesh]'s
# own keys < the service's policies, in order (repeated policy lines
# append) < [service]'s own keys. Policies may be defined after their use
# and in included files.
$t->write_file('prec/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
policy = a, b
retries = 3
include = policies.d/*.conf

[policy a]
retries = 2
per_try_timeout = 1s
max_requests = 10

[service web]
app_port = 8001
inbound_port = 7001
depends = orders, search

[service orders]
app_port = 8002
inbound_port = 7002
policy = c
policy = d
max_requests = 99

[service search]
app_port = 8003
inbound_port = 7003
EOF
$t->write_file('prec/policies.d/more.conf', <<'EOF');
[policy b]
per_try_timeout = 2s
retry_on = 5xx, 503

[policy c]
retries = 5
outlier_consecutive_5xx = 4

[policy d]
retries = 6
max_requests = 50
EOF
my $prec = $t->path('prec');
my $r = $t->run({ dir => $prec }, $t->meshc_bin, 'compile', '-o', 'out',
    'mesh.conf');
is($r->{code}, 0, 'precedence: compiles') or diag $r->{err};
is($r->{err}, '', 'precedence: no diagnostics');
my $web = MeshTest::slurp("$prec/out/web.conf");
is(cluster($web, 'orders'), <<'EOF', 'orders: d over c, its own key over d, b over a, every key written');
[cluster orders]
service = orders
lb = round_robin
connect_timeout = 5s
response_timeout = 1m
request_timeout = off
retries = 6
retry_on = 5xx, 503
per_try_timeout = 2s
retry_backoff = 25ms
retry_budget = 20
retry_budget_min = 10
retry_non_idempotent = off
max_connections = off
max_pending = off
max_requests = 99
max_retries = off
outlier_consecutive_5xx = 4
outlier_consecutive_gateway_errors = 0
outlier_interval = off
ejection_time = 30s
max_ejection_time = 5m
max_ejected_percent = 10
zone_affinity = off
panic_threshold = 50
health_check = off
EOF
my $search = cluster($web, 'search');
like($search, qr/^retries = 3$/m, "search: [mesh]'s own key over the mesh's policies");
like($search, qr/^per_try_timeout = 2s$/m, 'search: b over a');
like($search, qr/^max_requests = 10$/m, 'search: a where b says nothing');
like(MeshTest::slurp("$prec/out/orders.conf"),
    qr/^\[cluster local\]\nendpoint = 127\.0\.0\.1:8002\nlb = round_robin\nconnect_timeout = 5s\nresponse_timeout = 1m\nrequest_timeout = off\n\z/m,
    "a service's own cluster local takes only its timeouts");

# explain: each key with the line that set it, in the policy's file.
$r = $t->run({ dir => $prec }, $t->meshc_bin, 'explain', 'web', 'mesh.conf');
is($r->{code}, 0, 'explain web') or diag $r->{err};
my $out = $r->{out};
like($out, qr/^mesh\.conf:4\tpolicy = a\nmesh\.conf:4\tpolicy = b$/m,
    "explain: the mesh's policies, each with its line");
like($out, qr/^policies\.d\/more\.conf:10\torders\.retries = 6$/m,
    'explain: a key from a policy in an included file');
like($out, qr/^mesh\.conf:23\torders\.max_requests = 99$/m,
    "explain: the service's own key");
like($out, qr/^policies\.d\/more\.conf:2\torders\.per_try_timeout = 2s$/m,
    "explain: a key from the mesh's policy");
like($out, qr/^policies\.d\/more\.conf:7\torders\.outlier_consecutive_5xx = 4$/m,
    'explain: a key only the earlier policy sets');
like($out, qr/^mesh\.conf:5\tsearch\.retries = 3$/m, "explain: [mesh]'s own key");
like($out, qr/^default\tsearch\.retry_backoff = 25ms$/m, 'explain: a default');
$r = $t->run({ dir => $prec }, $t->meshc_bin, 'explain', 'orders', 'mesh.conf');
like($r->{out}, qr/^mesh\.conf:21\tpolicy = c\nmesh\.conf:22\tpolicy = d\n/m,
    "explain: the service's policies, in order");
like($r->{out}, qr/^policies\.d\/more\.conf:10\tretries = 6$/m,
    'explain: the effective policy of the service itself');

# graph: the policy in brief on each edge.
$r = $t->run({ dir => $prec }, $t->meshc_bin, 'graph', 'mesh.conf');
like($r->{out}, qr/^\t"web" -> "orders" \[label = "connect 5s, response 1m\\nretries 6, per try 2s\\nmax_requests 99\\neject after 4 5xx"\];$/m,
    'graph: retries, breaker and outlier on the edge');
like($r->{out}, qr/^\t"web" -> "search" \[label = "connect 5s, response 1m\\nretries 3, per try 2s\\nmax_requests 10"\];$/m,
    'graph: no outlier line when it is off');

# An empty retry_on (retry on nothing) is written as meshd reads it,
# without a trailing blank, and meshd -t takes it.
{
	my $f = $t->write_file('empty/mesh.conf', "[mesh]\nname = m\n"
	    . "registry = r.conf\nretry_on =\n[service a]\napp_port = 8001\n"
	    . "inbound_port = 7001\ndepends = b\n[service b]\n"
	    . "app_port = 8002\ninbound_port = 7002\n");
	my $dir = $t->path('empty');
	$r = $t->meshc('compile', '-o', $dir, $f);
	is($r->{code}, 0, 'an empty retry_on compiles') or diag $r->{err};
	like(MeshTest::slurp("$dir/a.conf"), qr/^retry_on =\n/m,
	    'and is written "retry_on =", no trailing blank');
	if (-x $t->meshd_bin) {
		$t->write_file('empty/r.conf', '');
		my $c = $t->run($t->meshd_bin, '-t', '-c', "$dir/a.conf");
		is($c->{code}, 0, 'meshd -t takes it') or diag $c->{err};
	}
}

# lb and hash_key through a policy: the callee's, in every caller's
# cluster; a hash_key nothing goes by is a warning at its line.
my $lbm = $t->write_file('lb/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
[policy sticky]
lb = ring_hash
hash_key = cookie:session
[service web]
app_port = 8001
inbound_port = 7001
depends = carts, feed, stock
[service carts]
app_port = 8002
inbound_port = 7002
policy = sticky
[service feed]
app_port = 8003
inbound_port = 7003
policy = sticky
lb = least_request
[service stock]
app_port = 8004
inbound_port = 7004
protocol = tcp
policy = sticky
EOF
(my $lbdir = $lbm) =~ s{/mesh\.conf$}{};
$r = $t->meshc('compile', '-o', $lbdir, $lbm);
is($r->{code}, 0, 'lb and hash_key from a policy compile') or diag $r->{err};
is($r->{err}, "$lbm:6: warning: service \"feed\" sets hash_key, but lb = least_request goes by none: ignored [unused-hash-key]\n"
    . "$lbm:6: warning: hash_key = cookie:session of service \"stock\" is ignored: its protocol is tcp, whose connections hash by their source address [unused-hash-key]\n",
    'a hash_key a service cannot go by: a warning at its line in the policy');
$web = MeshTest::slurp("$lbdir/web.conf");
like($web, qr/^\[cluster carts\]\nservice = carts\nlb = ring_hash\nhash_key = cookie:session\nconnect_timeout/m,
    "the callee's lb and hash_key");
like($web, qr/^\[cluster feed\]\nservice = feed\nlb = least_request\nconnect_timeout/m,
    'no hash_key for a balancer that goes by none');
like($web, qr/^\[cluster stock\]\nservice = stock\nlb = ring_hash\nhash_key = source\n/m,
    'tcp hashes by source');

# Zones, the panic threshold and active health checks: the health keys
# only when checks are on (status and host only for http, host only when
# set), a jitter no level sets a tenth of the interval in effect, written
# out; meshd -t takes all of it.
my $hcm = $t->write_file('health/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
zone_affinity = 80
health_interval = 20s
[policy checked]
health_check = http /healthz
health_timeout = 3s
health_status = 200-299, 404
[service web]
app_port = 8001
inbound_port = 7001
depends = api, db, feed
[service api]
app_port = 8002
inbound_port = 7002
policy = checked
health_host = api.internal
panic_threshold = off
[service db]
app_port = 8003
inbound_port = 7003
protocol = tcp
policy = checked
health_check = tcp
health_jitter = off
[service feed]
app_port = 8004
inbound_port = 7004
health_host = feed.internal
EOF
(my $hcdir = $hcm) =~ s{/mesh\.conf$}{};
$r = $t->meshc('compile', '-o', $hcdir, $hcm);
is($r->{code}, 0, 'health checks compile') or diag $r->{err};
is($r->{err}, '', 'health checks: no diagnostics');
$web = MeshTest::slurp("$hcdir/web.conf");
like(cluster($web, 'api'), qr/^max_ejected_percent = 10
zone_affinity = 80
panic_threshold = off
health_check = http \/healthz
health_interval = 20s
health_timeout = 3s
health_jitter = 2s
healthy_threshold = 2
unhealthy_threshold = 3
health_status = 200-299, 404
health_host = api\.internal
\z/m, 'an http check: every health key, the jitter a tenth of the interval');
like(cluster($web, 'db'), qr/^health_check = tcp
health_interval = 20s
health_timeout = 3s
health_jitter = off
healthy_threshold = 2
unhealthy_threshold = 3
\z/m, 'a tcp check: no status, no host');
like(cluster($web, 'feed'), qr/^zone_affinity = 80\npanic_threshold = 50\nhealth_check = off\n\z/m,
    'checks off: no other health key, a health_host set left out');
unlike(MeshTest::slurp("$hcdir/api.conf"), qr/^(?:health|zone|panic)/m,
    "a service's own cluster local has none of them");
$r = $t->run({ dir => $hcdir }, $t->meshc_bin, 'explain', 'web', 'mesh.conf');
like($r->{out}, qr/^mesh\.conf:5\tapi\.health_interval = 20s\nmesh\.conf:8\tapi\.health_timeout = 3s\ndefault\tapi\.health_jitter = 2s$/m,
    'explain: the derived jitter is a default');
like($r->{out}, qr/^mesh\.conf:18\tapi\.health_host = api\.internal$/m,
    'explain: the host, with its line');
unlike($r->{out}, qr/^\S+\tfeed\.health_(?!check)/m,
    'explain: no health key of a service without checks');
$r = $t->run({ dir => $hcdir }, $t->meshc_bin, 'graph', 'mesh.conf');
like($r->{out}, qr/^\t"web" -> "api" \[label = "[^"]*\\nhealth check http every 20s"\];$/m,
    'graph: the check on the edge');
like($r->{out}, qr/^\t"web" -> "db" \[label = "[^"]*health check tcp every 20s"\];$/m,
    'graph: a tcp check');
if (-x $t->meshd_bin) {
	$t->write_file('health/r.conf', '');
	my $c = $t->run($t->meshd_bin, '-t', '-c', "$hcdir/web.conf");
	is($c->{code}, 0, 'meshd -t takes the health keys meshc wrote') or diag $c->{err};
}

# Rate limits: policy keys the callee's own sidecar applies, in its
# [listener inbound] only when on, the burst the rate's n unless a level
# sets it; never in a caller's cluster, nor among a dependency's keys in
# explain; on the service's node in the graph. A route's faults and rate
# limit go into its callers' route, which without a subset sends to all
# the service's instances; meshd -t takes all of it.
my $rlm = $t->write_file('rate/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
rate_limit = 100/s
[policy open]
rate_limit = off
[service web]
app_port = 8001
inbound_port = 7001
depends = api, db
policy = open
[service api]
app_port = 8002
inbound_port = 7002
rate_limit_burst = 300
[service db]
app_port = 8003
inbound_port = 7003
protocol = tcp
rate_limit = 30/m
[route api-chaos]
service = api
header = X-Chaos: yes
fault_delay = 1500ms
fault_delay_percent = 12.5
fault_abort = 504
rate_limit = 5/m
EOF
(my $rldir = $rlm) =~ s{/mesh\.conf$}{};
$r = $t->meshc('compile', '-o', $rldir, $rlm);
is($r->{code}, 0, 'rate limits and faults compile') or diag $r->{err};
is($r->{err}, '', 'rate limits and faults: no diagnostics');
like(MeshTest::slurp("$rldir/api.conf"), qr/^\[listener inbound\]\naddress = 0\.0\.0\.0:7002\nprotocol = http\ncluster = local\nrate_limit = 100\/s\nrate_limit_burst = 300\nclient_timeout = /m,
    "the mesh's rate, the service's burst, on its inbound listener");
like(MeshTest::slurp("$rldir/db.conf"), qr/^cluster = local\nrate_limit = 30\/m\nrate_limit_burst = 30\nidle_timeout = /m,
    "a tcp service: the burst its rate's n");
$web = MeshTest::slurp("$rldir/web.conf");
my ($inbound) = $web =~ /^(\[listener inbound\]\n(?:[^\[\n][^\n]*\n)*)/m;
like($inbound // '', qr/^cluster = local$/m, "web's inbound listener");
unlike($inbound . cluster($web, 'api') . cluster($web, 'db'), qr/rate_limit/,
    'off for web: none on its inbound listener; none in its clusters');
like($web, qr/^\[route api-chaos\]\nlistener = api\nheader = X-Chaos: yes\ncluster = api\nfault_delay = 1500ms\nfault_delay_percent = 12\.5\nfault_abort = 504\nrate_limit = 5\/m\n\z/m,
    "a route's faults and rate limit in its caller's route, to all instances");
$r = $t->run({ dir => $rldir }, $t->meshc_bin, 'explain', 'api', 'mesh.conf');
like($r->{out}, qr/^mesh\.conf:4\trate_limit = 100\/s\nmesh\.conf:15\trate_limit_burst = 300\n/m,
    'explain: the rate limit, each key with its line');
$r = $t->run({ dir => $rldir }, $t->meshc_bin, 'explain', 'web', 'mesh.conf');
unlike($r->{out}, qr/rate_limit/, "explain: none of web's (off), nor of its dependencies'");
$r = $t->run({ dir => $rldir }, $t->meshc_bin, 'graph', 'mesh.conf');
like($r->{out}, qr/^\t"api" \[label = "api\\nhttp :7002\\nrate limit 100\/s, burst 300"\];\n\t"db" \[label = "db\\ntcp :7003\\nrate limit 30\/m, burst 30"\];\n\t"web" \[label = "web\\nhttp :7001"\];$/m,
    'graph: the rate limit on the node');
if (-x $t->meshd_bin) {
	$t->write_file('rate/r.conf', '');
	for my $f (qw(web api db)) {
		my $c = $t->run($t->meshd_bin, '-t', '-c', "$rldir/$f.conf");
		is($c->{code}, 0, "meshd -t takes $f.conf") or diag $c->{err};
	}
}

# The amplification threshold: the case of t/meshc/errors makes 18 calls.
my $amp = MeshTest::slurp("$src/t/meshc/errors/retry-amplification/mesh.conf");
for ([18, ''], [17, 'more than max_retry_amplification 17'], ['off', '']) {
	my ($limit, $want) = @$_;
	(my $text = $amp) =~ s/^(policy = eager)$/$1\nmax_retry_amplification = $limit/m;
	my $f = $t->write_file("amp-$limit/mesh.conf", $text);
	$r = $t->meshc('check', $f);
	is($r->{code}, 0, "max_retry_amplification = $limit");
	if ($want eq '') {
		is($r->{err}, '', "max_retry_amplification = $limit: silent");
	} else {
		like($r->{err}, qr/\Q$want\E \[retry-amplification\]$/,
		    "max_retry_amplification = $limit: the warning names it");
	}
}

# Two callers reach the hop that goes over: one warning for it, naming
# the chain that makes the most calls; a cycle is walked once.
my $fan = $t->write_file('fan/mesh.conf', <<'EOF');
[mesh]
name = m
registry = r.conf
retries = 3
retry_on = 5xx
[service a]
app_port = 8001
inbound_port = 7001
depends = mid
[service b]
app_port = 8002
inbound_port = 7002
depends = mid
[service mid]
app_port = 8003
inbound_port = 7003
depends = low
[service low]
app_port = 8004
inbound_port = 7004
depends = a
EOF
$r = $t->meshc('check', $fan);
is($r->{err}, "$fan:21: warning: dependency cycle: a -> mid -> low -> a [dependency-cycle]\n"
    . "$fan:17: warning: retry amplification: one request to \"b\" can make 16 calls to \"low\" (b -> mid -> low: 4 x 4), more than max_retry_amplification 10 [retry-amplification]\n",
    'fan-in and a cycle: one warning per hop that goes over');

# A long chain: linear, not exponential, and one warning.
my $chain = "[mesh]\nname = m\nregistry = r.conf\nretries = 1\nretry_on = 5xx\n";
my $n = 2000;
for my $i (1 .. $n) {
	$chain .= sprintf("[service s%04d]\napp_port = %d\ninbound_port = %d\n%s",
	    $i, 20000 + $i, 40000 + $i,
	    $i < $n ? sprintf("depends = s%04d\n", $i + 1) : '');
}
my $long = $t->write_file('long/mesh.conf', $chain);
$r = $t->run({ timeout => 20 }, $t->meshc_bin, 'check', $long);
is($r->{code}, 0, "a chain of $n services checks in time");
my @warnings = $r->{err} =~ /\[retry-amplification\]$/mg;
is(scalar @warnings, 1, 'one warning on a long chain');
like($r->{err}, qr/one request to "s0001" can make 16 calls to "s0005" \(s0001 -> s0002 -> s0003 -> s0004 -> s0005: 2 x 2 x 2 x 2\)/,
    'where it first goes over');

# meshd retries no TCP connection: a tcp hop counts 1 (4 calls, not 16).
$r = $t->meshc('check', $t->write_file('tcp/mesh.conf', <<'EOF'));
[mesh]
name = m
registry = r.conf
retries = 3
retry_on = 5xx
[service a]
app_port = 8001
inbound_port = 7001
depends = b
[service b]
protocol = tcp
app_port = 8002
inbound_port = 7002
depends = c
[service c]
app_port = 8003
inbound_port = 7003
EOF
is($r->{err}, '', 'a tcp hop is not retried: no amplification');

# meshd's default retries (once, on connect-failure) never resend a
# request a service got: a long default chain is silent.
(my $plain = $chain) =~ s/^retries = 1\nretry_on = 5xx\n//m;
$r = $t->meshc('check', $t->write_file('plain/mesh.conf', $plain));
is($r->{err}, '', 'default retries: no amplification');

done_testing;
