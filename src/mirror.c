#include "config.h"

#include <stdlib.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "http1.h"
#include "lb.h"
#include "log.h"
#include "mirror.h"
#include "outlier.h"
#include "pool.h"
#include "proxy.h"
#include "snapshot.h"
#include "stats.h"
#include "tlsconn.h"
#include "worker.h"

/* Copies a worker has in flight at most; more are dropped, so that a
 * mirror that hangs cannot take all of a worker's sockets. */
#define MIRROR_MAX	1024

struct msh_mirror {
	TAILQ_ENTRY(msh_mirror)	   link;
	struct msh_worker	  *w;
	struct msh_snapshot	  *snap;	/* referenced: cl is in it */
	struct msh_cluster	  *cl;
	const struct msh_endpoint *ep;		/* in flight there */
	struct msh_upconn	  *up;
	/* What to send once connected; then where its response's body
	 * goes to be thrown away. */
	struct evbuffer		  *out;
	struct msh_http_msg	   msg;		/* the response head */
	struct msh_body		   body;	/* of the response */
	uint64_t		   behind;	/* bytes it may have queued */
	size_t			   max_head;	/* of a response head */
	unsigned		   counted;	/* MSH_COUNTED_ */
	unsigned		   fed:1;	/* the request's body comes */
	unsigned		   connected:1;
	unsigned		   answered:1;	/* its response head is in */
	unsigned		   done:1;	/* over: read, failed or dropped */
	unsigned		   head_request:1;
};

static void mirror_read(struct bufferevent *, void *);
static void mirror_event(struct bufferevent *, short, void *);

static void
mirror_free(struct msh_mirror *m)
{
	TAILQ_REMOVE(&m->w->mirrors, m, link);
	m->w->nmirrors--;
	msh_upconn_free(m->up);
	evbuffer_free(m->out);
	free(m->msg.headers);
	msh_snapshot_unref(m->snap);
	free(m);
}

static void
close_up(struct msh_mirror *m)
{
	msh_upconn_free(m->up);
	m->up = NULL;
}

/* The copy is over: it leaves its endpoint and the breaker's counts, and
 * is freed unless its request still feeds it. */
static void
finish(struct msh_mirror *m)
{
	if (m->ep != NULL)
		msh_stats_active(m->ep->stats, m->w->id, -1);
	m->ep = NULL;
	msh_breaker_leave(m->cl, &m->counted, MSH_COUNTED_ALL);
	m->done = 1;
	if (!m->fed)
		mirror_free(m);
}

/* Its request is done feeding it: returns NULL, for the feeder. */
static struct msh_mirror *
unfed(struct msh_mirror *m)
{
	m->fed = 0;
	if (m->done)
		mirror_free(m);
	return NULL;
}

/* Let the copy go: over a limit, behind, or its request cut short. */
static void
drop(struct msh_mirror *m)
{
	msh_stats_inc(m->cl->stats, m->w->id, MSH_C_MIRROR_DROPPED);
	close_up(m);
	finish(m);
}

/* No response, for what reason (libevent's flags), logged as a
 * request's failure is. */
static void
fail(struct msh_mirror *m, short what, const char *how)
{
	msh_stats_inc(m->cl->stats, m->w->id, MSH_C_MIRROR_FAILURES);
	if (!m->connected)
		msh_connect_failed(m->cl, m->ep, m->w->id, what);
	else {
		msh_outlier_result(m->cl, m->ep, m->w->id, MSH_OUTCOME_GATEWAY);
		msh_log(MSH_LOG_WARNING, "cluster %s: mirrored copy: %s from %s",
		    m->cl->conf->name, how, m->ep->name);
	}
	close_up(m);
	finish(m);
}

/* Bytes the copy has waiting to go (on TLS, the records not sent
 * too). */
static size_t
queued(const struct msh_mirror *m)
{
	return evbuffer_get_length(m->out) + (m->connected ?
	    msh_bev_unsent(m->up->bev) : 0);
}

