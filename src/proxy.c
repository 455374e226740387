#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "health.h"
#include "http1.h"
#include "lb.h"
#include "log.h"
#include "mirror.h"
#include "outlier.h"
#include "plainconn.h"
#include "pool.h"
#include "proxy.h"
#include "ratelimit.h"
#include "route.h"
#include "snapshot.h"
#include "stats.h"
#include "tls.h"
#include "tlsconn.h"
#include "worker.h"


#define LINGER_MS	2000	/* after an answer that closes: silence */
#define LINGER_TOTAL_MS	10000	/* and in all */
#define TLS_RECORD	16384	/* the most a TLS record carries */

static void client_read(struct bufferevent *, void *);
static void client_write(struct bufferevent *, void *);
static void client_event(struct bufferevent *, short, void *);
static void upstream_read(struct bufferevent *, void *);
static void upstream_write(struct bufferevent *, void *);
static void upstream_event(struct bufferevent *, short, void *);
static void next_request(struct msh_conn *);
static void peeked(evutil_socket_t, short, void *);
static void start_client(struct msh_conn *, int, int);
static void tls_accepted(struct bufferevent *, short, void *);
static void end_request(struct msh_conn *);
static void drop_mirror(struct msh_conn *);
static int retry(struct msh_conn *, unsigned, unsigned);
static void set_response_timeout(struct msh_conn *, uint64_t);

static const char *
status_text(unsigned status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 429: return "Too Many Requests";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return status < 400 ? "Status" : "Error";
}

/* Heads and bodies go out in separate writes: Nagle would hold the
 * second one back for the peer's delayed ACK. */
void
msh_set_nodelay(int fd)
{
	int on = 1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

void
msh_set_timeouts(struct bufferevent *bev, uint64_t read_ms, uint64_t write_ms)
{
	struct timeval r = { read_ms / 1000, read_ms % 1000 * 1000 };
	struct timeval w = { write_ms / 1000, write_ms % 1000 * 1000 };
	const struct timeval *rp = read_ms ? &r : NULL, *wp = write_ms ? &w :
	    NULL;

	/* A TLS connection keeps them on its socket. */
	if (msh_tlsconn_timeouts(bev, rp, wp) != 0)
		bufferevent_set_timeouts(bev, rp, wp);
}

/*
 * Output for one socket is put together in w->stage, then written at once
 * when nothing is queued before it; only what the socket does not take
 * goes to the bufferevent. Most exchanges then never add and remove a
 * write event (an epoll_ctl each) nor wait a loop turn for it. Errors are
 * left for the bufferevent to find on its next read or write. The stage is
 * empty between callbacks. On TLS, the stage is encrypted at once and the
 * records go out at the end of the loop turn (tlsconn.c).
 */
void
msh_send(struct msh_worker *w, struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len = evbuffer_get_length(w->stage);

	if (len == 0)
		return;
	if (msh_bev_tls(bev))
		/* libevent's TLS makes a record of each chain: one for what
		 * fits in one (a head and a small body). */
		evbuffer_pullup(w->stage, len < TLS_RECORD ? len : TLS_RECORD);
	else if (evbuffer_get_length(out) == 0)
		(void)evbuffer_write(w->stage, bufferevent_getfd(bev));
	if (evbuffer_get_length(w->stage) > 0)
		evbuffer_add_buffer(out, w->stage);
}

static void
stop_timers(struct msh_conn *c)
{
	if (c->request_timer != NULL)
		event_del(c->request_timer);
	/* A retry waiting out its backoff is moot once the exchange ends,
	 * as is a fault's delay. */
	if (c->retry_timer != NULL)
		event_del(c->retry_timer);
	if (c->fault_timer != NULL)
		event_del(c->fault_timer);
}

/* Output that will never be sent: the stage is left empty. */
static void
unstage(struct msh_worker *w)
{
	evbuffer_drain(w->stage, evbuffer_get_length(w->stage));
}

void
msh_conn_free(struct msh_conn *c)
{
	TAILQ_REMOVE(&c->w->conns, c, link);
	if (c->peek != NULL) {
		event_free(c->peek);
		close(c->peek_fd);
	}
	free(c->peer_id);
	end_request(c);
	msh_endpoint_release(c);
	msh_splice_free(c);	/* its events watch the sockets freed next */
	msh_upconn_free(c->up);
	msh_bev_free(c->client);
	free(c->head);
	free(c->msg.headers);
	if (c->request_timer != NULL)
		event_free(c->request_timer);
	if (c->retry_timer != NULL)
		event_free(c->retry_timer);
	if (c->fault_timer != NULL)
		event_free(c->fault_timer);
	msh_snapshot_unref(c->snap);
	msh_worker_conn_done(c->w);
	free(c);
}

uint64_t
msh_ms_since(struct msh_conn *c, const struct timeval *then)
{
	struct timeval now;

	event_base_gettimeofday_cached(c->w->base, &now);
	return (now.tv_sec - then->tv_sec) * 1000 +
	    (now.tv_usec - then->tv_usec) / 1000;
}

/*
 * The balancer's pick among the endpoints msh_outlier_view allows,
 * passed over while ejected or unhealthy (unless in panic) or the one a
 * retry avoids, as long as another pick is neither: better an endpoint
 * that may fail than none.
 */
const struct msh_endpoint *
msh_endpoint_pick(struct msh_cluster *cluster, struct msh_pick *p,
    const struct msh_endpoint *avoid)
{
	const struct msh_endpoint *e, *first = NULL;
	const struct msh_cluster *cl;
	unsigned n;
	int panic;

	cl = msh_outlier_view(cluster, p->worker, &panic);
	for (n = 0; n < cl->nendpoints; n++, p->attempt++) {
		if ((e = cl->lb->pick(cl->lb_state, cl, p)) == NULL)
			break;
		if (first == NULL)
			first = e;
		/* By address: the local view's endpoints are copies. */
		if ((avoid == NULL || !msh_addr_equal(&e->addr, &avoid->addr)) &&
		    (panic || (!msh_outlier_ejected(e) && msh_health_ok(e)))) {
			first = e;
			break;
		}
	}
	if (first != NULL) {
		msh_stats_inc(first->stats, p->worker, MSH_C_REQUESTS);
		msh_stats_active(first->stats, p->worker, 1);
	}
	return first;
}

int
msh_endpoint_take(struct msh_conn *c, const struct msh_endpoint *avoid)
{
	struct msh_pick p = { .worker = c->w->id, .rng = &c->w->rng };

	/* The key once per request: by a retry, the head it was read from
	 * has left the input buffer. */
	if (c->cluster->lb->hashed && c->tries == 0)
		c->has_hash = msh_lb_request_hash(&c->cluster->conf->hash_key,
		    c->l->conf->protocol == MSH_PROTO_HTTP ? &c->msg : NULL,
		    &c->peer, &c->hash);
	p.hash = c->hash;
	p.has_hash = c->has_hash;
	/* A retry starts where the last pick left off. */
	p.attempt = c->tries > 0 ? c->tries - 1 : 0;
	return (c->ep = msh_endpoint_pick(c->cluster, &p, avoid)) != NULL ?
	    0 : -1;
}

void
msh_endpoint_release(struct msh_conn *c)
{
	if (c->ep == NULL)
		return;
	msh_stats_active(c->ep->stats, c->w->id, -1);
	c->ep = NULL;
}

/*
 * The time from handing over a request head to its response head, into
 * the endpoint's latency estimate: a peak EWMA as Linkerd keeps it. A
 * slower response takes the estimate up at once; faster ones bring it
 * down with a decay of MSH_LATENCY_DECAY_US, so that an endpoint that slowed
 * is avoided at once and trusted again gradually.
 */

/* Loopback answers take microseconds: libevent's cached time (the
 * coarse clock, 4 ms steps) would make most of them 0. */
static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
observe_latency(struct msh_conn *c)
{
	struct msh_stats_line *l = &c->ep->stats->lines[c->w->id];
	uint64_t at = now_us(), rtt = at - c->sent_us, est;
	double w;

	est = atomic_load_explicit(&l->latency_us, memory_order_relaxed);
	if (rtt > est || est == 0)
		est = rtt;
	else {
		w = exp(-(double)(at - l->latency_at_us) / MSH_LATENCY_DECAY_US);
		est = (uint64_t)(est * w + rtt * (1 - w));
	}
	atomic_store_explicit(&l->latency_us, est, memory_order_relaxed);
	l->latency_at_us = at;
}

static void
drop_upstream(struct msh_conn *c)
{
	msh_upconn_free(c->up);
	c->up = NULL;
}

/*
 * The last bytes are out: end our side and read (and drop) what the
 * client still sends until it closes, for at most LINGER_MS of silence.
 * Closing with unread input would send a reset, which can destroy the
 * answer (a 400, say) before the client has read it.
 */
static void
linger(struct msh_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);

	c->lingering = 1;
	event_base_gettimeofday_cached(c->w->base, &c->linger_start);
	shutdown(bufferevent_getfd(c->client), SHUT_WR);
	evbuffer_drain(in, evbuffer_get_length(in));
	msh_set_timeouts(c->client, LINGER_MS, 0);
	bufferevent_enable(c->client, EV_READ);
}

