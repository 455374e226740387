/*
 * Snapshot lifecycle: build, reference counting, listening sockets handed
 * over across rebuilds (or closed with the last snapshot that held them),
 * failed builds that change nothing, registry-backed clusters.
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

static char dir[] = "/tmp/msh-snapshot-XXXXXX";
static char diag_text[4096];

static void
collect(void *arg, enum msh_severity sev, const char *line)
{
	strncat(diag_text, line, sizeof(diag_text) - strlen(diag_text) - 2);
	strcat(diag_text, "\n");
}

static unsigned
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
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
	fclose(fp);
	return path;
}

/* A config with one listener on port and one static cluster. */
static struct msh_conf *
conf_on(unsigned port)
{
	struct msh_diag d = { .sink = collect };
	const char *path;

	path = write_file("meshd.conf",
	    "[meshd]\nservice = s\nadmin = 127.0.0.1:1\n\n"
	    "[listener in]\naddress = 127.0.0.1:%u\ncluster = c\n\n"
	    "[cluster c]\nendpoint = 127.0.0.1:9\n", port);
	return msh_conf_load(path, NULL, &d);
}

static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static int
group_setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	msh_stats_init(2);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_build_and_refs(void **state)
{
	struct msh_diag d = { .sink = collect };
	struct msh_snapshot *s;
	int fd0, fd1;

	s = msh_snapshot_build(conf_on(free_port()), NULL, 2, 1, 0, &d);
	assert_non_null(s);
	assert_int_equal(d.errors, 0);
	assert_int_equal(s->nlisteners, 1);
	assert_int_equal(s->listeners[0].sockets->n, 2);
	fd0 = s->listeners[0].sockets->fds[0];
	fd1 = s->listeners[0].sockets->fds[1];
	assert_true(fd_open(fd0) && fd_open(fd1));
	assert_ptr_equal(s->listeners[0].cluster, &s->clusters[0]);
	assert_int_equal(s->clusters[0].nendpoints, 1);

	msh_snapshot_ref(s);		/* a connection */
	msh_snapshot_unref(s);		/* the publisher lets go */
	assert_true(fd_open(fd0));	/* still referenced */
	msh_snapshot_unref(s);
	assert_false(fd_open(fd0));
	assert_false(fd_open(fd1));
}

static void
test_sockets_handed_over(void **state)
{
	struct msh_diag d = { .sink = collect };
	struct msh_snapshot *a, *b, *c;
	unsigned port = free_port();
	struct msh_sockets *so;
	int fd, moved;

	a = msh_snapshot_build(conf_on(port), NULL, 2, 1, 0, &d);
	assert_non_null(a);
	so = a->listeners[0].sockets;
	fd = so->fds[0];

	/* Same address: the very same sockets. */
	b = msh_snapshot_build(conf_on(port), a, 2, 2, 0, &d);
	assert_non_null(b);
	assert_ptr_equal(b->listeners[0].sockets, so);
	assert_int_equal(b->generation, 2);
	msh_snapshot_unref(a);
	assert_true(fd_open(fd));	/* b holds them */

	/* The listener moves: new sockets; the old close with b. */
	c = msh_snapshot_build(conf_on(free_port()), b, 2, 3, 0, &d);
	assert_non_null(c);
	assert_ptr_not_equal(c->listeners[0].sockets, so);
	moved = c->listeners[0].sockets->fds[0];
	assert_true(fd_open(fd));
	msh_snapshot_unref(b);
	assert_false(fd_open(fd));
	assert_true(fd_open(moved));
	msh_snapshot_unref(c);
	assert_int_equal(d.errors, 0);
}

static void
test_failed_build_changes_nothing(void **state)
{
	struct msh_diag d = { .sink = collect };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct msh_snapshot *a, *b;
	unsigned taken = free_port();
	int plain, fd;

	/* A socket bound without SO_REUSEPORT: nobody else can bind it. */
	plain = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(taken);
	assert_int_equal(bind(plain, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(plain, 1), 0);

	a = msh_snapshot_build(conf_on(free_port()), NULL, 2, 1, 0, &d);
	assert_non_null(a);
	fd = a->listeners[0].sockets->fds[0];
	diag_text[0] = '\0';
	b = msh_snapshot_build(conf_on(taken), a, 2, 2, 0, &d);
	assert_null(b);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(diag_text, "meshd.conf:6: error: cannot listen "
	    "on 127.0.0.1:"));
	assert_non_null(strstr(diag_text, "Address already in use"));
	/* prev is whole: its sockets open, its count untouched. */
	assert_true(fd_open(fd));
	assert_int_equal(atomic_load(&a->refs), 1);
	assert_int_equal(atomic_load(&a->listeners[0].sockets->refs), 1);
	msh_snapshot_unref(a);
	assert_false(fd_open(fd));
	close(plain);
}

static void
test_no_sockets(void **state)
{
	struct msh_diag d = { .sink = collect };
	struct msh_snapshot *s;

	s = msh_snapshot_build(conf_on(free_port()), NULL, 1, 1,
	    MSH_SNAPSHOT_NO_SOCKETS, &d);
	assert_non_null(s);
	assert_null(s->listeners[0].sockets);
	msh_snapshot_unref(s);
}

static void
test_registry_cluster(void **state)
{
	struct msh_diag d = { .sink = collect };
	const struct msh_endpoint *e1, *e2, *e3;
	struct msh_snapshot *s;
	struct msh_conf *conf;
	char a[MSH_ADDR_STRLEN], b[MSH_ADDR_STRLEN];

	write_file("registry.conf",
	    "[/services/api/instances/one]\naddress = 127.0.0.2\nport = 80\n"
	    "[/services/api/instances/two]\naddress = 127.0.0.3\nport = 80\n"
	    "[/services/api/instances/sick]\naddress = 127.0.0.4\nport = 80\n"
	    "health = critical\n"
	    "[/services/other/instances/x]\naddress = 127.0.0.5\nport = 80\n");
	conf = msh_conf_load(write_file("reg.conf",
	    "[meshd]\nservice = s\nregistry = registry.conf\n"
	    "admin = 127.0.0.1:1\n\n[cluster api]\nservice = api\n"), NULL, &d);
	assert_non_null(conf);
	s = msh_snapshot_build(conf, NULL, 2, 1, MSH_SNAPSHOT_NO_SOCKETS, &d);
	assert_non_null(s);
	assert_int_equal(s->clusters[0].nendpoints, 2);
	assert_string_equal(s->clusters[0].endpoints[0].name, "127.0.0.2:80");
	assert_string_equal(s->clusters[0].endpoints[1].name, "127.0.0.3:80");

	/* Round robin alternates on one worker. */
	e1 = s->clusters[0].lb->pick(s->clusters[0].lb_state, &s->clusters[0], 0);
	e2 = s->clusters[0].lb->pick(s->clusters[0].lb_state, &s->clusters[0], 0);
	e3 = s->clusters[0].lb->pick(s->clusters[0].lb_state, &s->clusters[0], 0);
	snprintf(a, sizeof(a), "%s", e1->name);
	snprintf(b, sizeof(b), "%s", e2->name);
	assert_string_not_equal(a, b);
	assert_ptr_equal(e1, e3);
	msh_snapshot_unref(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_and_refs),
		cmocka_unit_test(test_sockets_handed_over),
		cmocka_unit_test(test_failed_build_changes_nothing),
		cmocka_unit_test(test_no_sockets),
		cmocka_unit_test(test_registry_cluster),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
