/*
 * Snapshots (src/snapshot.h) built from real meshd.conf files: reference
 * counting, listening sockets handed from one snapshot to the next when
 * the address is unchanged and closed with the last snapshot that held
 * them, a failed build that leaves the previous snapshot whole, meshd -t's
 * socketless build, and clusters whose endpoints come from the registry.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "listener.h"
#include "snapshot.h"
#include "stats.h"

#define NWORKERS	2

static char dir[] = "/tmp/msh-test-snapshot-XXXXXX";

/* Diagnostics of the current test, one line each. */
static char diag_lines[8][512];
static size_t ndiag;

static void
collect(void *arg, const struct msh_diag_msg *m)
{
	if (ndiag < sizeof(diag_lines) / sizeof(diag_lines[0]))
		snprintf(diag_lines[ndiag], sizeof(diag_lines[0]), "%s",
		    m->text);
	ndiag++;
}

static struct msh_diag
new_diag(void)
{
	struct msh_diag d = { .sink = collect };

	ndiag = 0;
	return d;
}

static int
group_setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	msh_stats_init(NWORKERS);
	return 0;
}

static const char *const files[] = {
	"meshd.conf", "moved.conf", "taken.conf", "registry.conf",
	"mesh-registry.conf",
};

static int
group_teardown(void **state)
{
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	msh_stats_free_all();
	return rmdir(dir);
}

/* A port nothing listens on now: the kernel's pick for port 0. */
static unsigned
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A socket on 127.0.0.1:port the way any other program would have it:
 * no SO_REUSEPORT, no SO_REUSEADDR. -1 if the port is busy. */
static int
plain_listen(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 1) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *
write_file(const char *name, const char *fmt, ...)
{
	static char path[256];
	va_list ap;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(fp = fopen(path, "w"));
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static struct msh_conf *
load(const char *path)
{
	struct msh_diag d = new_diag();
	struct msh_conf *conf;

	conf = msh_conf_load(path, NULL, &d);
	if (conf == NULL)
		fail_msg("%s does not load: %s", path, diag_lines[0]);
	assert_int_equal(d.errors, 0);
	return conf;
}

/* One listener on 127.0.0.1:port (line 7), one static cluster. */
static struct msh_conf *
conf_on(const char *name, unsigned port)
{
	return load(write_file(name,
	    "[meshd]\n"				/* 1 */
	    "service = orders\n"		/* 2 */
	    "admin = 127.0.0.1:1\n"		/* 3 */
	    "workers = 2\n"			/* 4 */
	    "\n"				/* 5 */
	    "[listener inbound]\n"		/* 6 */
	    "address = 127.0.0.1:%u\n"		/* 7 */
	    "cluster = local\n"			/* 8 */
	    "\n"
	    "[cluster local]\n"
	    "endpoint = 127.0.0.1:9\n"
	    "endpoint = 127.0.0.1:10\n", port));
}

static struct msh_snapshot *
build(struct msh_conf *conf, const struct msh_snapshot *prev, uint64_t gen,
    int flags)
{
	struct msh_diag d = new_diag();
	struct msh_registry reg = { 0 };
	struct msh_snapshot *s;

	if (conf->registry != NULL &&
	    msh_registry_load(conf->registry, NULL, 0, NULL, &reg, &d) != 0)
		fail_msg("registry: %s", diag_lines[0]);
	s = msh_snapshot_build(conf, &reg, prev, NWORKERS, gen, flags, &d);
	msh_registry_free(&reg);
	if (s == NULL)
		fail_msg("build failed: %s", diag_lines[0]);
	assert_int_equal(d.errors, 0);
	return s;
}

static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
assert_closed(int fd)
{
	errno = 0;
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* fd is an open listening socket on 127.0.0.1:port. */
static void
assert_listening(int fd, unsigned port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int on = 0;
	socklen_t olen = sizeof(on);

	assert_true(fd_open(fd));
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(a.sin_family, AF_INET);
	assert_int_equal(ntohs(a.sin_port), port);
	assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen),
	    0);
	assert_int_equal(on, 1);
}

static unsigned
refs(atomic_uint *r)
{
	return atomic_load(r);
}