/* A client that keeps trickling bytes cannot linger for ever. */
static int
linger_over(struct msh_conn *c)
{
	return msh_ms_since(c, &c->linger_start) > LINGER_TOTAL_MS;
}

/* Send what is queued, then linger and close. Input is dropped. */
static void
close_when_flushed(struct msh_conn *c)
{
	drop_mirror(c);
	drop_upstream(c);
	stop_timers(c);
	c->state = MSH_CONN_CLOSING;
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	msh_set_timeouts(c->client, 0, c->l->conf->client_timeout);
	if (msh_bev_unsent(c->client) == 0)
		linger(c);
}

static void
count_response(struct msh_conn *c, unsigned status, int from_upstream)
{
	enum msh_counter k = msh_stats_class(status);

	msh_stats_inc(c->l->stats, c->w->id, k);
	if (from_upstream)
		msh_stats_inc(c->cluster->stats, c->w->id, k);
}

/* meshd's own answer, counted by cause; the connection closes after it. */
static void
send_error(struct msh_conn *c, unsigned status, enum msh_counter cause)
{
	const char *text = status_text(status);

	count_response(c, status, 0);
	msh_stats_inc(c->l->stats, c->w->id, cause);
	evbuffer_add_printf(c->w->stage,
	    "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	    status, text, strlen(text) + 1, text);
	msh_send(c->w, c->client);
	close_when_flushed(c);
}

/*
 * Circuit breaking: per cluster, shared by the workers, counted only for
 * the limits that are set. c->counted says what c holds, so that a reload
 * that sets or lifts a limit keeps the counts right.
 */
static _Atomic unsigned *
breaker_count(struct msh_stats *s, unsigned what)
{
	return what == MSH_COUNTED_REQUEST ? &s->requests :
	    what == MSH_COUNTED_PENDING ? &s->pending :
	    what == MSH_COUNTED_CONNECTION ? &s->open_connections :
	    &s->retries;
}

int
msh_breaker_enter(struct msh_cluster *cl, unsigned what, unsigned *counted)
{
	const struct msh_cluster_conf *cc = cl->conf;
	unsigned max = what == MSH_COUNTED_REQUEST ? cc->max_requests :
	    what == MSH_COUNTED_PENDING ? cc->max_pending : cc->max_connections;
	_Atomic unsigned *n = breaker_count(cl->stats, what);

	if (max == 0)
		return 1;
	if (atomic_fetch_add(n, 1) >= max) {
		atomic_fetch_sub(n, 1);
		return 0;
	}
	*counted |= what;
	return 1;
}

void
msh_breaker_leave(struct msh_cluster *cl, unsigned *counted, unsigned what)
{
	unsigned bit;

	for (bit = MSH_COUNTED_REQUEST; bit <= MSH_COUNTED_RETRY; bit <<= 1)
		if (*counted & what & bit)
			atomic_fetch_sub(breaker_count(cl->stats, bit), 1);
	*counted &= ~what;
}

/*
 * meshd's own answer to a well-formed request (a route's, or a limit's),
 * with extra field lines; the connection stays open when the request has
 * no body to skip.
 */
static void
answer(struct msh_conn *c, unsigned status, const char *fields,
    const char *body)
{
	int keep = c->req_done && !c->close_after;

	count_response(c, status, 0);
	evbuffer_add_printf(c->w->stage, "HTTP/1.1 %u %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s%s\r\n%s",
	    status, status_text(status), strlen(body), fields,
	    keep ? "" : "Connection: close\r\n", c->head_request ? "" : body);
	msh_send(c->w, c->client);
	if (!keep) {
		close_when_flushed(c);
		return;
	}
	stop_timers(c);
	drop_upstream(c);
	next_request(c);
}

/* 503 at once, saying which limit. */
static void
send_overload(struct msh_conn *c, const char *limit, enum msh_counter over)
{
	char field[64];

	msh_stats_inc(c->l->stats, c->w->id, MSH_C_ERR_OVERLOAD);
	msh_stats_inc(c->cluster->stats, c->w->id, over);
	snprintf(field, sizeof(field), "Meshd-Overload: %s\r\n", limit);
	answer(c, 503, field, "Service Unavailable\n");
}

/* The request's try policy: the cluster's, the route's keys over it. */
static void
set_try_policy(struct msh_conn *c)
{
	const struct msh_cluster_conf *cc = c->cluster->conf;
	const struct msh_route_conf *r = c->route;
	struct msh_try_policy *t = &c->try;

	t->retries = r && r->retries_line ? r->retries : cc->retries;
	t->retry_on = r && r->retry_on_line ? r->retry_on : cc->retry_on;
	t->per_try_timeout = r && r->per_try_timeout_line ?
	    r->per_try_timeout : cc->per_try_timeout;
	t->request_timeout = r && r->request_timeout_line ?
	    r->request_timeout : cc->request_timeout;
	t->response_timeout = cc->response_timeout;
	t->retry_non_idempotent = r && r->retry_non_idempotent_line ?
	    r->retry_non_idempotent : cc->retry_non_idempotent;
}

/* The first of the listener's routes the request matches, or NULL; and
 * its counts in c->route_stats. */
static const struct msh_route_conf *
find_route(struct msh_conn *c)
{
	const struct msh_listener *l = c->l;
	size_t i;

	for (i = 0; i < l->nroutes; i++)
		if (msh_route_match(l->routes[i]->compiled, &c->msg)) {
			c->route_stats = l->route_stats[i];
			return l->routes[i];
		}
	return NULL;
}

/* A route that answers itself: a direct response or a redirect. */
static void
route_answer(struct msh_conn *c)
{
	const char *location, *body;
	unsigned status;
	char *field = NULL;

	status = msh_route_answer(c->route->compiled, &location, &body);
	if (location != NULL && asprintf(&field, "Location: %s\r\n",
	    location) < 0)
		abort();
	answer(c, status, field != NULL ? field : "", body);
	free(field);
}

/* Count c in what if under its limit (or none is set); else answer 503
 * and return 0. */
static int
breaker_admits(struct msh_conn *c, unsigned what)
{
	if (msh_breaker_enter(c->cluster, what, &c->counted))
		return 1;
	send_overload(c, what == MSH_COUNTED_REQUEST ? "max_requests" :
	    what == MSH_COUNTED_PENDING ? "max_pending" : "max_connections",
	    what == MSH_COUNTED_REQUEST ? MSH_C_OVER_REQUESTS :
	    what == MSH_COUNTED_PENDING ? MSH_C_OVER_PENDING :
	    MSH_C_OVER_CONNECTIONS);
	return 0;
}

/* A copy of the request that still waits for its body: it cannot have
 * the rest of it. */
static void
drop_mirror(struct msh_conn *c)
{
	msh_mirror_drop(c->mirror);
	c->mirror = NULL;
}

/* The request is over: it leaves the breaker's counts. */
static void
end_request(struct msh_conn *c)
{
	drop_mirror(c);
	if (c->counted != 0)
		msh_breaker_leave(c->cluster, &c->counted, MSH_COUNTED_ALL);
}

/*
 * A head being written: built in one buffer, not one libevent call per
 * field. A head is at most max_header_size bytes in and never grows by
 * more than HEAD_SLACK out. Request heads are kept in c->head for a retry;
 * response heads are built in place in the stage (head_begin, head_end).
 */
#define HEAD_SLACK	256

struct head {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

static void
put(struct head *o, const char *p, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;	/* cannot happen, see above */
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Room for a head of at most cap bytes at the end of b. */
static void
head_reserve(struct evbuffer *b, size_t cap, struct head *o)
{
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(b, cap, &v, 1) < 1)
		abort();
	o->buf = v.iov_base;
	o->cap = v.iov_len;
	o->len = 0;
}

static void
head_commit(struct evbuffer *b, struct head *o)
{
	struct evbuffer_iovec v = { o->buf, o->len };

	evbuffer_commit_space(b, &v, 1);
}

static void
head_begin(struct msh_conn *c, struct head *o)
{
	head_reserve(c->w->stage, c->l->conf->max_header_size + HEAD_SLACK, o);
}

static void
head_end(struct msh_conn *c, struct head *o)
{
	head_commit(c->w->stage, o);
}

#define PUTS(o, lit)	put((o), (lit), sizeof(lit) - 1)

#define FIELD(f)	(1u << (f))

/* The fields to forward: all but the hop-by-hop ones and those in drop
 * (FIELD() bits: Transfer-Encoding when the body is decoded, a client's
 * X-Forwarded-Proto when meshd sets its own). */
#define XFCC	"X-Forwarded-Client-Cert"

/* Is h a field only meshd may set on this listener's requests? */
static int
spoofed(const struct msh_http_header *h, const struct msh_listener_conf *l)
{
	return l != NULL && l->tls != MSH_TLS_OFF &&
	    h->name_len == sizeof(XFCC) - 1 &&
	    strncasecmp(h->name, XFCC, h->name_len) == 0;
}

static void
put_fields(struct head *o, const struct msh_http_msg *m, unsigned drop,
    const struct msh_route_conf *r, const struct msh_listener_conf *l)
{
	size_t i;

	for (i = 0; i < m->nheaders; i++) {
		const struct msh_http_header *h = &m->headers[i];

		if (msh_http1_hop_by_hop(h) || (drop & FIELD(h->field)) ||
		    spoofed(h, l))
			continue;
		if (r != NULL && msh_route_removes(r->compiled, h->name,
		    h->name_len))
			continue;
		put(o, h->name, h->name_len);
		PUTS(o, ": ");
		put(o, h->value, h->value_len);
		PUTS(o, "\r\n");
	}
}

/* Upgrade is hop-by-hop, but an upgrade asks each hop in turn: the
 * request's and the 101's Upgrade fields go on, with Connection: upgrade. */
static void
put_upgrade(struct head *o, const struct msh_http_msg *m)
{
	size_t i;

	for (i = 0; i < m->nheaders; i++) {
		if (m->headers[i].field != MSH_F_UPGRADE)
			continue;
		PUTS(o, "Upgrade: ");
		put(o, m->headers[i].value, m->headers[i].value_len);
		PUTS(o, "\r\n");
	}
	PUTS(o, "Connection: upgrade\r\n");
}

static void
put_status_line(struct head *o, const struct msh_http_msg *m)
{
	char line[13] = "HTTP/1.1 000 ";

	/* The parser took exactly three digits. */
	line[9] = '0' + m->status / 100;
	line[10] = '0' + m->status / 10 % 10;
	line[11] = '0' + m->status % 10;
	put(o, line, sizeof(line));
	put(o, m->reason, m->reason_len);
	PUTS(o, "\r\n");
}

/* Backpressure: stop reading src while dst's output is full. */
static int
over_high(struct msh_conn *c, struct bufferevent *dst)
{
	return msh_bev_unsent(dst) > c->l->conf->buffer_size;
}

static void
pump_request_body(struct msh_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	size_t off;
	int r;

	if (c->up == NULL || c->state == MSH_CONN_CONNECTING)
		return;
	if (c->req_done) {
		msh_send(c->w, c->up->bev);	/* a head without a body */
		return;
	}
	off = evbuffer_get_length(c->w->stage);	/* after a head */
	r = msh_body_forward(&c->reqbody, in, c->w->stage);
	if (r < 0) {
		unstage(c->w);
		if (c->state == MSH_CONN_WAITING)
			send_error(c, 400, MSH_C_ERR_BAD_BODY);
		else
			msh_conn_free(c);
		return;
	}
	if (c->mirror != NULL)
		c->mirror = msh_mirror_feed(c->mirror, c->w->stage, off, r == 1);
	msh_send(c->w, c->up->bev);
	if (r == 1)
		c->req_done = 1;
	else if (over_high(c, c->up->bev))
		bufferevent_disable(c->client, EV_READ);
}

/* The exchange is over: keep or close the upstream, then the client. */
static void
finish_exchange(struct msh_conn *c)
{
	struct msh_upconn *u = c->up;

	stop_timers(c);
	c->up = NULL;
	if (u != NULL) {
		if (c->msg.keep_alive && c->req_done &&
		    evbuffer_get_length(bufferevent_get_input(u->bev)) == 0)
			msh_pool_put(u);
		else
			msh_upconn_free(u);
	}
	if (c->close_after || !c->req_done) {
		close_when_flushed(c);
		return;
	}
	next_request(c);
}

static void
pump_response_body(struct msh_conn *c)
{
	int r;

	r = msh_body_forward(&c->respbody, bufferevent_get_input(c->up->bev),
	    c->w->stage);
	if (r < 0) {
		unstage(c->w);
		msh_log(MSH_LOG_WARNING, "listener %s: malformed response "
		    "body from %s", c->l->conf->name, c->ep->name);
		msh_conn_free(c);
		return;
	}
	msh_send(c->w, c->client);
	if (r == 1) {
		finish_exchange(c);
		return;
	}
	if (over_high(c, c->client))
		bufferevent_disable(c->up->bev, EV_READ);
}

/* The upstream agreed to the client's Upgrade: pass the 101 on with its
 * Upgrade and Connection fields, then both connections become a tunnel.
 * The upstream connection is not pooled again. */
static void
switch_protocols(struct msh_conn *c, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(c->up->bev);
	struct msh_http_msg *m = &c->msg;
	struct head o;

	stop_timers(c);
	count_response(c, 101, 1);
	head_begin(c, &o);
	put_status_line(&o, m);
	put_fields(&o, m, 0, NULL, NULL);
	put_upgrade(&o, m);
	PUTS(&o, "\r\n");
	head_end(c, &o);
	msh_send(c->w, c->client);
	evbuffer_drain(in, n);
	msh_tunnel(c);
}

/* Parse the response head(s) the upstream sent and pass them on. */
static void
response_head(struct msh_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->up->bev);
	struct msh_http_msg *m = &c->msg;
	size_t len, max = c->l->conf->max_header_size;
	struct head o;
	ssize_t n;

	for (;;) {
		if ((len = evbuffer_get_length(in)) == 0)
			return;
		if (len > max)
			len = max;
		n = msh_http1_parse_in(in, len, 1, c->head_request, m, NULL);
		if (n == 0 && len < max)
			return;
		if (n <= 0 || (m->status == 101 && !c->upgrade)) {
			msh_log(MSH_LOG_WARNING, "listener %s: malformed "
			    "response head from %s", c->l->conf->name,
			    c->ep->name);
			send_error(c, 502, MSH_C_ERR_BAD_RESPONSE);
			return;
		}
		if (m->status == 101) {
			switch_protocols(c, n);
			return;
		}
		if (m->status >= 200)
			break;
		/* 100 Continue and friends go through as they are. */
		if (!c->client_http10) {
			head_begin(c, &o);
			put_status_line(&o, m);
			put_fields(&o, m, 0, NULL, NULL);
			PUTS(&o, "\r\n");
			head_end(c, &o);
			msh_send(c->w, c->client);
		}
		evbuffer_drain(in, n);
	}
	observe_latency(c);
	msh_outlier_result(c->cluster, c->ep, c->w->id,
	    m->status < 500 ? MSH_OUTCOME_OK :
	    m->status >= 502 && m->status <= 504 ? MSH_OUTCOME_GATEWAY :
	    MSH_OUTCOME_5XX);
	if (m->status >= 500 || c->try.retry_on.nstatus > 0) {
		/* Counted for the cluster only: the client never sees it. */
		if (retry(c, (m->status >= 500 ? MSH_RETRY_5XX : 0) |
		    (m->status >= 502 && m->status <= 504 ?
		    MSH_RETRY_GATEWAY_ERROR : 0), m->status)) {
			msh_stats_inc(c->cluster->stats, c->w->id,
			    msh_stats_class(m->status));
			return;
		}
	}
	count_response(c, m->status, 1);
	if (c->try.per_try_timeout != 0)
		set_response_timeout(c, c->try.response_timeout);
	msh_body_init(&c->respbody, m);
	/* An HTTP/1.0 client cannot read chunked: strip the framing and
	 * end the body by closing. */
	if (c->client_http10 && c->respbody.kind == MSH_BODY_CHUNKED) {
		c->respbody.decode = 1;
		c->close_after = 1;
	}
	if (c->respbody.kind == MSH_BODY_UNTIL_CLOSE || !c->req_done ||
	    c->w->draining)
		c->close_after = 1;
	head_begin(c, &o);
	put_status_line(&o, m);
	put_fields(&o, m, c->respbody.decode ?
	    FIELD(MSH_F_TRANSFER_ENCODING) : 0, NULL, NULL);
	if (c->l->conf->via)
		PUTS(&o, "Via: 1.1 meshd\r\n");
	if (c->close_after)
		PUTS(&o, "Connection: close\r\n");
	else if (c->client_http10)
		PUTS(&o, "Connection: keep-alive\r\n");
	PUTS(&o, "\r\n");
	head_end(c, &o);
	evbuffer_drain(in, n);
	c->state = MSH_CONN_RESPONDING;
	pump_response_body(c);
}

static void
set_response_timeout(struct msh_conn *c, uint64_t ms)
{
	if (c->up->timeout != ms) {
		msh_set_timeouts(c->up->bev, ms, ms);
		c->up->timeout = ms;
	}
}

/* What an HTTP connection's input may hold: buffer_size, and never less
 * than max_header_size, as a head is parsed only once it is all in. */
static size_t
input_limit(const struct msh_listener_conf *lc)
{
	return lc->buffer_size > lc->max_header_size ? lc->buffer_size :
	    lc->max_header_size;
}

/* A pooled connection keeps its watermark and timeouts from its last
 * use: they are set only when new or different (another cluster or
 * listener with the same endpoint, or a reload that changed them). */
static void
attach_upstream(struct msh_conn *c)
{
	struct bufferevent *bev = c->up->bev;

	bufferevent_setcb(bev, upstream_read, upstream_write, upstream_event, c);
	if (c->up->buffer_size != input_limit(c->l->conf)) {
		c->up->buffer_size = input_limit(c->l->conf);
		msh_bev_read_limit(bev, c->up->buffer_size);
	}
	/* Until the response head, a try may be held to less. */
	set_response_timeout(c, c->try.per_try_timeout != 0 &&
	    c->try.per_try_timeout < c->try.response_timeout ?
	    c->try.per_try_timeout : c->try.response_timeout);
	if ((bufferevent_get_enabled(bev) & (EV_READ | EV_WRITE)) !=
	    (EV_READ | EV_WRITE))
		bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* The upstream is ready: send the head, then what there is of the body. */
static void
send_request(struct msh_conn *c)
{
	attach_upstream(c);
	evbuffer_add(c->w->stage, c->head->buf, c->head->len);
	c->state = MSH_CONN_WAITING;
	c->sent_us = now_us();
	if (!(bufferevent_get_enabled(c->client) & EV_READ))
		bufferevent_enable(c->client, EV_READ);
	pump_request_body(c);
}

/* TLS to ep: connect(2) ourselves, then let the TLS bufferevent take
 * the socket; the handshake follows the connection, both within
 * connect_timeout. NULL if connect(2) fails at once. */
static struct msh_upconn *
open_tls(struct msh_worker *w, struct msh_tls *tls,
    const struct msh_cluster *cl, const struct msh_endpoint *ep)
{
	struct msh_upconn *u;
	int fd;

	fd = socket(ep->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&ep->addr.ss,
	    ep->addr.len) != 0 && errno != EINPROGRESS)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	u = msh_upconn_new_tls(w->pool, &ep->addr, fd, msh_tls_client(tls));
	msh_set_timeouts(u->bev, cl->conf->connect_timeout,
	    cl->conf->connect_timeout);
	return u;
}

/* The client's identity, the URI of its certificate ("" if it has none,
 * NULL without TLS), read once per connection. */
static const char *
peer_identity(struct msh_conn *c)
{
	char id[512];
	SSL *ssl;

	if (c->peer_id != NULL)
		return c->peer_id;
	if ((ssl = bufferevent_openssl_get_ssl(c->client)) == NULL)
		return NULL;
	if (msh_tls_peer_id(ssl, id, sizeof(id)) != 0)
		id[0] = '\0';
	if ((c->peer_id = strdup(id)) == NULL)
		abort();
	return c->peer_id;
}

int
msh_authorized(struct msh_conn *c, const struct msh_http_msg *m)
{
	const struct msh_listener *l = c->l;
	const char *id;
	size_t i;

	if (l->nrules == 0)
		return 1;
	id = peer_identity(c);
	for (i = 0; i < l->nrules; i++)
		if (msh_rule_match(l->rules[i], m, id, &c->peer)) {
			msh_stats_inc(l->rule_stats[i], c->w->id,
			    MSH_C_REQUESTS);
			if (l->rules[i]->action == MSH_RULE_ALLOW)
				return 1;
			break;
		}
	msh_stats_inc(l->stats, c->w->id, MSH_C_ERR_FORBIDDEN);
	return 0;
}

void
msh_tls_accepted(struct msh_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->client);

	msh_stats_inc(c->l->stats, c->w->id, MSH_C_TLS_HANDSHAKES);
	if (ssl != NULL && SSL_session_reused(ssl))
		msh_stats_inc(c->l->stats, c->w->id, MSH_C_TLS_RESUMED);
}

