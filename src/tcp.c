/*
 * Tunnels: protocol=tcp, and HTTP connections after an Upgrade (101).
 * Bytes both ways, with backpressure and half-close: when
 * one side ends its stream, the other side's write half is shut once
 * everything before the end has been sent.
 *
 * The sockets are plain TCP, so the bytes need not come up to us: each
 * direction runs src -> pipe -> dst with splice(2). The bufferevents then
 * only hold the fds, disabled for good; msh_conn_free closes them. Where
 * splice cannot be had (no fds left for the pipes, a kernel or socket
 * that refuses it) the tunnel runs on the bufferevents instead.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "outlier.h"
#include "pool.h"
#include "proxy.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsconn.h"
#include "worker.h"

#define SPLICE_BUDGET		(1024 * 1024)	/* bytes a direction moves per
						 * callback: the others get
						 * their turn */

struct splice_dir {
	struct msh_splice	*sp;
	struct bufferevent	*to;	/* dst's; its output goes first */
	int			 src;
	int			 dst;
	int			 pipe[2];
	size_t			 inpipe;	/* bytes in pipe */
	struct event		*rd;	/* src readable */
	struct event		*wr;	/* dst writable */
	unsigned		 eof:1;		/* src ended */
	unsigned		 shut:1;	/* and dst was told */
};

struct msh_splice {
	struct msh_conn		*c;
	struct splice_dir	 d[2];	/* client to upstream, and back */
	struct event		*idle;
	struct timespec		 last;	/* a byte moved either way */
	unsigned		 worked:1;	/* a splice call succeeded */
};

enum pump {
	PUMP_WAIT,	/* for an event, or the direction is over */
	PUMP_ERROR,	/* the connection is done for */
	PUMP_NOSPLICE,	/* splice refused before it ever worked */
};

static void tunnel_read(struct bufferevent *, void *);
static void tunnel_write(struct bufferevent *, void *);
static void tunnel_event(struct bufferevent *, short, void *);

static struct bufferevent *
other(struct msh_conn *c, struct bufferevent *bev)
{
	return bev == c->client ? c->up->bev : c->client;
}

static int
flushed(struct bufferevent *bev)
{
	return msh_bev_unsent(bev) == 0;
}

/* Pass on an end of stream once the bytes before it are out; close when
 * both ends are done. Returns 1 if c was freed. */
static int
settle(struct msh_conn *c)
{
	if (c->client_eof && flushed(c->up->bev))
		shutdown(bufferevent_getfd(c->up->bev), SHUT_WR);
	if (c->up_eof && flushed(c->client))
		shutdown(bufferevent_getfd(c->client), SHUT_WR);
	if (c->client_eof && c->up_eof && flushed(c->client) &&
	    flushed(c->up->bev)) {
		msh_conn_free(c);
		return 1;
	}
	return 0;
}

static void
tunnel_read(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;
	struct bufferevent *to = other(c, bev);

	event_base_gettimeofday_cached(c->w->base, &c->active);
	evbuffer_add_buffer(bufferevent_get_output(to),
	    bufferevent_get_input(bev));
	if (msh_bev_unsent(to) > c->l->conf->buffer_size)
		bufferevent_disable(bev, EV_READ);
}

static void
tunnel_write(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;
	struct bufferevent *from = other(c, bev);
	int from_eof = from == c->client ? c->client_eof : c->up_eof;

	if (settle(c))
		return;
	/* A TLS bufferevent calls this before its records are sent too. */
	if (!from_eof && msh_bev_unsent(bev) <= c->l->conf->buffer_size)
		bufferevent_enable(from, EV_READ);
}

static void
tunnel_event(struct bufferevent *bev, short what, void *arg)
{
	struct msh_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		msh_tls_accepted(c);	/* a TLS client's handshake is done */
		return;
	}

	if (what & BEV_EVENT_EOF) {
		tunnel_read(bev, c);
		if (bev == c->client)
			c->client_eof = 1;
		else
			c->up_eof = 1;
		settle(c);
		return;
	}
	/* Each side's read timeout runs alone: a tunnel is idle only when
	 * neither side has sent a byte for idle_timeout. */
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    msh_ms_since(c, &c->active) < c->l->conf->idle_timeout) {
		bufferevent_enable(bev, EV_READ);
		return;
	}
	msh_conn_free(c);
}

static void
connected(struct bufferevent *bev, short what, void *arg)
{
	struct msh_conn *c = arg;

	if ((what & BEV_EVENT_CONNECTED) &&
	    !msh_upstream_verified(c->cluster, c->ep, c->up))
		what = BEV_EVENT_ERROR;	/* not the peer it should be */
	if (!(what & BEV_EVENT_CONNECTED)) {
		msh_connect_failed(c->cluster, c->ep, c->w->id, what);
		msh_conn_free(c);
		return;
	}
	msh_set_nodelay(bufferevent_getfd(bev));
	msh_outlier_result(c->cluster, c->ep, c->w->id, MSH_OUTCOME_OK);
	msh_tunnel(c);
}