static void
test_build(void **state)
{
	unsigned port = free_port();
	struct msh_snapshot *s;
	struct msh_sockets *so;

	s = build(conf_on("meshd.conf", port), NULL, 1, 0);
	assert_int_equal(refs(&s->refs), 1);
	assert_int_equal(s->generation, 1);
	assert_int_equal(s->nworkers, NWORKERS);
	assert_int_equal(s->nlisteners, 1);
	assert_int_equal(s->nclusters, 1);
	assert_string_equal(s->listeners[0].conf->name, "inbound");
	assert_ptr_equal(s->listeners[0].cluster, &s->clusters[0]);
	assert_non_null(s->listeners[0].stats);
	assert_int_equal(s->clusters[0].nendpoints, 2);
	assert_string_equal(s->clusters[0].endpoints[0].name, "127.0.0.1:9");
	assert_string_equal(s->clusters[0].endpoints[1].name, "127.0.0.1:10");

	/* One socket per worker, both listening on the address. */
	so = s->listeners[0].sockets;
	assert_non_null(so);
	assert_int_equal(so->n, 2);
	assert_int_not_equal(so->fds[0], so->fds[1]);
	assert_listening(so->fds[0], port);
	assert_listening(so->fds[1], port);
	assert_int_equal(refs(&so->refs), 1);
	msh_snapshot_unref(s);
}

static void
test_refs(void **state)
{
	struct msh_snapshot *s;
	int fd0, fd1;

	s = build(conf_on("meshd.conf", free_port()), NULL, 1, 0);
	fd0 = s->listeners[0].sockets->fds[0];
	fd1 = s->listeners[0].sockets->fds[1];

	msh_snapshot_ref(s);		/* a connection */
	assert_int_equal(refs(&s->refs), 2);
	msh_snapshot_unref(s);		/* the publisher lets go */
	assert_int_equal(refs(&s->refs), 1);
	assert_true(fd_open(fd0));	/* kept alive by the second ref */
	assert_true(fd_open(fd1));
	assert_int_equal(s->listeners[0].sockets->fds[0], fd0);
	msh_snapshot_unref(s);		/* the last: sockets close */
	assert_closed(fd0);
	assert_closed(fd1);
}

static void
test_rebuild_same_address(void **state)
{
	unsigned port = free_port();
	struct msh_snapshot *a, *b;
	struct msh_sockets *so;
	int fd0, fd1;

	a = build(conf_on("meshd.conf", port), NULL, 1, 0);
	so = a->listeners[0].sockets;
	fd0 = so->fds[0];
	fd1 = so->fds[1];

	b = build(conf_on("meshd.conf", port), a, 2, 0);
	assert_int_equal(b->generation, 2);
	/* The very same sockets, shared. */
	assert_ptr_equal(b->listeners[0].sockets, so);
	assert_int_equal(b->listeners[0].sockets->fds[0], fd0);
	assert_int_equal(b->listeners[0].sockets->fds[1], fd1);
	assert_int_equal(refs(&so->refs), 2);
	assert_int_equal(refs(&a->refs), 1);	/* b took no ref on a */

	/* The old snapshot goes; the sockets stay with the new one. */
	msh_snapshot_unref(a);
	assert_true(fd_open(fd0));
	assert_true(fd_open(fd1));
	assert_int_equal(refs(&so->refs), 1);
	assert_listening(fd0, port);

	msh_snapshot_unref(b);
	assert_closed(fd0);
	assert_closed(fd1);
}

static void
test_rebuild_moved_listener(void **state)
{
	unsigned p1 = free_port(), p2;
	struct msh_snapshot *a, *b;
	struct msh_sockets *old;
	int old0, old1, new0, new1;

	a = build(conf_on("meshd.conf", p1), NULL, 1, 0);
	old = a->listeners[0].sockets;
	old0 = old->fds[0];
	old1 = old->fds[1];

	do
		p2 = free_port();
	while (p2 == p1);
	b = build(conf_on("moved.conf", p2), a, 2, 0);
	assert_ptr_not_equal(b->listeners[0].sockets, old);
	new0 = b->listeners[0].sockets->fds[0];
	new1 = b->listeners[0].sockets->fds[1];
	assert_true(new0 != old0 && new0 != old1);
	assert_true(new1 != old0 && new1 != old1);
	assert_listening(new0, p2);
	assert_listening(new1, p2);
	assert_int_equal(refs(&old->refs), 1);
	/* Both sets open while both snapshots live. */
	assert_listening(old0, p1);

	msh_snapshot_unref(a);
	assert_closed(old0);
	assert_closed(old1);
	assert_listening(new0, p2);
	assert_listening(new1, p2);
	msh_snapshot_unref(b);
	assert_closed(new0);
	assert_closed(new1);
}