int
msh_bev_tls(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

/* Who u's TLS peer is: its certificate's URI ("" if none), read once a
 * connection; a pooled one is checked again at every reuse. */
static const char *
peer_id(struct msh_upconn *u)
{
	char id[512];

	if (u->peer_id == NULL) {
		if (msh_tls_peer_id(bufferevent_openssl_get_ssl(u->bev), id,
		    sizeof(id)) != 0)
			id[0] = '\0';
		if ((u->peer_id = strdup(id)) == NULL)
			abort();
	}
	return u->peer_id;
}

/* Is u's peer the one cl names? */
static int
peer_is(const struct msh_cluster *cl, struct msh_upconn *u)
{
	const char *want = cl->conf->tls_peer;

	return want == NULL || !msh_bev_tls(u->bev) ||
	    strcmp(peer_id(u), want) == 0;
}

int
msh_upstream_verified(const struct msh_cluster *cl,
    const struct msh_endpoint *ep, struct msh_upconn *u)
{
	if (peer_is(cl, u))
		return 1;
	msh_log(MSH_LOG_WARNING, "cluster %s: %s is \"%s\", not %s",
	    cl->conf->name, ep->name, peer_id(u), cl->conf->tls_peer);
	return 0;
}

struct msh_upconn *
msh_upstream_pooled(struct msh_worker *w, const struct msh_cluster *cl,
    const struct msh_endpoint *ep)
{
	struct msh_upconn *u;

	if ((u = msh_pool_take(w->pool, &ep->addr,
	    cl->conf->tls == MSH_TLS_ON)) != NULL && !peer_is(cl, u)) {
		/* Pooled for another cluster, whose peer this is not. */
		msh_pool_put(u);
		u = NULL;
	}
	return u;
}

struct msh_upconn *
msh_upstream_open(struct msh_worker *w, struct msh_tls *tls,
    const struct msh_cluster *cl, const struct msh_endpoint *ep,
    bufferevent_event_cb on_event, void *arg)
{
	struct msh_upconn *u;

	msh_stats_inc(cl->stats, w->id, MSH_C_CONNECTIONS);
	if (cl->conf->tls == MSH_TLS_ON) {
		if ((u = open_tls(w, tls, cl, ep)) != NULL)
			bufferevent_setcb(u->bev, NULL, NULL, on_event, arg);
		return u;
	}
	u = msh_upconn_new(w->pool, &ep->addr);
	bufferevent_setcb(u->bev, NULL, NULL, on_event, arg);
	msh_set_timeouts(u->bev, 0, cl->conf->connect_timeout);
	if (msh_plainconn_connect(u->bev, (struct sockaddr *)&ep->addr.ss,
	    ep->addr.len) != 0) {
		msh_upconn_free(u);
		return NULL;
	}
	return u;
}

void
msh_upstream_connect(struct msh_conn *c, bufferevent_event_cb on_event)
{
	c->up = msh_upstream_open(c->w, c->snap->tls, c->cluster, c->ep,
	    on_event, c);
	if (c->up == NULL) {
		/* connect(2) failed at once: a failure like any other. */
		c->up = msh_upconn_new(c->w->pool, &c->ep->addr);
		on_event(c->up->bev, BEV_EVENT_ERROR, c);
		return;
	}
	if (c->counted & MSH_COUNTED_CONNECTION) {
		/* The connection holds its count from now on. */
		c->counted &= ~MSH_COUNTED_CONNECTION;
		c->up->owner = c->cluster->stats;
	}
}

static void
connect_upstream(struct msh_conn *c, int use_pool)
{
	struct msh_upconn *u = NULL;

	if (use_pool)
		u = msh_upstream_pooled(c->w, c->cluster, c->ep);
	if (u != NULL) {
		c->up = u;
		c->reused = 1;
		send_request(c);
		return;
	}
	c->reused = 0;
	if (!breaker_admits(c, MSH_COUNTED_PENDING) ||
	    !breaker_admits(c, MSH_COUNTED_CONNECTION))
		return;
	c->state = MSH_CONN_CONNECTING;
	/* Body bytes wait in the client's input meanwhile. */
	bufferevent_disable(c->client, EV_READ);
	msh_upstream_connect(c, upstream_event);
}

/*
 * The retry budget, per worker and cluster: over the last
 * MSH_BUDGET_WINDOW seconds, retries may be retry_budget percent of the
 * requests, plus retry_budget_min a second whatever the traffic. It keeps
 * retries from multiplying the load on a cluster that is already failing.
 */
static struct msh_stats_line *
budget_window(struct msh_conn *c)
{
	struct msh_stats_line *l = &c->cluster->stats->lines[c->w->id];
	uint64_t sec = msh_outlier_now() / 1000, s;

	if (sec != l->budget_second) {
		for (s = l->budget_second + 1; s <= sec &&
		    s <= l->budget_second + MSH_BUDGET_WINDOW; s++) {
			l->budget_requests[s % MSH_BUDGET_WINDOW] = 0;
			l->budget_retries[s % MSH_BUDGET_WINDOW] = 0;
		}
		if (sec > l->budget_second + MSH_BUDGET_WINDOW) {
			memset(l->budget_requests, 0,
			    sizeof(l->budget_requests));
			memset(l->budget_retries, 0, sizeof(l->budget_retries));
		}
		l->budget_second = sec;
	}
	return l;
}

static void
budget_count(struct msh_conn *c)
{
	struct msh_stats_line *l = budget_window(c);

	l->budget_requests[l->budget_second % MSH_BUDGET_WINDOW]++;
}

static int
budget_allows(struct msh_conn *c)
{
	const struct msh_cluster_conf *cc = c->cluster->conf;
	struct msh_stats_line *l = budget_window(c);
	uint64_t requests = 0, retries = 0;
	unsigned i;

	for (i = 0; i < MSH_BUDGET_WINDOW; i++) {
		requests += l->budget_requests[i];
		retries += l->budget_retries[i];
	}
	if (retries >= requests * cc->retry_budget / 100 +
	    (uint64_t)cc->retry_budget_min * MSH_BUDGET_WINDOW)
		return 0;
	l->budget_retries[l->budget_second % MSH_BUDGET_WINDOW]++;
	return 1;
}

/* Methods a retry cannot do harm with (RFC 9110, 9.2.2). */
static int
idempotent(const struct msh_http_msg *m)
{
	static const char *const safe[] = {
		"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE",
	};
	size_t i;

	for (i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (m->method_len == strlen(safe[i]) &&
		    memcmp(m->method, safe[i], m->method_len) == 0)
			return 1;
	return 0;
}

static void
retry_now(evutil_socket_t fd, short what, void *arg)
{
	struct msh_conn *c = arg;

	(void)fd;
	(void)what;
	connect_upstream(c, 1);
}

/*
 * The try of c's request failed in a way retry_on may name (failed: its
 * MSH_RETRY_ bits; status: the response's, 0 if none): start another on
 * another endpoint if the cluster's policy allows, after a backoff, and
 * return 1. Never once the client has had a byte of the answer, nor when
 * a byte of a request body has gone (bodies are streamed, not kept).
 */
static int
retry(struct msh_conn *c, unsigned failed, unsigned status)
{
	const struct msh_cluster_conf *cc = c->cluster->conf;
	const struct msh_endpoint *was = c->ep;
	struct timeval tv;
	uint64_t ms;
	unsigned i;
	int listed = 0;

	for (i = 0; status != 0 && i < c->try.retry_on.nstatus; i++)
		listed |= c->try.retry_on.status[i] == status;
	if (c->tries > c->try.retries || (!(c->try.retry_on.bits & failed) &&
	    !listed))
		return 0;
	if (!c->idempotent && !c->try.retry_non_idempotent)
		return 0;
	if (c->reqbody.kind != MSH_BODY_NONE &&
	    c->state != MSH_CONN_CONNECTING)
		return 0;
	if (!(c->counted & MSH_COUNTED_RETRY) && cc->max_retries != 0 &&
	    atomic_load(&c->cluster->stats->retries) >= cc->max_retries) {
		msh_stats_inc(c->cluster->stats, c->w->id,
		    MSH_C_OVER_RETRIES);
		return 0;
	}
	if (!budget_allows(c)) {
		msh_stats_inc(c->cluster->stats, c->w->id,
		    MSH_C_RETRIES_BUDGET);
		return 0;
	}
	if (!(c->counted & MSH_COUNTED_RETRY) && cc->max_retries != 0) {
		atomic_fetch_add(&c->cluster->stats->retries, 1);
		c->counted |= MSH_COUNTED_RETRY;
	}
	msh_stats_inc(c->cluster->stats, c->w->id, MSH_C_RETRIES);
	drop_upstream(c);
	msh_endpoint_release(c);
	if (msh_endpoint_take(c, was) != 0) {
		send_error(c, 503, MSH_C_ERR_NO_ENDPOINT);
		return 1;
	}
	c->tries++;
	c->state = MSH_CONN_CONNECTING;
	bufferevent_disable(c->client, EV_READ);
	/* Exponential, with full jitter, at most ten times the base. */
	ms = cc->retry_backoff << (c->tries - 2 < 4 ? c->tries - 2 : 4);
	if (ms > cc->retry_backoff * 10)
		ms = cc->retry_backoff * 10;
	ms = ms > 0 ? msh_random(c->w) % (ms + 1) : 0;
	if (c->retry_timer == NULL && (c->retry_timer = evtimer_new(
	    c->w->base, retry_now, c)) == NULL)
		abort();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	evtimer_add(c->retry_timer, &tv);
	return 1;
}

/* New requests take the newest snapshot, even on an old connection. */
static void
follow_snapshot(struct msh_conn *c)
{
	struct msh_snapshot *s = c->w->snap;
	size_t i;

	if (s == c->snap || s == NULL)
		return;
	for (i = 0; i < s->nlisteners; i++) {
		if (strcmp(s->listeners[i].conf->name, c->l->conf->name) == 0 &&
		    msh_addr_equal(&s->listeners[i].conf->address,
		    &c->l->conf->address)) {
			msh_snapshot_ref(s);
			msh_snapshot_unref(c->snap);
			c->snap = s;
			c->l = &s->listeners[i];
			return;
		}
	}
}

#define SHADOW	"-shadow"

/* The most a request head of c's grows to on its way up. */
static size_t
request_head_cap(const struct msh_conn *c)
{
	size_t cap = c->l->conf->max_header_size + HEAD_SLACK, from, len;
	const char *prefix;

	cap += sizeof(XFCC ": URI=\r\n") + 512 + sizeof(SHADOW);
	/* What a route adds: its fields, and a longer prefix. */
	if (c->route != NULL) {
		msh_route_added(c->route->compiled, &len);
		cap += len;
		if ((prefix = msh_route_rewrite(c->route->compiled, &from)))
			cap += strlen(prefix);
	}
	return cap;
}

/*
 * A mirrored copy's Host: the request's (ep's if it has none) with
 * -shadow after the host name, before any port, as Envoy writes it, so
 * that the mirror's logs and application can tell copies from requests.
 */
static void
put_shadow_host(struct head *o, const struct msh_http_msg *m,
    const struct msh_endpoint *ep)
{
	const char *host = ep->name;
	size_t len = strlen(ep->name), i, name;

	for (i = 0; i < m->nheaders; i++)
		if (m->headers[i].field == MSH_F_HOST) {
			host = m->headers[i].value;
			len = m->headers[i].value_len;
			break;
		}
	/* The port: digits after the last colon (not one of an IPv6
	 * literal's, which ends with "]"). */
	for (name = len; name > 0 && host[name - 1] >= '0' &&
	    host[name - 1] <= '9'; name--)
		;
	name = name > 0 && host[name - 1] == ':' ? name - 1 : len;
	PUTS(o, "Host: ");
	put(o, host, name);
	PUTS(o, SHADOW);
	put(o, host + name, len - name);
	PUTS(o, "\r\n");
}

/* The head of c's request to ep: HTTP/1.1, hop-by-hop fields removed;
 * shadow: for a mirrored copy. */
static void
put_request_head(struct msh_conn *c, struct head *o,
    const struct msh_endpoint *ep, int shadow)
{
	struct msh_http_msg *m = &c->msg;
	const char *prefix, *path, *added, *id;
	size_t from, len;

	put(o, m->method, m->method_len);
	PUTS(o, " ");
	if (c->route != NULL &&
	    (prefix = msh_route_rewrite(c->route->compiled, &from)) != NULL) {
		/* The route matched the path's first from bytes. */
		path = msh_route_path(m, &len);
		put(o, m->target, path - m->target);
		put(o, prefix, strlen(prefix));
		put(o, path + from, m->target + m->target_len - path - from);
	} else
		put(o, m->target, m->target_len);
	PUTS(o, " HTTP/1.1\r\n");
	if (shadow)
		put_shadow_host(o, m, ep);
	put_fields(o, m, (c->l->conf->forwarded_for ?
	    FIELD(MSH_F_X_FORWARDED_PROTO) : 0) |
	    (shadow ? FIELD(MSH_F_HOST) : 0), c->route, c->l->conf);
	/* The caller's verified identity, as Envoy passes it: only meshd
	 * sets this field on a TLS listener. */
	if (c->l->conf->tls != MSH_TLS_OFF && (id = peer_identity(c)) != NULL &&
	    *id != '\0') {
		PUTS(o, XFCC ": URI=");
		put(o, id, strlen(id));
		PUTS(o, "\r\n");
	}
	if (c->route != NULL) {
		added = msh_route_added(c->route->compiled, &len);
		put(o, added, len);
	}
	if (!m->has_host && !shadow) {
		PUTS(o, "Host: ");
		put(o, ep->name, strlen(ep->name));
		PUTS(o, "\r\n");
	}
	if (c->l->conf->forwarded_for) {
		/* A field line of its own: recipients join repeated
		 * X-Forwarded-For lines into one list (RFC 9110 5.3). */
		char ip[INET6_ADDRSTRLEN] = "unknown";
		const void *a = c->peer.ss.ss_family == AF_INET6 ?
		    (const void *)&((struct sockaddr_in6 *)&c->peer.ss)->sin6_addr :
		    (const void *)&((struct sockaddr_in *)&c->peer.ss)->sin_addr;

		inet_ntop(c->peer.ss.ss_family, a, ip, sizeof(ip));
		PUTS(o, "X-Forwarded-For: ");
		put(o, ip, strlen(ip));
		/* What the client spoke to meshd, for the app's own links. */
		if (bufferevent_openssl_get_ssl(c->client) != NULL)
			PUTS(o, "\r\nX-Forwarded-Proto: https\r\n");
		else
			PUTS(o, "\r\nX-Forwarded-Proto: http\r\n");
	}
	if (c->l->conf->via)
		PUTS(o, "Via: 1.1 meshd\r\n");
	if (m->upgrade)
		put_upgrade(o, m);
	PUTS(o, "\r\n");
}

/* Build the head sent upstream. It is kept until the exchange ends, for
 * a retry on a new connection. */
static void
build_request_head(struct msh_conn *c)
{
	size_t cap = request_head_cap(c);

	if (c->head == NULL || c->head->cap < cap) {
		free(c->head);
		if ((c->head = malloc(sizeof(*c->head) + cap)) == NULL)
			abort();
		c->head->buf = (char *)(c->head + 1);
		c->head->cap = cap;
	}
	c->head->len = 0;
	put_request_head(c, c->head, c->ep, 0);
}

void
msh_shadow_head(struct msh_conn *c, const struct msh_endpoint *ep,
    struct evbuffer *out)
{
	struct head o;

	head_reserve(out, request_head_cap(c), &o);
	put_request_head(c, &o, ep, 1);
	head_commit(out, &o);
}

/* A copy for the route's mirror, mirror_percent of the time; not of an
 * Upgrade, which would need a tunnel of its own. */
static void
start_mirror(struct msh_conn *c)
{
	unsigned percent;
	int i;

	if (c->route == NULL || c->upgrade ||
	    (i = msh_route_mirror(c->route->compiled, &percent)) < 0 ||
	    percent == 0 || (percent < 100 &&
	    msh_random(c->w) % 100 >= percent))
		return;
	c->mirror = msh_mirror_start(c, &c->snap->clusters[i]);
}

/* The client's read timeout: client_timeout while a head is awaited or
 * coming, keepalive_timeout between requests. Set only on a change. */
static void
client_read_timeout(struct msh_conn *c, uint64_t ms)
{
	if (c->read_timeout == ms)
		return;
	c->read_timeout = ms;
	msh_set_timeouts(c->client, ms, c->l->conf->client_timeout);
}

/* Room for the listener's max_headers (a reload may raise it). */
static void
size_fields(struct msh_conn *c)
{
	size_t n = c->l->conf->max_headers;

	if (c->nfields < n) {
		free(c->msg.headers);
		if ((c->msg.headers = calloc(n, sizeof(*c->msg.headers))) ==
		    NULL)
			abort();
		c->nfields = n;
	}
	c->msg.max_headers = n;
}

static void
request_timed_out(evutil_socket_t fd, short what, void *arg)
{
	struct msh_conn *c = arg;

	(void)fd;
	(void)what;
	msh_log(MSH_LOG_WARNING, "cluster %s: request_timeout with %s",
	    c->cluster->conf->name, c->ep->name);
	if (c->state == MSH_CONN_CONNECTING || c->state == MSH_CONN_WAITING)
		send_error(c, c->req_done ? 504 : 408,
		    MSH_C_ERR_REQUEST_TIMEOUT);
	else {
		/* The answer has begun: it can only be cut short. */
		msh_stats_inc(c->l->stats, c->w->id, MSH_C_ERR_REQUEST_TIMEOUT);
		msh_conn_free(c);
	}
}

/* request_timeout runs from the whole head to the end of the answer. */
static void
start_request_timer(struct msh_conn *c)
{
	uint64_t ms = c->try.request_timeout;
	struct timeval tv = { ms / 1000, ms % 1000 * 1000 };

	if (ms == 0)
		return;
	if (c->request_timer == NULL && (c->request_timer = evtimer_new(
	    c->w->base, request_timed_out, c)) == NULL)
		abort();
	evtimer_add(c->request_timer, &tv);
}

/*
 * Over the rate limit of the listener or of the route (s, its counts):
 * the request, head of n bytes, is answered 429 at once, with a field
 * saying which limit and when to come back, and 1 returned.
 */
static int
rate_limited(struct msh_conn *c, size_t n, struct msh_stats *s,
    const struct msh_rate *rate, unsigned burst, const char *which)
{
	char fields[80];
	unsigned after;

	if (rate->n == 0 || msh_rate_admit(&s->rate_tat, rate, burst, &after))
		return 0;
	msh_stats_inc(c->l->stats, c->w->id, MSH_C_ERR_RATE_LIMITED);
	if (s != c->l->stats)
		msh_stats_inc(s, c->w->id, MSH_C_ERR_RATE_LIMITED);
	evbuffer_drain(bufferevent_get_input(c->client), n);
	snprintf(fields, sizeof(fields), "Meshd-Rate-Limited: %s\r\n"
	    "Retry-After: %u\r\n", which, after);
	answer(c, 429, fields, "Too Many Requests\n");
	return 1;
}

/* Does a fault of this share (of MSH_PERCENT_ALL) hit this request? */
static int
fault_drawn(struct msh_conn *c, unsigned share)
{
	return share >= MSH_PERCENT_ALL ||
	    msh_random(c->w) % MSH_PERCENT_ALL < share;
}

/*
 * The request goes where its route (or the listener) sends it, its head
 * the first n bytes of the client's input: a route's own answer or fault
 * abort, or the cluster.
 */
static void
send_on(struct msh_conn *c, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	const struct msh_route_conf *r = c->route;
	struct msh_cluster *cl;

	c->cluster = c->l->cluster;
	if (r != NULL && r->fault_abort != 0 &&
	    fault_drawn(c, r->fault_abort_percent)) {
		msh_stats_inc(c->l->stats, c->w->id, MSH_C_ERR_FAULT_ABORT);
		msh_stats_inc(c->route_stats, c->w->id, MSH_C_ERR_FAULT_ABORT);
		evbuffer_drain(in, n);
		answer(c, r->fault_abort, "Meshd-Fault: abort\r\n",
		    "fault injected\n");
		return;
	}
	if (r != NULL) {
		int i = msh_route_cluster(r->compiled, msh_random(c->w));

		if (i < 0) {
			evbuffer_drain(in, n);
			route_answer(c);
			return;
		}
		c->cluster = &c->snap->clusters[i];
	}
	cl = c->cluster;
	set_try_policy(c);
	msh_stats_inc(cl->stats, c->w->id, MSH_C_REQUESTS);
	budget_count(c);
	c->tries = 0;
	if (msh_endpoint_take(c, NULL) != 0) {
		send_error(c, 503, MSH_C_ERR_NO_ENDPOINT);
		return;
	}
	c->tries = 1;
	build_request_head(c);
	start_mirror(c);
	evbuffer_drain(in, n);
	if (!breaker_admits(c, MSH_COUNTED_REQUEST))
		return;
	start_request_timer(c);
	connect_upstream(c, 1);
}

static void
fault_delay_wait(struct msh_conn *c, uint64_t us)
{
	struct timeval tv = { us / 1000000, us % 1000000 };

	evtimer_add(c->fault_timer, &tv);
}

/* The route's fault_delay is over: the head, still the first bytes of the
 * input (nothing was read meanwhile), is parsed again for its fields. */
static void
fault_delay_over(evutil_socket_t fd, short what, void *arg)
{
	struct msh_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->client);
	size_t n = c->head_len;
	uint64_t now = now_us();

	(void)fd;
	(void)what;
	/* libevent's timers go by a coarse clock, a few ms off: a delay is
	 * never shorter than it says. */
	if (now < c->fault_until) {
		fault_delay_wait(c, c->fault_until - now);
		return;
	}
	if (msh_http1_parse_request((char *)evbuffer_pullup(in, n), n,
	    &c->msg) != (ssize_t)n) {
		/* It parsed before: cannot happen. */
		msh_log(MSH_LOG_ERROR, "listener %s: a delayed request head "
		    "changed", c->l->conf->name);
		msh_conn_free(c);
		return;
	}
	c->state = MSH_CONN_IDLE;
	bufferevent_enable(c->client, EV_READ);
	send_on(c, n);
}

/* Hold the request (head of n bytes) for the route's fault_delay, on a
 * timer; its body is not read meanwhile, so the client is held back too. */
static void
fault_delay(struct msh_conn *c, size_t n)
{
	uint64_t us = c->route->fault_delay * 1000;

	msh_stats_inc(c->route_stats, c->w->id, MSH_C_FAULT_DELAYED);
	c->head_len = n;
	c->fault_until = now_us() + us;
	c->state = MSH_CONN_DELAYED;
	bufferevent_disable(c->client, EV_READ);
	if (c->fault_timer == NULL && (c->fault_timer = evtimer_new(
	    c->w->base, fault_delay_over, c)) == NULL)
		abort();
	fault_delay_wait(c, us);
}

/* A whole request head is in the client's input, or an error. */
static void
request_head(struct msh_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct msh_http_msg *m = &c->msg;
	const struct msh_listener_conf *lc;
	const struct msh_route_conf *r;
	size_t len = evbuffer_get_length(in), max;
	ssize_t n;
	const char *p;

	if (len == 0)
		return;
	follow_snapshot(c);
	size_fields(c);
	max = c->l->conf->max_header_size;
	if (len > max)
		len = max;
	n = msh_http1_parse_in(in, len, 0, 0, m, &p);
	if (n == 0 && len < max) {
		/* client_timeout bounds the whole head, however it trickles
		 * in: the read timeout alone restarts with every byte. */
		if (!c->head_started) {
			c->head_started = 1;
			event_base_gettimeofday_cached(c->w->base,
			    &c->head_start);
			client_read_timeout(c, c->l->conf->client_timeout);
		} else if (msh_ms_since(c, &c->head_start) >=
		    c->l->conf->client_timeout) {
			msh_stats_inc(c->l->stats, c->w->id, MSH_C_REQUESTS);
			send_error(c, 408, MSH_C_ERR_CLIENT_TIMEOUT);
		}
		return;
	}
	c->head_started = 0;
	msh_stats_inc(c->l->stats, c->w->id, MSH_C_REQUESTS);
	if (n == 0) {
		if (memchr(p, '\n', len) == NULL)
			send_error(c, 414, MSH_C_ERR_URI_TOO_LONG);
		else
			send_error(c, 431, MSH_C_ERR_HEADER_TOO_LARGE);
		return;
	}
	if (n < 0) {
		send_error(c, -n, -n == 431 ? MSH_C_ERR_HEADER_TOO_LARGE :
		    -n == 501 ? MSH_C_ERR_UNKNOWN_CODING :
		    -n == 505 ? MSH_C_ERR_BAD_VERSION : MSH_C_ERR_BAD_REQUEST);
		return;
	}
	c->head_request = m->head_request;
	c->client_http10 = m->version == 10;
	c->upgrade = m->upgrade;
	c->close_after = !m->keep_alive || c->w->draining;
	c->req_done = m->body == MSH_BODY_NONE;
	c->retried = 0;
	c->idempotent = idempotent(m);
	msh_body_init(&c->reqbody, m);
	/* Before anything reaches the cluster, or a byte of the body is
	 * read: the listener's rate limit (what comes at all), its rules,
	 * then the route's limit and faults. */
	lc = c->l->conf;
	if (rate_limited(c, n, c->l->stats, &lc->rate_limit,
	    lc->rate_limit_burst, "listener"))
		return;
	if (!msh_authorized(c, m)) {
		evbuffer_drain(in, n);
		answer(c, 403, "", "Forbidden\n");
		return;
	}
	if ((r = c->route = find_route(c)) != NULL) {
		msh_stats_inc(c->route_stats, c->w->id, MSH_C_REQUESTS);
		if (rate_limited(c, n, c->route_stats, &r->rate_limit,
		    r->rate_limit_burst, "route"))
			return;
		if (r->fault_delay != 0 &&
		    fault_drawn(c, r->fault_delay_percent)) {
			fault_delay(c, n);
			return;
		}
	}
	send_on(c, n);
}

static void
next_request(struct msh_conn *c)
{
	c->state = MSH_CONN_IDLE;
	end_request(c);
	msh_endpoint_release(c);
	client_read_timeout(c, c->l->conf->keepalive_timeout);
	if (!(bufferevent_get_enabled(c->client) & EV_READ))
		bufferevent_enable(c->client, EV_READ);
	if (c->w->draining &&
	    evbuffer_get_length(bufferevent_get_input(c->client)) == 0) {
		msh_conn_free(c);
		return;
	}
	request_head(c);	/* a pipelined request may be waiting */
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;

	switch (c->state) {
	case MSH_CONN_IDLE:
		request_head(c);
		break;
	case MSH_CONN_WAITING:
	case MSH_CONN_RESPONDING:
		pump_request_body(c);
		break;
	case MSH_CONN_CLOSING:
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		if (c->lingering && linger_over(c))
			msh_conn_free(c);
		break;
	case MSH_CONN_DELAYED:
	case MSH_CONN_CONNECTING:
	case MSH_CONN_TUNNEL:
		break;
	}
}

static void
client_write(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;

	/* A TLS bufferevent calls this once its output is encrypted, and
	 * again once the records are sent: what is sent decides. */
	if (c->state == MSH_CONN_CLOSING) {
		if (!c->lingering && msh_bev_unsent(bev) == 0)
			linger(c);
		return;
	}
	if (c->state == MSH_CONN_RESPONDING && c->up != NULL &&
	    !(bufferevent_get_enabled(c->up->bev) & EV_READ) &&
	    !over_high(c, bev)) {
		bufferevent_enable(c->up->bev, EV_READ);
		pump_response_body(c);
	}
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct msh_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		msh_tls_accepted(c);	/* a TLS client's handshake is done */
		return;
	}

	/* A client that ends its side after a whole request (a half-close)
	 * still gets the answer, as HAProxy gives it; then the connection
	 * closes. */
	if ((what & BEV_EVENT_EOF) && c->req_done &&
	    (c->state == MSH_CONN_CONNECTING || c->state == MSH_CONN_WAITING ||
	    c->state == MSH_CONN_RESPONDING)) {
		c->close_after = 1;
		return;
	}
	if (c->state == MSH_CONN_CLOSING) {
		/* A read timeout armed before the answer is not the end:
		 * the answer still has to go out. */
		if (!c->lingering && (what & BEV_EVENT_TIMEOUT) &&
		    (what & BEV_EVENT_READING))
			return;
		msh_conn_free(c);	/* its close, or enough lingering */
		return;
	}
	/* The client's read timeout runs all along, set once: it counts only
	 * while meshd waits for a request (head), not during an exchange,
	 * which has the upstream's timeouts. */
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		if (c->state != MSH_CONN_IDLE) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
			msh_stats_inc(c->l->stats, c->w->id, MSH_C_REQUESTS);
			send_error(c, 408, MSH_C_ERR_CLIENT_TIMEOUT);
			return;
		}
	}
	msh_conn_free(c);
}

