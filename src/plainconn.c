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
 * is what its enabling and read timeout add and remove; only its callback
 * reads. So the callback is replaced, and libevent keeps deciding when to
 * read. The callback does what libevent's does, less the ioctl: READ_SIZE
 * (libevent's EVBUFFER_MAX_READ) a read, which keeps the buffer of a
 * connection that sends little small; when a read fills that, the socket
 * likely holds more (a body), and one more read takes up to READ_MORE of
 * it, where libevent would take a loop turn and a write per 4 KiB.
 * ev_read's argument stays the bufferevent: libevent's finalizer takes it
 * for one.
 *
 * The read limit (msh_plainconn_read_limit) is kept here too, in the
 * bufferevent's wm_read.high, but not as libevent's read watermark: that
 * one re-adds the read event, and so restarts its timeout, on every change
 * of the input below the mark, five times a request. Here the input is
 * watched (on_drained) only while reading waits for room in it: "held".
 * meshd's read callback is called here, not through libevent, which would
 * call it again and again while the input is at wm_read.high (its check
 * for a watermark it suspended for, which this file does not).
 */
#define READ_SIZE	4096
#define READ_MORE	32768

/* What this file relies on of a socket bufferevent's insides was read in
 * libevent 2.1 (bufferevent_sock.c); another series must be read again. */
#if LIBEVENT_VERSION_NUMBER < 0x02010000 || LIBEVENT_VERSION_NUMBER >= 0x02020000
#error "plainconn.c was written against libevent 2.1"
#endif

static void	on_drained(struct evbuffer *, const struct evbuffer_cb_info *,
		    void *);

/* Cut the k vectors v down to len bytes in all: how many hold some. */
static int
clip(struct evbuffer_iovec *v, int k, size_t len)
{
	int i;

	for (i = 0; i < k && len > 0; i++) {
		if (v[i].iov_len > len)
			v[i].iov_len = len;
		len -= v[i].iov_len;
	}
	return i;
}

ssize_t
msh_read_into(struct evbuffer *in, int fd, size_t max)
{
	struct evbuffer_iovec v[2];
	ssize_t n;
	int k;

	if ((k = evbuffer_reserve_space(in, max, v, 2)) < 1)
		abort();
	/* The chunks may have more room than asked: a read limit counts on
	 * max being max. */
	k = clip(v, k, max);
	if ((n = readv(fd, (struct iovec *)v, k)) <= 0)
		return n;
	evbuffer_commit_space(in, v, clip(v, k, n));
	return n;
}

static void
fail(struct bufferevent *bev, short what)
{
	bufferevent_disable(bev, EV_READ);
	bufferevent_trigger_event(bev, what, 0);
}

/* The input is at the limit: reading stops, as a suspended bufferevent's
 * does (its read timeout too), until meshd takes some. */
static void
hold(struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	event_del(&bev->ev_read);
	(void)evbuffer_remove_cb(in, on_drained, bev);	/* held already */
	if (evbuffer_add_cb(in, on_drained, bev) == NULL)
		abort();
}

/* Not held (any longer): reading goes on if meshd wants it to. */
static void
release(struct bufferevent *bev)
{
	if (evbuffer_remove_cb(bufferevent_get_input(bev), on_drained,
	    bev) != 0)
		return;
	if ((bufferevent_get_enabled(bev) & EV_READ) &&
	    event_add(&bev->ev_read, evutil_timerisset(&bev->timeout_read) ?
	    &bev->timeout_read : NULL) != 0)
		abort();
}

static void
on_drained(struct evbuffer *in, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct bufferevent *bev = arg;

	if (evbuffer_get_length(in) < bev->wm_read.high)
		release(bev);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *bev = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t want = READ_SIZE, have, high = bev->wm_read.high, more;
	ssize_t n;

	if (high != 0) {
		/* Enabled again while held, or the limit lowered; its read
		 * timeout is not the peer's to answer for, as with libevent's
		 * suspended reads. */
		if ((have = evbuffer_get_length(in)) >= high) {
			hold(bev);
			return;
		}
		if (high - have < want)
			want = high - have;
	}
	/* A read that is due wins over the timeout, as in libevent. */
	if (what == EV_TIMEOUT) {
		fail(bev, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
		return;
	}
	/* A socket bufferevent keeps its input frozen but for its reads. */
	evbuffer_unfreeze(in, 0);
	if ((n = msh_read_into(in, fd, want)) >= READ_SIZE) {
		have = evbuffer_get_length(in);
		more = high == 0 ? READ_MORE : have < high ? high - have : 0;
		/* An error or the end is left for the next read to find. */
		if (more > 0)
			(void)msh_read_into(in, fd, more < READ_MORE ? more :
			    READ_MORE);
	}
	evbuffer_freeze(in, 0);
	if (n > 0) {
		if (high != 0 && evbuffer_get_length(in) >= high)
			hold(bev);
		/* meshd sets no read low mark. The callback may free bev: the
		 * reference keeps it until the callback is done. */
		if (bev->readcb != NULL) {
			bufferevent_incref(bev);
			bev->readcb(bev, bev->cbarg);
			bufferevent_decref(bev);
		}
	} else if (n == 0)
		fail(bev, BEV_EVENT_EOF | BEV_EVENT_READING);
	else if (errno != EAGAIN && errno != EINTR)
		fail(bev, BEV_EVENT_ERROR | BEV_EVENT_READING);
}

/* Give ev_read this file's callback; it must not be pending meanwhile. */
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

int
msh_plainconn_read_limit(struct bufferevent *bev, size_t limit)
{
	if (event_get_callback(&bev->ev_read) != on_readable)
		return -1;
	bev->wm_read.low = 0;
	bev->wm_read.high = limit;
	if (limit == 0 ||
	    evbuffer_get_length(bufferevent_get_input(bev)) < limit)
		release(bev);
	return 0;
}