/* The copy's connection is up: what it has goes, its response is read
 * within its cluster's response_timeout. Last, as a TLS connection may
 * fail while it is being written to. */
static void
connected(struct msh_mirror *m)
{
	struct bufferevent *bev = m->up->bev;
	uint64_t ms = m->cl->conf->response_timeout;

	m->connected = 1;
	bufferevent_setcb(bev, mirror_read, NULL, mirror_event, m);
	if (m->up->timeout != ms) {
		msh_set_timeouts(bev, ms, ms);
		m->up->timeout = ms;
	}
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	evbuffer_add_buffer(bufferevent_get_output(bev), m->out);
}

static void
mirror_connect(struct msh_mirror *m)
{
	if ((m->up = msh_upstream_pooled(m->w, m->cl, m->ep)) != NULL) {
		connected(m);
		return;
	}
	if (!msh_breaker_enter(m->cl, MSH_COUNTED_PENDING, &m->counted) ||
	    !msh_breaker_enter(m->cl, MSH_COUNTED_CONNECTION, &m->counted)) {
		drop(m);
		return;
	}
	m->up = msh_upstream_open(m->w, m->snap->tls, m->cl, m->ep,
	    mirror_event, m);
	if (m->up == NULL) {
		fail(m, BEV_EVENT_ERROR, "connect");
		return;
	}
	if (m->counted & MSH_COUNTED_CONNECTION) {
		/* The connection holds its count from now on. */
		m->counted &= ~MSH_COUNTED_CONNECTION;
		m->up->owner = m->cl->stats;
	}
}

struct msh_mirror *
msh_mirror_start(struct msh_conn *c, struct msh_cluster *cl)
{
	struct msh_worker *w = c->w;
	struct msh_pick p = { .worker = w->id, .rng = &w->rng };
	struct msh_mirror *m;

	msh_stats_inc(cl->stats, w->id, MSH_C_MIRRORED);
	msh_stats_inc(cl->stats, w->id, MSH_C_REQUESTS);
	if (w->nmirrors >= MIRROR_MAX) {
		msh_stats_inc(cl->stats, w->id, MSH_C_MIRROR_DROPPED);
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->out = evbuffer_new()) == NULL ||
	    (m->msg.headers = calloc(c->l->conf->max_headers,
	    sizeof(*m->msg.headers))) == NULL)
		abort();
	m->w = w;
	m->snap = c->snap;
	msh_snapshot_ref(m->snap);
	m->cl = cl;
	m->msg.max_headers = c->l->conf->max_headers;
	m->max_head = c->l->conf->max_header_size;
	m->behind = c->l->conf->buffer_size;
	m->head_request = c->head_request;
	/* Fed until the end of this call: whatever happens, m lives. */
	m->fed = 1;
	TAILQ_INSERT_TAIL(&w->mirrors, m, link);
	w->nmirrors++;
	if (!msh_breaker_enter(cl, MSH_COUNTED_REQUEST, &m->counted)) {
		drop(m);
		return unfed(m);
	}
	if (cl->lb->hashed)
		p.has_hash = msh_lb_request_hash(&cl->conf->hash_key, &c->msg,
		    &c->peer, &p.hash);
	if ((m->ep = msh_endpoint_pick(cl, &p, NULL)) == NULL) {
		drop(m);
		return unfed(m);
	}
	msh_shadow_head(c, m->ep, m->out);
	mirror_connect(m);
	return c->req_done || m->done ? unfed(m) : m;
}