static void
upstream_read(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;

	if (c->state == MSH_CONN_WAITING)
		response_head(c);
	else if (c->state == MSH_CONN_RESPONDING)
		pump_response_body(c);
}

static void
upstream_write(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;

	/* On TLS, also before the records are sent (client_write). */
	if (!c->req_done && !(bufferevent_get_enabled(c->client) & EV_READ) &&
	    !over_high(c, bev)) {
		bufferevent_enable(c->client, EV_READ);
		pump_request_body(c);
	}
}

static void
upstream_event(struct bufferevent *bev, short what, void *arg)
{
	struct msh_conn *c = arg;

	msh_breaker_leave(c->cluster, &c->counted, MSH_COUNTED_PENDING);
	if ((what & BEV_EVENT_CONNECTED) &&
	    !msh_upstream_verified(c->cluster, c->ep, c->up))
		what = BEV_EVENT_ERROR;	/* not the peer it should be */
	if (what & BEV_EVENT_CONNECTED) {
		msh_set_nodelay(bufferevent_getfd(bev));
		send_request(c);
		return;
	}
	if (c->state == MSH_CONN_CONNECTING) {
		int refused = EVUTIL_SOCKET_ERROR() == ECONNREFUSED;

		msh_connect_failed(c->cluster, c->ep, c->w->id, what);
		if (retry(c, MSH_RETRY_CONNECT_FAILURE | MSH_RETRY_5XX |
		    MSH_RETRY_GATEWAY_ERROR | (refused && !(what &
		    BEV_EVENT_TIMEOUT) ? MSH_RETRY_REFUSED : 0), 0))
			return;
		if (what & BEV_EVENT_TIMEOUT)
			send_error(c, 504, MSH_C_ERR_CONNECT_TIMEOUT);
		else
			send_error(c, 502, MSH_C_ERR_CONNECT_FAILED);
		return;
	}
	if (c->state == MSH_CONN_RESPONDING &&
	    c->respbody.kind == MSH_BODY_UNTIL_CLOSE && (what & BEV_EVENT_EOF)) {
		msh_body_forward(&c->respbody, bufferevent_get_input(bev),
		    c->w->stage);
		msh_send(c->w, c->client);
		c->msg.keep_alive = 0;
		finish_exchange(c);
		return;
	}
	if (c->state == MSH_CONN_WAITING) {
		/* A pooled connection the server closed as we reused it:
		 * nothing was answered, so one more try on a new one is
		 * safe when no body has gone. */
		if (c->reused && !c->retried &&
		    c->reqbody.kind == MSH_BODY_NONE &&
		    evbuffer_get_length(bufferevent_get_input(bev)) == 0 &&
		    !(what & BEV_EVENT_TIMEOUT)) {
			c->retried = 1;
			drop_upstream(c);
			connect_upstream(c, 0);
			return;
		}
		msh_log(MSH_LOG_WARNING, "cluster %s: %s from %s before a "
		    "response", c->cluster->conf->name,
		    what & BEV_EVENT_TIMEOUT ? "timeout" :
		    what & BEV_EVENT_EOF ? "close" : "error", c->ep->name);
		msh_outlier_result(c->cluster, c->ep, c->w->id,
		    MSH_OUTCOME_GATEWAY);
		if (retry(c, MSH_RETRY_5XX | MSH_RETRY_GATEWAY_ERROR |
		    (what & BEV_EVENT_TIMEOUT ? 0 : MSH_RETRY_RESET), 0))
			return;
		if (what & BEV_EVENT_TIMEOUT)
			send_error(c, 504, MSH_C_ERR_RESPONSE_TIMEOUT);
		else
			send_error(c, 502, MSH_C_ERR_UPSTREAM_CLOSED);
		return;
	}
	/* Mid-response: the client cannot be told, only cut off. */
	msh_conn_free(c);
}

