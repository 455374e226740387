/*
 * floor: the least any user-space proxy can do per request, for bench/run.
 *
 * floor [-e] LISTEN_ADDR PORT UPSTREAM_ADDR PORT
 *
 * Each accepted connection gets its own upstream connection, and bytes
 * are copied both ways as they come: no parsing, no headers, no pool,
 * no timers. HTTP/1.1 keep-alive through it works because it is a pipe.
 * What is left is what no proxy on loopback can skip: one epoll_wait per
 * wake, one read and one write per message each way. Its CPU per request
 * is the floor under meshd's, HAProxy's and nginx's.
 *
 * Reads are level-triggered, one read a wake, as libevent (and so meshd)
 * does; -e makes them edge-triggered, as nginx does, which spares the
 * kernel the re-poll of a socket after each wake that reported it.
 *
 * Not for use: a peer that stops reading holds one buffer and stops the
 * other side; an error or end of input on either side closes both.
 */
#define _GNU_SOURCE	/* accept4 */

#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUFSZ	65536
#define MAXEVENTS	64	/* a wake's events, and so its closes */

struct side {
	int		 fd;
	struct side	*peer;
	char		*held;		/* read from peer, not yet written here */
	size_t		 nheld;
};

static int	edge;
static int	ep;
static char	buf[BUFSZ];
static struct side *dead[MAXEVENTS];	/* closed in this wake, freed after */
static int	ndead;

static void
watch(struct side *s, int op, unsigned int what)
{
	struct epoll_event ev;

	ev.events = what | (edge ? EPOLLET : 0);
	ev.data.ptr = s;
	if (epoll_ctl(ep, op, s->fd, &ev) == -1)
		err(1, "epoll_ctl");
}

/* What to wait for on s: to write what it holds; to read, unless its
 * peer holds bytes (level-triggered: it would wake us for ever). */
static void
rewatch(struct side *s)
{
	unsigned int what = s->nheld > 0 ? EPOLLOUT : 0;

	if (edge || s->peer->nheld == 0)
		what |= EPOLLIN;
	watch(s, EPOLL_CTL_MOD, what);
}

static void
close_pair(struct side *s)
{
	struct side *p = s->peer;

	if (s->fd == -1)
		return;
	close(s->fd);
	close(p->fd);
	s->fd = p->fd = -1;
	free(s->held);
	free(p->held);
	/* Later events of this wake may name either side: the pair (one
	 * allocation) lives until the wake is done. */
	dead[ndead++] = s < p ? s : p;
}

static struct sockaddr_in
address(const char *host, const char *port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(atoi(port));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		errx(1, "%s: not an IPv4 address", host);
	return sin;
}

/* Writes what dst holds; 0 when it is all out. While dst holds bytes
 * its peer is not read: that is the backpressure. */
static int
flush(struct side *dst)
{
	ssize_t n;

	while (dst->nheld > 0) {
		if ((n = write(dst->fd, dst->held, dst->nheld)) == -1)
			return errno == EAGAIN ? 1 : -1;
		memmove(dst->held, dst->held + n, dst->nheld - n);
		dst->nheld -= n;
	}
	free(dst->held);
	dst->held = NULL;
	return 0;
}

/* Copies from src to its peer until src has nothing more; -1 to close. */
static int
pump(struct side *src)
{
	struct side *dst = src->peer;
	ssize_t n, w;

	for (;;) {
		if ((n = read(src->fd, buf, sizeof(buf))) == 0)
			return -1;
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		w = write(dst->fd, buf, n);
		if (w == -1 && errno != EAGAIN)
			return -1;
		if (w < n) {
			if (w < 0)
				w = 0;
			if ((dst->held = malloc(n - w)) == NULL)
				err(1, "malloc");
			memcpy(dst->held, buf + w, n - w);
			dst->nheld = n - w;
			rewatch(dst);
			rewatch(src);
			return 0;
		}
		/* A short read left the socket empty; a new arrival is a new
		 * edge. Level-triggered, the next wake will say. */
		if (!edge || n < (ssize_t)sizeof(buf))
			return 0;
	}
}

static void
accept_one(int lfd, struct sockaddr_in *up)
{
	struct side *pair;
	int one = 1, fd, ufd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) == -1)
		return;
	if ((ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		err(1, "socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(ufd, (struct sockaddr *)up, sizeof(*up)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		close(ufd);
		return;
	}
	if ((pair = calloc(2, sizeof(*pair))) == NULL)
		err(1, "calloc");
	pair[0].fd = fd;
	pair[1].fd = ufd;
	pair[0].peer = &pair[1];
	pair[1].peer = &pair[0];
	watch(&pair[0], EPOLL_CTL_ADD, EPOLLIN);
	watch(&pair[1], EPOLL_CTL_ADD, EPOLLIN);
}

int
main(int argc, char *argv[])
{
	struct epoll_event evs[MAXEVENTS];
	struct sockaddr_in lsin, usin;
	struct side listener;
	int i, n, one = 1;

	if (argc > 1 && strcmp(argv[1], "-e") == 0) {
		edge = 1;
		argc--, argv++;
	}
	if (argc != 5)
		errx(2, "usage: floor [-e] addr port upstream-addr port");
	lsin = address(argv[1], argv[2]);
	usin = address(argv[3], argv[4]);
	if ((ep = epoll_create1(0)) == -1)
		err(1, "epoll_create1");
	if ((listener.fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener.fd, (struct sockaddr *)&lsin, sizeof(lsin)) == -1 ||
	    listen(listener.fd, 1024) == -1)
		err(1, "%s:%s", argv[1], argv[2]);
	listener.peer = NULL;
	{
		struct epoll_event ev = { .events = EPOLLIN,
		    .data.ptr = &listener };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, listener.fd, &ev) == -1)
			err(1, "epoll_ctl");
	}
	for (;;) {
		if ((n = epoll_wait(ep, evs, MAXEVENTS, -1)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		for (i = 0; i < n; i++) {
			struct side *s = evs[i].data.ptr;
			int r = 0;

			if (s->fd == -1)
				continue;
			if (s == &listener) {
				accept_one(listener.fd, &usin);
				continue;
			}
			/* Reported whatever is watched: an end either way. */
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				r = -1;
			if (r == 0 && (evs[i].events & EPOLLOUT) &&
			    (r = flush(s)) == 0) {
				rewatch(s);
				rewatch(s->peer);
				r = pump(s->peer);
			}
			if (r == 0 && s->peer->nheld == 0 &&
			    (evs[i].events & EPOLLIN))
				r = pump(s);
			if (r == -1)
				close_pair(s);
		}
		while (ndead > 0)
			free(dead[--ndead]);
	}
}