static void
test_cannot_listen(void **state)
{
	unsigned port = free_port(), taken;
	struct msh_diag d = new_diag();
	struct msh_snapshot *prev, *next;
	struct msh_conf *conf;
	struct msh_sockets *so;
	const char *path;
	char want[512];
	int plain, fd0, fd1;

	prev = build(conf_on("meshd.conf", port), NULL, 1, 0);
	so = prev->listeners[0].sockets;
	fd0 = so->fds[0];
	fd1 = so->fds[1];

	do
		taken = free_port();
	while (taken == port);
	assert_true((plain = plain_listen(taken)) >= 0);

	/* The first listener takes prev's sockets over, the second cannot
	 * bind: the build fails and gives the first back. */
	path = write_file("taken.conf",
	    "[meshd]\n"				/* 1 */
	    "service = orders\n"		/* 2 */
	    "admin = 127.0.0.1:1\n"		/* 3 */
	    "\n"				/* 4 */
	    "[listener inbound]\n"		/* 5 */
	    "address = 127.0.0.1:%u\n"		/* 6 */
	    "cluster = local\n"			/* 7 */
	    "\n"				/* 8 */
	    "[listener busy]\n"			/* 9 */
	    "cluster = local\n"			/* 10 */
	    "address = 127.0.0.1:%u\n"		/* 11 */
	    "\n"
	    "[cluster local]\n"
	    "endpoint = 127.0.0.1:9\n", port, taken);
	conf = load(path);
	ndiag = 0;
	next = msh_snapshot_build(conf, NULL, prev, NWORKERS, 2, 0, &d);
	assert_null(next);
	assert_int_equal(d.errors, 1);
	assert_int_equal(ndiag, 1);
	snprintf(want, sizeof(want), "%s:11: error: cannot listen on "
	    "127.0.0.1:%u for listener \"busy\": %s [listen]", path, taken,
	    strerror(EADDRINUSE));
	assert_string_equal(diag_lines[0], want);

	/* prev is as it was. */
	assert_int_equal(refs(&prev->refs), 1);
	assert_ptr_equal(prev->listeners[0].sockets, so);
	assert_int_equal(refs(&so->refs), 1);
	assert_int_equal(so->n, 2);
	assert_int_equal(so->fds[0], fd0);
	assert_int_equal(so->fds[1], fd1);
	assert_listening(fd0, port);
	assert_listening(fd1, port);
	assert_listening(plain, taken);

	/* And still serves as prev for the next good build. */
	next = build(conf_on("meshd.conf", port), prev, 3, 0);
	assert_ptr_equal(next->listeners[0].sockets, so);
	msh_snapshot_unref(prev);
	assert_true(fd_open(fd0));
	msh_snapshot_unref(next);
	assert_closed(fd0);
	assert_closed(fd1);
	close(plain);
}

static void
test_no_sockets(void **state)
{
	unsigned port = free_port();
	struct msh_snapshot *s;
	int plain;

	s = build(conf_on("meshd.conf", port), NULL, 1,
	    MSH_SNAPSHOT_NO_SOCKETS);
	assert_int_equal(s->nlisteners, 1);
	assert_null(s->listeners[0].sockets);
	assert_ptr_equal(s->listeners[0].cluster, &s->clusters[0]);
	assert_int_equal(s->clusters[0].nendpoints, 2);
	/* Nothing was bound: an exclusive socket gets the port. */
	assert_true((plain = plain_listen(port)) >= 0);
	close(plain);
	msh_snapshot_unref(s);
}

static void
test_registry_cluster(void **state)
{
	const struct msh_endpoint *pick[6];
	const struct msh_pick p = { .worker = 0 };
	struct msh_snapshot *s;
	struct msh_cluster *c;
	size_t i, n;

	write_file("mesh-registry.conf",
	    "[/services/payments/instances/p-1]\n"
	    "address = 127.0.10.1\n"
	    "port = 7002\n"
	    "health = passing\n"
	    "\n"
	    "[/services/payments/instances/p-2]\n"
	    "address = 127.0.10.2\n"
	    "port = 7003\n"
	    "\n"
	    "[/services/payments/instances/p-3]\n"
	    "address = 127.0.10.3\n"
	    "port = 7004\n"
	    "health = critical\n"
	    "\n"
	    "[/services/orders/instances/o-1]\n"
	    "address = 127.0.10.4\n"
	    "port = 7001\n");
	s = build(load(write_file("registry.conf",
	    "[meshd]\n"
	    "service = orders\n"
	    "registry = mesh-registry.conf\n"
	    "admin = 127.0.0.1:1\n"
	    "\n"
	    "[cluster payments]\n"
	    "service = payments\n"
	    "lb = round_robin\n")), NULL, 1, 0);
	assert_int_equal(s->nclusters, 1);
	c = &s->clusters[0];
	assert_string_equal(c->conf->name, "payments");
	/* The critical instance and the other service's are left out. */
	assert_int_equal(c->nendpoints, 2);
	assert_string_equal(c->endpoints[0].name, "127.0.10.1:7002");
	assert_string_equal(c->endpoints[1].name, "127.0.10.2:7003");
	assert_int_equal(c->endpoints[0].weight, 1);
	assert_int_equal(c->endpoints[1].weight, 1);
	assert_non_null(c->lb);
	assert_non_null(c->lb_state);

	/* Round robin on worker 0 alternates between the two. */
	n = sizeof(pick) / sizeof(pick[0]);
	for (i = 0; i < n; i++) {
		pick[i] = c->lb->pick(c->lb_state, c, &p);
		assert_non_null(pick[i]);
		assert_true(pick[i] == &c->endpoints[0] ||
		    pick[i] == &c->endpoints[1]);
	}
	for (i = 1; i < n; i++)
		assert_ptr_not_equal(pick[i], pick[i - 1]);
	msh_snapshot_unref(s);
}