static void
tunnel_bev(struct msh_conn *c)
{
	event_base_gettimeofday_cached(c->w->base, &c->active);
	bufferevent_setcb(c->client, tunnel_read, tunnel_write, tunnel_event, c);
	bufferevent_setcb(c->up->bev, tunnel_read, tunnel_write, tunnel_event,
	    c);
	msh_bev_read_limit(c->client, c->l->conf->buffer_size);
	msh_bev_read_limit(c->up->bev, c->l->conf->buffer_size);
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	bufferevent_setwatermark(c->up->bev, EV_WRITE, 0, 0);
	msh_set_timeouts(c->client, c->l->conf->idle_timeout, 0);
	msh_set_timeouts(c->up->bev, c->l->conf->idle_timeout, 0);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	bufferevent_enable(c->up->bev, EV_READ | EV_WRITE);
	/* Bytes already read on either side go across first. */
	tunnel_read(c->client, c);
	tunnel_read(c->up->bev, c);
}

static void
ms_to_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = ms % 1000 * 1000;
}

/* Monotonic, not libevent's cached time: that one follows the wall
 * clock, whose steps would end or stretch idle tunnels. Coarse is enough
 * for an hour and costs no system call. */
static void
touch(struct msh_splice *sp)
{
	clock_gettime(CLOCK_MONOTONIC_COARSE, &sp->last);
}

/* Backpressure: while dst takes no more, src is not read. */
static enum pump
wait_writable(struct splice_dir *d)
{
	event_del(d->rd);
	event_add(d->wr, NULL);
	return PUMP_WAIT;
}

static enum pump
wait_readable(struct splice_dir *d)
{
	event_del(d->wr);
	event_add(d->rd, NULL);
	return PUMP_WAIT;
}

static enum pump
refused(struct splice_dir *d)
{
	if ((errno == EINVAL || errno == ENOSYS) && !d->sp->worked)
		return PUMP_NOSPLICE;
	return PUMP_ERROR;
}

/*
 * Move what src has to dst until one of them would block. The pipe is
 * only filled when empty, so an EAGAIN reading src means src has nothing,
 * never that the pipe is full.
 */
static enum pump
pump(struct splice_dir *d)
{
	struct evbuffer *before = bufferevent_get_output(d->to);
	size_t budget = SPLICE_BUDGET;
	ssize_t n;
	int err;

	while (evbuffer_get_length(before) > 0) {
		/* A socket bufferevent keeps its output frozen for all but
		 * itself; it would be too, should it take over again. */
		evbuffer_unfreeze(before, 1);
		n = evbuffer_write(before, d->dst);
		err = errno;
		evbuffer_freeze(before, 1);
		if (n > 0)
			touch(d->sp);
		else if (n < 0 && err == EAGAIN)
			return wait_writable(d);
		else if (n == 0 || err != EINTR)
			return PUMP_ERROR;
	}
	for (;;) {
		while (d->inpipe > 0) {
			n = splice(d->pipe[0], NULL, d->dst, NULL, d->inpipe,
			    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n > 0) {
				d->inpipe -= n;
				d->sp->worked = 1;
				touch(d->sp);
			} else if (n == 0)
				return PUMP_ERROR;	/* not with bytes in the pipe */
			else if (errno == EAGAIN)
				return wait_writable(d);
			else if (errno != EINTR)
				return refused(d);
		}
		if (d->eof) {
			shutdown(d->dst, SHUT_WR);
			d->shut = 1;
			event_del(d->rd);
			event_del(d->wr);
			return PUMP_WAIT;
		}
		if (budget == 0)
			return wait_readable(d);
		n = splice(d->src, NULL, d->pipe[1], NULL, SPLICE_BUDGET,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			d->inpipe = n;
			budget = (size_t)n < budget ? budget - n : 0;
		} else if (n == 0)
			d->eof = 1;
		else if (errno == EAGAIN)
			return wait_readable(d);
		else if (errno != EINTR)
			return refused(d);
		if (n >= 0) {
			d->sp->worked = 1;
			touch(d->sp);
		}
	}
}

static void
splice_ready(evutil_socket_t fd, short what, void *arg)
{
	struct splice_dir *d = arg;
	struct msh_splice *sp = d->sp;
	struct msh_conn *c = sp->c;

	switch (pump(d)) {
	case PUMP_WAIT:
		if (sp->d[0].shut && sp->d[1].shut)
			msh_conn_free(c);
		break;
	case PUMP_ERROR:
		msh_conn_free(c);
		break;
	case PUMP_NOSPLICE:
		/* Nothing is in a pipe yet: the bufferevents take over. */
		msh_splice_free(c);
		tunnel_bev(c);
		break;
	}
}