void
msh_connect_failed(struct msh_cluster *cl, const struct msh_endpoint *ep,
    unsigned worker, short what)
{
	msh_stats_inc(cl->stats, worker, MSH_C_CONNECT_FAILURES);
	msh_outlier_result(cl, ep, worker, MSH_OUTCOME_GATEWAY);
	msh_log(MSH_LOG_WARNING, "cluster %s: %s connecting to %s",
	    cl->conf->name, what & BEV_EVENT_TIMEOUT ? "timeout" : "error",
	    ep->name);
}

void
msh_proxy_accept(struct msh_worker *w, struct msh_listener *l, int fd,
    const struct sockaddr *peer, int peerlen)
{
	struct msh_conn *c;
	unsigned after;

	/* A tcp listener's rate limit counts connections: one over it is
	 * closed at once, before a byte is read or a handshake made. */
	if (l->conf->protocol == MSH_PROTO_TCP && l->conf->rate_limit.n != 0 &&
	    !msh_rate_admit(&l->stats->rate_tat, &l->conf->rate_limit,
	    l->conf->rate_limit_burst, &after)) {
		msh_stats_inc(l->stats, w->id, MSH_C_CONNECTIONS);
		msh_stats_inc(l->stats, w->id, MSH_C_REQUESTS);
		msh_stats_inc(l->stats, w->id, MSH_C_ERR_RATE_LIMITED);
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	if (peerlen > 0 && (size_t)peerlen <= sizeof(c->peer.ss)) {
		memcpy(&c->peer.ss, peer, peerlen);
		c->peer.len = peerlen;
	}
	c->w = w;
	c->snap = w->snap;
	msh_snapshot_ref(c->snap);
	c->l = l;
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->nconns++;
	msh_stats_inc(l->stats, w->id, MSH_C_CONNECTIONS);
	msh_set_nodelay(fd);
	if (l->conf->tls == MSH_TLS_PERMISSIVE) {
		/* TLS or plaintext: the first byte tells (a handshake
		 * record starts with 22). */
		struct timeval tv = { l->conf->client_timeout / 1000,
		    l->conf->client_timeout % 1000 * 1000 };

		c->peek_fd = fd;
		if ((c->peek = event_new(w->base, fd, EV_READ, peeked, c)) ==
		    NULL || event_add(c->peek, &tv) != 0)
			abort();
		return;
	}
	start_client(c, fd, l->conf->tls == MSH_TLS_STRICT ||
	    l->conf->tls == MSH_TLS_EDGE);
}

static void
peeked(evutil_socket_t fd, short what, void *arg)
{
	struct msh_conn *c = arg;
	unsigned char b;
	ssize_t n;

	event_free(c->peek);
	c->peek = NULL;
	n = (what & EV_READ) ? recv(fd, &b, 1, MSG_PEEK) : -1;
	if (n != 1) {
		/* Closed, failed or silent for client_timeout. */
		c->peek_fd = -1;
		close(fd);
		msh_conn_free(c);
		return;
	}
	c->peek_fd = -1;
	start_client(c, fd, b == 22);
}

static void
tls_accepted(struct bufferevent *bev, short what, void *arg)
{
	struct msh_conn *c = arg;

	if (!(what & BEV_EVENT_CONNECTED)) {
		msh_conn_free(c);
		return;
	}
	msh_tls_accepted(c);
	msh_tcp_start(c);
}

/* The client connection as a bufferevent, TLS or not, and its protocol
 * under way. */
static void
start_client(struct msh_conn *c, int fd, int tls)
{
	struct msh_worker *w = c->w;
	struct msh_listener *l = c->l;

	if (tls)
		c->client = msh_tlsconn_new(w->base, fd,
		    l->conf->tls == MSH_TLS_EDGE ? msh_tls_edge(c->snap->tls,
		    l->conf->name) : msh_tls_server(c->snap->tls), 1);
	else
		c->client = msh_plainconn_new(w->base, fd);
	if (c->client == NULL)
		abort();
	if (l->conf->protocol == MSH_PROTO_TCP && tls && l->nrules > 0) {
		/* The rules want the client's identity: the handshake first. */
		bufferevent_setcb(c->client, NULL, NULL, tls_accepted, c);
		msh_set_timeouts(c->client, l->conf->client_timeout,
		    l->conf->client_timeout);
		bufferevent_enable(c->client, EV_READ | EV_WRITE);
		return;
	}
	if (l->conf->protocol == MSH_PROTO_TCP) {
		msh_tcp_start(c);
		return;
	}
	bufferevent_setcb(c->client, client_read, client_write, client_event, c);
	msh_bev_read_limit(c->client, input_limit(l->conf));
	c->read_timeout = l->conf->client_timeout;
	msh_set_timeouts(c->client, c->read_timeout, l->conf->client_timeout);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
}

void
msh_proxy_drain(struct msh_worker *w)
{
	struct msh_conn *c, *next;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->client == NULL || (c->state == MSH_CONN_IDLE &&
		    evbuffer_get_length(bufferevent_get_input(c->client)) == 0))
			msh_conn_free(c);
		else
			c->close_after = 1;
	}
}

void
msh_proxy_close_all(struct msh_worker *w)
{
	struct msh_conn *c;

	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		msh_conn_free(c);
}