/* Loading a registry view: the whole file checked, duplicates found
 * however far apart, only the wanted services kept, and a service lost by
 * accident given its last instances back. */
static void
test_registry_view(void **state)
{
	static const char *const want[] = { "pay" };
	struct msh_registry old, cur;
	struct msh_diag d;
	const char *path;
	char line[512];

	path = write_file("mesh-registry.conf",
	    "[/services/pay/instances/p-2]\n"		/* 1 */
	    "address = 127.0.10.2\n"
	    "port = 7002\n"
	    "[/services/web/instances/w-1]\n"		/* 4 */
	    "address = 127.0.10.9\n"
	    "port = 7000\n"
	    "[/services/pay/instances/p-1]\n"		/* 7 */
	    "address = 127.0.10.1\n"
	    "port = 7001\n"
	    "[/services/web/instances/w-1]\n"		/* 10 */
	    "address = 127.0.10.8\n"
	    "port = 7000\n");
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, NULL, &cur, &d), -1);
	assert_int_equal(ndiag, 1);
	snprintf(line, sizeof(line), "%s:10: error: instance "
	    "/services/web/instances/w-1 appears twice (first at line 4) "
	    "[duplicate]", path);
	assert_string_equal(diag_lines[0], line);
	assert_int_equal(cur.n, 0);

	path = write_file("mesh-registry.conf",
	    "[/services/pay/instances/p-2]\n"
	    "address = 127.0.10.2\n"
	    "port = 7002\n"
	    "[/services/web/instances/w-1]\n"
	    "address = 127.0.10.9\n"
	    "port = 7000\n"
	    "[/services/pay/instances/p-1]\n"
	    "address = 127.0.10.1\n"
	    "port = 7001\n");
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, NULL, &old, &d), 0);
	assert_int_equal(d.errors + d.warnings, 0);
	/* Only pay's, sorted by id. */
	assert_int_equal(old.n, 2);
	assert_string_equal(old.instances[0].id, "p-1");
	assert_string_equal(old.instances[1].id, "p-2");

	/* pay lost: kept, with a warning. */
	path = write_file("mesh-registry.conf",
	    "[/services/web/instances/w-1]\n"
	    "address = 127.0.10.9\n"
	    "port = 7000\n");
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, NULL, &cur, &d), 0);
	assert_int_equal(cur.n, 0);
	assert_int_equal(msh_registry_keep_vanished(&cur, &old, path, &d), 1);
	assert_int_equal(d.warnings, 1);
	assert_non_null(strstr(diag_lines[0], "service \"pay\" has no "
	    "instances any more; keeping its last 2"));
	assert_int_equal(cur.n, 2);
	assert_string_equal(cur.instances[0].id, "p-1");
	assert_string_equal(cur.instances[1].service, "pay");
	msh_registry_free(&cur);

	/* pay said empty: nothing kept, nothing said. */
	path = write_file("mesh-registry.conf",
	    "[/services/pay]\n"
	    "empty = on\n");
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, NULL, &cur, &d), 0);
	assert_int_equal(msh_registry_keep_vanished(&cur, &old, path, &d), 0);
	assert_int_equal(d.warnings, 0);
	assert_int_equal(cur.n, 0);
	msh_registry_free(&cur);
	msh_registry_free(&old);
}

/*
 * Reading a registry again after a good reading: sections of other
 * services that did not change are not parsed again, yet the checks
 * across sections still see them, lines still count them, and what
 * changed is checked.
 */