struct msh_mirror *
msh_mirror_feed(struct msh_mirror *m, struct evbuffer *src, size_t off,
    int last)
{
	size_t n = evbuffer_get_length(src) - off;
	struct evbuffer *dst;
	struct evbuffer_iovec v;
	struct evbuffer_ptr at;

	if (m->done)
		return unfed(m);
	if (queued(m) + n > m->behind) {
		drop(m);
		return unfed(m);
	}
	dst = m->connected ? bufferevent_get_output(m->up->bev) : m->out;
	if (n > 0) {
		if (evbuffer_ptr_set(src, &at, off, EVBUFFER_PTR_SET) != 0 ||
		    evbuffer_reserve_space(dst, n, &v, 1) < 1)
			abort();
		evbuffer_copyout_from(src, &at, v.iov_base, n);
		v.iov_len = n;
		evbuffer_commit_space(dst, &v, 1);
	}
	return last ? unfed(m) : m;
}

void
msh_mirror_drop(struct msh_mirror *m)
{
	if (m == NULL)
		return;
	if (!m->done)
		drop(m);
	unfed(m);
}

void
msh_mirror_close_all(struct msh_worker *w)
{
	struct msh_mirror *m;

	while ((m = TAILQ_FIRST(&w->mirrors)) != NULL) {
		m->fed = 0;
		close_up(m);
		finish(m);
	}
}

/* The response head, past any 1xx: counted by class and for outlier
 * detection. 1 once it is in, 0 while more is needed, -1 if malformed
 * (the copy failed, and may be freed). */
static int
response_head(struct msh_mirror *m, struct evbuffer *in)
{
	unsigned status;
	size_t len;
	ssize_t n;

	do {
		if ((len = evbuffer_get_length(in)) == 0)
			return 0;
		if (len > m->max_head)
			len = m->max_head;
		n = msh_http1_parse_in(in, len, 1, m->head_request, &m->msg,
		    NULL);
		if (n == 0 && len < m->max_head)
			return 0;
		if (n <= 0 || m->msg.status == 101) {
			fail(m, BEV_EVENT_ERROR, "malformed response head");
			return -1;
		}
		status = m->msg.status;
		msh_body_init(&m->body, &m->msg);
		evbuffer_drain(in, n);
	} while (status < 200);
	m->answered = 1;
	msh_stats_inc(m->cl->stats, m->w->id, msh_stats_class(status));
	msh_outlier_result(m->cl, m->ep, m->w->id,
	    status < 500 ? MSH_OUTCOME_OK :
	    status >= 502 && status <= 504 ? MSH_OUTCOME_GATEWAY :
	    MSH_OUTCOME_5XX);
	return 1;
}

/* The response is read and thrown away; once it is whole, the connection
 * goes back to the pool if it can serve another request. */
static void
mirror_read(struct bufferevent *bev, void *arg)
{
	struct msh_mirror *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int r;

	if (!m->answered && response_head(m, in) <= 0)
		return;
	r = msh_body_forward(&m->body, in, m->out);
	evbuffer_drain(m->out, evbuffer_get_length(m->out));
	if (r == 0)
		return;
	if (r == 1 && m->msg.keep_alive && !m->fed &&
	    evbuffer_get_length(in) == 0 && msh_bev_unsent(bev) == 0) {
		msh_pool_put(m->up);
		m->up = NULL;
	}
	close_up(m);
	finish(m);
}

static void
mirror_event(struct bufferevent *bev, short what, void *arg)
{
	struct msh_mirror *m = arg;

	msh_breaker_leave(m->cl, &m->counted, MSH_COUNTED_PENDING);
	if (what & BEV_EVENT_CONNECTED) {
		if (msh_upstream_verified(m->cl, m->ep, m->up)) {
			msh_set_nodelay(bufferevent_getfd(bev));
			connected(m);
			return;
		}
		what = BEV_EVENT_ERROR;	/* not the peer it should be */
	}
	if (m->answered) {
		/* A body that ends with the connection is whole; any other
		 * is cut short, but the response was counted. */
		close_up(m);
		finish(m);
		return;
	}
	fail(m, what, what & BEV_EVENT_TIMEOUT ? "timeout before a response" :
	    what & BEV_EVENT_EOF ? "close before a response" :
	    "error before a response");
}