/* One timer for both directions, pushed back lazily: moving bytes costs
 * no timer update. */
static void
splice_idle(evutil_socket_t fd, short what, void *arg)
{
	struct msh_splice *sp = arg;
	struct timespec now;
	struct timeval left;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	ms = (int64_t)(now.tv_sec - sp->last.tv_sec) * 1000 +
	    (now.tv_nsec - sp->last.tv_nsec) / 1000000;
	if (ms >= (int64_t)sp->c->l->conf->idle_timeout) {
		msh_conn_free(sp->c);
		return;
	}
	ms_to_tv(sp->c->l->conf->idle_timeout - ms, &left);
	event_add(sp->idle, &left);
}

/* Take the tunnel's fds over for splice. Returns -1, with nothing
 * changed, if there are no fds for the pipes. */
static int
splice_start(struct msh_conn *c)
{
	struct bufferevent *from[2] = { c->client, c->up->bev };
	struct event_base *base = c->w->base;
	struct msh_splice *sp;
	struct splice_dir *d;
	struct timeval tv;
	int p[2][2], i;

	/* TLS bytes are not the stream: the bufferevents must carry it. */
	if (msh_bev_tls(c->client) || msh_bev_tls(c->up->bev))
		return -1;
	if (pipe2(p[0], O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	if (pipe2(p[1], O_NONBLOCK | O_CLOEXEC) == -1) {
		close(p[0][0]);
		close(p[0][1]);
		return -1;
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		abort();
	sp->c = c;
	for (i = 0; i < 2; i++) {
		d = &sp->d[i];
		d->sp = sp;
		d->to = from[!i];
		d->src = bufferevent_getfd(from[i]);
		d->dst = bufferevent_getfd(d->to);
		d->pipe[0] = p[i][0];
		d->pipe[1] = p[i][1];
		d->rd = event_new(base, d->src, EV_READ | EV_PERSIST,
		    splice_ready, d);
		d->wr = event_new(base, d->dst, EV_WRITE | EV_PERSIST,
		    splice_ready, d);
		if (d->rd == NULL || d->wr == NULL)
			abort();
	}
	if ((sp->idle = event_new(base, -1, 0, splice_idle, sp)) == NULL)
		abort();
	c->splice = sp;

	/* The fds are ours now: the bufferevents never poll them again. */
	for (i = 0; i < 2; i++) {
		bufferevent_setcb(from[i], NULL, NULL, NULL, NULL);
		bufferevent_disable(from[i], EV_READ | EV_WRITE);
	}
	/* Bytes already read on either side (after a 101, say) go first,
	 * behind what was already queued: a direction sends its
	 * destination's output before it splices. */
	for (i = 0; i < 2; i++) {
		d = &sp->d[i];
		evbuffer_add_buffer(bufferevent_get_output(d->to),
		    bufferevent_get_input(from[i]));
		if (evbuffer_get_length(bufferevent_get_output(d->to)) > 0)
			wait_writable(d);
		else
			wait_readable(d);
	}
	touch(sp);
	ms_to_tv(c->l->conf->idle_timeout, &tv);
	event_add(sp->idle, &tv);
	return 0;
}

void
msh_splice_free(struct msh_conn *c)
{
	struct msh_splice *sp = c->splice;
	int i;

	if (sp == NULL)
		return;
	for (i = 0; i < 2; i++) {
		event_free(sp->d[i].rd);
		event_free(sp->d[i].wr);
		close(sp->d[i].pipe[0]);
		close(sp->d[i].pipe[1]);
	}
	event_free(sp->idle);
	free(sp);
	c->splice = NULL;
}

void
msh_tunnel(struct msh_conn *c)
{
	c->state = MSH_CONN_TUNNEL;
	if (splice_start(c) == -1)
		tunnel_bev(c);
}

void
msh_tcp_start(struct msh_conn *c)
{
	struct msh_cluster *cl = c->cluster = c->l->cluster;

	c->state = MSH_CONN_TUNNEL;
	msh_stats_inc(c->l->stats, c->w->id, MSH_C_REQUESTS);
	if (!msh_authorized(c, NULL)) {
		msh_conn_free(c);
		return;
	}
	msh_stats_inc(cl->stats, c->w->id, MSH_C_REQUESTS);
	if (msh_endpoint_take(c, NULL) != 0) {
		msh_conn_free(c);
		return;
	}
	bufferevent_setcb(c->client, NULL, NULL, NULL, NULL);
	msh_upstream_connect(c, connected);
}
