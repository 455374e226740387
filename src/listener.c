#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

int
msh_listen_socket(const struct msh_addr *a, int reuseport)
{
	int fd, on = 1, saved;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
	    (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
	    listen(fd, 511) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

struct msh_sockets *
msh_sockets_open(const struct msh_addr *a, unsigned n, const char **err)
{
	struct msh_sockets *s;
	unsigned i;

	if ((s = calloc(1, sizeof(*s) + n * sizeof(int))) == NULL)
		abort();
	atomic_init(&s->refs, 1);
	s->addr = *a;
	for (i = 0; i < n; i++) {
		if ((s->fds[i] = msh_listen_socket(a, 1)) < 0) {
			*err = strerror(errno);
			s->n = i;
			msh_sockets_unref(s);
			return NULL;
		}
	}
	s->n = n;
	return s;
}

void
msh_sockets_ref(struct msh_sockets *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void
msh_sockets_unref(struct msh_sockets *s)
{
	unsigned i;

	if (s == NULL ||
	    atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < s->n; i++)
		close(s->fds[i]);
	free(s);
}
