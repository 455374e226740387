#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "plainconn.h"

/*
 * How: a socket bufferevent's ev_read (public, in bufferevent_struct.h)
 * is what its enabling, watermarks and read timeout add and remove; only
 * its callback reads. So the callback is replaced, and libevent keeps
 * deciding when to read. The callback does what libevent's does, less the
 * ioctl: at most READ_SIZE (libevent's EVBUFFER_MAX_READ) a read, which
 * keeps an idle connection's buffer small; proxy.c reads on (read_more)
 * when a read fills it.
 */
#define READ_SIZE	4096

static void
fail(struct bufferevent *bev, short what)
{
	bufferevent_disable(bev, EV_READ);
	bufferevent_trigger_event(bev, what, 0);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *bev = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t want = READ_SIZE, have, left;
	struct evbuffer_iovec v[2];
	ssize_t n;
	int i, k;

	/* A read that is due wins over the timeout, as in libevent. */
	if (what == EV_TIMEOUT) {
		fail(bev, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
		return;
	}
	if (bev->wm_read.high != 0) {
		if ((have = evbuffer_get_length(in)) >= bev->wm_read.high) {
			/* Setting the mark again suspends reading. */
			bufferevent_setwatermark(bev, EV_READ, bev->wm_read.low,
			    bev->wm_read.high);
			return;
		}
		if (bev->wm_read.high - have < want)
			want = bev->wm_read.high - have;
	}
	/* A socket bufferevent keeps its input frozen but for its reads. */
	evbuffer_unfreeze(in, 0);
	if ((k = evbuffer_reserve_space(in, want, v, 2)) < 1)
		abort();
	n = readv(fd, (struct iovec *)v, k);
	if (n > 0) {
		left = n;
		for (i = 0; i < k && left > 0; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		evbuffer_commit_space(in, v, i);
	}
	evbuffer_freeze(in, 0);
	if (n > 0)
		/* Past the low mark, meshd's read callback; it may free bev. */
		bufferevent_trigger(bev, EV_READ, 0);
	else if (n == 0)
		fail(bev, BEV_EVENT_EOF | BEV_EVENT_READING);
	else if (errno != EAGAIN && errno != EINTR)
		fail(bev, BEV_EVENT_ERROR | BEV_EVENT_READING);
}

/* Replace ev_read's callback; it must not be pending meanwhile. */
static void
own_reads(struct bufferevent *bev)
{
	short enabled = bufferevent_get_enabled(bev) & EV_READ;

	if (enabled)
		bufferevent_disable(bev, EV_READ);
	if (event_assign(&bev->ev_read, bev->ev_base, bufferevent_getfd(bev),
	    EV_READ | EV_PERSIST | EV_FINALIZE, on_readable, bev) != 0)
		abort();
	if (enabled)
		bufferevent_enable(bev, EV_READ);
}

struct bufferevent *
msh_plainconn_new(struct event_base *base, int fd)
{
	struct bufferevent *bev;

	if ((bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL)
		abort();
	own_reads(bev);
	return bev;
}

int
msh_plainconn_connect(struct bufferevent *bev, const struct sockaddr *sa,
    socklen_t len)
{
	/* It assigns ev_read anew, for the new socket. */
	int r = bufferevent_socket_connect(bev, (struct sockaddr *)sa, len);

	if (r == 0)
		own_reads(bev);
	return r;
}