#define PAY_1	"[/services/pay/instances/p-1]\n" \
		"address = 127.0.10.1\nport = 7001\n"
#define WEB_1	"[/services/web/instances/w-1]\n" \
		"address = 127.0.10.9\nport = 7000\n"
#define WEB_2	"[/services/web/instances/w-2]\n" \
		"address = 127.0.10.8\nport = 7000\nzone = a\n"
/* A header inside a section: never skipped, so w-3 is always seen. */
#define WEB	"[/services/web]\n" \
		"  [/services/web/instances/w-3]\n" \
		"address = 127.0.10.7\nport = 7000\n"

static void
test_registry_again(void **state)
{
	static const char *const want[] = { "pay" };
	struct msh_registry prev, cur;
	struct msh_diag d;
	const char *path;
	char line[512];

	(void)state;
	path = write_file("mesh-registry.conf", PAY_1 WEB_1 WEB_2 WEB);
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, NULL, &prev, &d), 0);
	assert_int_equal(prev.n, 1);

	/* A copy of a skipped section is still a duplicate, at its line. */
	path = write_file("mesh-registry.conf", PAY_1 WEB_1 WEB_2 WEB WEB_1);
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, &prev, &cur, &d),
	    -1);
	assert_int_equal(ndiag, 1);
	snprintf(line, sizeof(line), "%s:15: error: instance "
	    "/services/web/instances/w-1 appears twice (first at line 4) "
	    "[duplicate]", path);
	assert_string_equal(diag_lines[0], line);

	/* So is a new section with the path of a skipped one; and one with
	 * the path of the instance inside [/services/web]. */
	path = write_file("mesh-registry.conf", PAY_1 WEB_1 WEB_2 WEB
	    "[/services/web/instances/w-2]\naddress = 127.0.10.6\n"
	    "port = 7000\n"
	    "[/services/web/instances/w-3]\naddress = 127.0.10.6\n"
	    "port = 7000\n");
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, &prev, &cur, &d),
	    -1);
	assert_int_equal(ndiag, 2);
	snprintf(line, sizeof(line), "%s:15: error: instance "
	    "/services/web/instances/w-2 appears twice (first at line 7) "
	    "[duplicate]", path);
	assert_string_equal(diag_lines[0], line);
	snprintf(line, sizeof(line), "%s:18: error: instance "
	    "/services/web/instances/w-3 appears twice (first at line 12) "
	    "[duplicate]", path);
	assert_string_equal(diag_lines[1], line);

	/* A changed section is parsed, and lines count the skipped ones. */
	path = write_file("mesh-registry.conf", PAY_1 WEB_1 WEB_2 WEB
	    "[/services/web/instances/w-4]\naddress = 127.0.10.5\n"
	    "port = 70000\n");
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, &prev, &cur, &d),
	    -1);
	assert_int_equal(ndiag, 2);	/* and w-4 has no port */
	assert_non_null(strstr(diag_lines[0], ":17: error: bad value "
	    "\"70000\" for \"port\""));

	/* A service said empty whose instances are all skipped. */
	path = write_file("mesh-registry.conf", PAY_1 WEB_1 WEB_2
	    "[/services/web]\nempty = on\n");
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, &prev, &cur, &d),
	    -1);
	assert_int_equal(ndiag, 1);
	assert_non_null(strstr(diag_lines[0], ":12: error: service \"web\" "
	    "is said to be empty but lists instances (line 4)"));

	/* The wanted service's sections are read whatever happened: the
	 * view is that of a first reading. */
	path = write_file("mesh-registry.conf", WEB_2 WEB_1
	    "[/services/pay/instances/p-2]\naddress = 127.0.10.2\n"
	    "port = 7002\n" PAY_1);
	d = new_diag();
	assert_int_equal(msh_registry_load(path, want, 1, &prev, &cur, &d), 0);
	assert_int_equal(d.errors + d.warnings, 0);
	assert_int_equal(cur.n, 2);
	assert_string_equal(cur.instances[0].id, "p-1");
	assert_string_equal(cur.instances[1].id, "p-2");
	assert_int_equal(cur.instances[1].port, 7002);
	msh_registry_free(&cur);
	msh_registry_free(&prev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_rebuild_same_address),
		cmocka_unit_test(test_rebuild_moved_listener),
		cmocka_unit_test(test_cannot_listen),
		cmocka_unit_test(test_no_sockets),
		cmocka_unit_test(test_registry_cluster),
		cmocka_unit_test(test_registry_view),
		cmocka_unit_test(test_registry_again),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
