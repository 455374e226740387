#include "config.h"

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include <openssl/ssl.h>
#include <event2/event.h>

#include "plainconn.h"
#include "pool.h"
#include "stats.h"
#include "tlsconn.h"

#define POOL_MAX_IDLE		1024	/* per worker */
#define POOL_MAX_IDLE_PER_ADDR	256
#define POOL_IDLE_TIMEOUT	15	/* seconds; below common server
					 * keep-alive timeouts (nginx 75s) */

TAILQ_HEAD(upconn_list, msh_upconn);

/* TLS sessions to resume, by endpoint: a new pooled connection costs an
 * abbreviated handshake, not a full one. */
#define POOL_SESSIONS	64

struct saved_session {
	struct msh_addr	 addr;
	SSL_SESSION	*session;
};

struct msh_pool {
	struct event_base	*base;
	struct upconn_list	 idle;	/* most recently used first */
	size_t			 nidle;
	struct event		*sweep;
	struct saved_session	 sessions[POOL_SESSIONS];
	unsigned		 next_session;	/* to replace when full */
};

static struct saved_session *
find_session(struct msh_pool *p, const struct msh_addr *a)
{
	unsigned i;

	for (i = 0; i < POOL_SESSIONS; i++)
		if (p->sessions[i].session != NULL &&
		    msh_addr_equal(&p->sessions[i].addr, a))
			return &p->sessions[i];
	return NULL;
}

/*
 * Keep u's session for the next connection to its endpoint, once it has
 * answered (TLS 1.3 sends its tickets after the handshake). A copy: the
 * connection's own session is spoilt for resumption when the server
 * closes without a close_notify, as idle connections are closed.
 */
static void
save_session(struct msh_upconn *u)
{
	struct msh_pool *p = u->pool;
	struct saved_session *slot;
	SSL_SESSION *live, *s;
	SSL *ssl;

	u->session_saved = 1;
	if ((ssl = bufferevent_openssl_get_ssl(u->bev)) == NULL ||
	    (live = SSL_get1_session(ssl)) == NULL)
		return;
	s = SSL_SESSION_is_resumable(live) ? SSL_SESSION_dup(live) : NULL;
	SSL_SESSION_free(live);
	if (s == NULL)
		return;
	if ((slot = find_session(p, &u->addr)) == NULL)
		slot = &p->sessions[p->next_session++ % POOL_SESSIONS];
	SSL_SESSION_free(slot->session);
	slot->addr = u->addr;
	slot->session = s;
}

static void idle_remove(struct msh_upconn *);

/*
 * Idle connections expire by a sweep once a second rather than by a
 * timeout each: putting a connection back and taking it out again then
 * costs no timer update on the request path.
 */
static void
sweep(evutil_socket_t fd, short what, void *arg)
{
	struct msh_pool *p = arg;
	struct msh_upconn *u;
	struct timeval now;

	event_base_gettimeofday_cached(p->base, &now);
	while ((u = TAILQ_LAST(&p->idle, upconn_list)) != NULL &&
	    now.tv_sec - u->idle_since >= POOL_IDLE_TIMEOUT) {
		idle_remove(u);
		msh_upconn_free(u);
	}
}

struct msh_pool *
msh_pool_new(struct event_base *base)
{
	struct timeval second = { 1, 0 };
	struct msh_pool *p;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->sweep = event_new(base, -1, EV_PERSIST, sweep, p)) == NULL ||
	    event_add(p->sweep, &second) != 0)
		abort();
	p->base = base;
	TAILQ_INIT(&p->idle);
	return p;
}

void
msh_pool_free(struct msh_pool *p)
{
	struct msh_upconn *u;

	unsigned i;

	while ((u = TAILQ_FIRST(&p->idle)) != NULL) {
		TAILQ_REMOVE(&p->idle, u, link);
		msh_upconn_free(u);
	}
	for (i = 0; i < POOL_SESSIONS; i++)
		SSL_SESSION_free(p->sessions[i].session);
	event_free(p->sweep);
	free(p);
}

struct msh_upconn *
msh_upconn_new(struct msh_pool *p, const struct msh_addr *a)
{
	struct msh_upconn *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		abort();
	u->pool = p;
	u->addr = *a;
	u->bev = msh_plainconn_new(p->base, -1);
	return u;
}

struct msh_upconn *
msh_upconn_new_tls(struct msh_pool *p, const struct msh_addr *a, int fd,
    struct ssl_st *ssl)
{
	struct saved_session *saved;
	struct msh_upconn *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		abort();
	u->pool = p;
	u->addr = *a;
	u->tls = 1;
	if ((saved = find_session(p, a)) != NULL)
		SSL_set_session(ssl, saved->session);
	u->bev = msh_tlsconn_new(p->base, fd, ssl, 0);
	return u;
}

void
msh_upconn_free(struct msh_upconn *u)
{
	if (u == NULL)
		return;
	if (u->owner != NULL)
		atomic_fetch_sub(&u->owner->open_connections, 1);
	msh_bev_free(u->bev);
	free(u->peer_id);
	free(u);
}

static void
idle_remove(struct msh_upconn *u)
{
	TAILQ_REMOVE(&u->pool->idle, u, link);
	u->pool->nidle--;
}

/* An idle connection that becomes readable was closed by the server (or
 * sent what nobody asked for): either way it is done. */
static void
idle_read(struct bufferevent *bev, void *arg)
{
	struct msh_upconn *u = arg;

	idle_remove(u);
	msh_upconn_free(u);
}

static void
idle_event(struct bufferevent *bev, short what, void *arg)
{
	idle_read(bev, arg);
}

struct msh_upconn *
msh_pool_take(struct msh_pool *p, const struct msh_addr *a, int tls)
{
	struct msh_upconn *u;

	TAILQ_FOREACH(u, &p->idle, link) {
		if (u->tls == tls && msh_addr_equal(&u->addr, a)) {
			idle_remove(u);
			/* The taker sets callbacks and timeouts anew. */
			bufferevent_setcb(u->bev, NULL, NULL, NULL, NULL);
			return u;
		}
	}
	return NULL;
}

void
msh_pool_put(struct msh_upconn *u)
{
	struct msh_pool *p = u->pool;
	struct msh_upconn *o, *last = NULL;
	struct timeval now;
	size_t same = 0;

	if (u->tls && !u->session_saved)
		save_session(u);

	/* Fewer idle in all than the limit per address: no need to count. */
	if (p->nidle >= POOL_MAX_IDLE_PER_ADDR)
		TAILQ_FOREACH(o, &p->idle, link) {
			if (msh_addr_equal(&o->addr, &u->addr)) {
				same++;
				last = o;
			}
		}
	if (same >= POOL_MAX_IDLE_PER_ADDR) {
		idle_remove(last);
		msh_upconn_free(last);
	} else if (p->nidle >= POOL_MAX_IDLE) {
		o = TAILQ_LAST(&p->idle, upconn_list);
		idle_remove(o);
		msh_upconn_free(o);
	}
	/* Reading stays on: a close by the server shows at once. The
	 * timeouts stay as the last user set them, a backstop to the sweep. */
	bufferevent_setcb(u->bev, idle_read, NULL, idle_event, u);
	if (!(bufferevent_get_enabled(u->bev) & EV_READ))
		bufferevent_enable(u->bev, EV_READ);
	event_base_gettimeofday_cached(p->base, &now);
	u->idle_since = now.tv_sec;
	TAILQ_INSERT_HEAD(&p->idle, u, link);
	p->nidle++;
}
