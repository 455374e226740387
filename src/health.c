#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conf.h"
#include "health.h"
#include "http1.h"
#include "log.h"
#include "outlier.h"

/* The most of a response head a check reads: the status is what counts. */
#define HEAD_MAX	16384

/* One endpoint of one cluster, checked from the main thread's base. */
struct msh_health_checker {
	LIST_ENTRY(msh_health_checker) entry;
	struct msh_stats		*stats;	/* its endpoint's: the state */
	struct msh_addr			 addr;
	const struct msh_health_conf	*conf;	/* its cluster's, in owner */
	struct msh_conf			*owner;	/* a reference */
	struct event			*timer;	/* next check, or deadline */
	struct bufferevent		*bev;	/* the check under way */
	int				 connected;
	uint64_t			 sync;	/* the last sync that had it */
};

static LIST_HEAD(, msh_health_checker) checkers =
    LIST_HEAD_INITIALIZER(checkers);
static uint64_t syncs;
static uint64_t rng;

/* Headers of a response under check (main thread only: one at a time). */
static struct msh_http_header headers[MSH_HTTP_HEADERS_LIMIT];

const char *
msh_health_name(int health)
{
	switch (health) {
	case MSH_HC_HEALTHY:
		return "healthy";
	case MSH_HC_UNHEALTHY:
		return "unhealthy";
	default:
		return "unknown";
	}
}

/* Jitter only: xorshift, seeded once from the clock and the pid. */
static uint64_t
next_random(void)
{
	struct timespec ts;

	if (rng == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rng = ((uint64_t)ts.tv_nsec << 20 ^ (uint64_t)ts.tv_sec ^
		    (uint64_t)getpid() << 40) | 1;
	}
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static void
arm(struct msh_health_checker *ck, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	evtimer_add(ck->timer, &tv);
}

/* The wait before the next check: the interval and some of the jitter. */
static uint64_t
wait_ms(const struct msh_health_checker *ck, uint64_t base)
{
	uint64_t j = ck->conf->jitter;

	return base + (j > 0 ? next_random() % (j + 1) : 0);
}

/* What one check came to, into the endpoint's state. */
static void
record(struct msh_health_checker *ck, enum msh_check_result r,
    const char *why)
{
	struct msh_stats *s = ck->stats;
	int was = atomic_load(&s->health);

	s->health_checks[r]++;
	if (r == MSH_CHECK_OK) {
		s->health_failures = 0;
		if (s->health_passes < UINT_MAX)
			s->health_passes++;
		if (was == MSH_HC_HEALTHY ||
		    s->health_passes < ck->conf->healthy)
			return;
		atomic_store(&s->health, MSH_HC_HEALTHY);
		if (was != MSH_HC_UNHEALTHY)
			return;
		msh_outlier_changed();
		s->health_to_healthy++;
		msh_log(MSH_LOG_NOTICE, "cluster %s: endpoint %s is healthy "
		    "again (%u checks passed in a row)", s->name, s->endpoint,
		    s->health_passes);
		return;
	}
	s->health_passes = 0;
	if (s->health_failures < UINT_MAX)
		s->health_failures++;
	if (was == MSH_HC_UNHEALTHY ||
	    s->health_failures < ck->conf->unhealthy)
		return;
	atomic_store(&s->health, MSH_HC_UNHEALTHY);
	msh_outlier_changed();
	s->health_to_unhealthy++;
	msh_log(MSH_LOG_WARNING, "cluster %s: endpoint %s is unhealthy: %s "
	    "(%u checks failed in a row)", s->name, s->endpoint, why,
	    s->health_failures);
}

/* The check is over: close it, count it, and wait for the next. */
static void
finish(struct msh_health_checker *ck, enum msh_check_result r,
    const char *why)
{
	bufferevent_free(ck->bev);
	ck->bev = NULL;
	record(ck, r, why);
	arm(ck, wait_ms(ck, ck->conf->interval));
}

static int
expected(const struct msh_status_list *l, unsigned status)
{
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (status >= l->lo[i] && status <= l->hi[i])
			return 1;
	return 0;
}

/* Read the response head once it is in; 1 when the check is over. */
static int
read_status(struct msh_health_checker *ck)
{
	struct evbuffer *in = bufferevent_get_input(ck->bev);
	struct msh_http_msg m;
	char why[32];
	size_t len;
	ssize_t r;

	for (;;) {
		if ((len = evbuffer_get_length(in)) == 0)
			return 0;
		if (len > HEAD_MAX)
			len = HEAD_MAX;
		memset(&m, 0, sizeof(m));
		m.headers = headers;
		m.max_headers = MSH_HTTP_HEADERS_LIMIT;
		r = msh_http1_parse_in(in, len, 1, 0, &m, NULL);
		if (r == 0 && len < HEAD_MAX)
			return 0;
		if (r <= 0) {
			finish(ck, MSH_CHECK_BAD_RESPONSE, r == 0 ?
			    "a response head over 16k" :
			    "a malformed response head");
			return 1;
		}
		/* Interim responses (103 Early Hints...) come before. */
		if (m.status >= 200 || m.status == 101)
			break;
		evbuffer_drain(in, r);
	}
	snprintf(why, sizeof(why), "status %u", m.status);
	finish(ck, expected(&ck->conf->status, m.status) ? MSH_CHECK_OK :
	    MSH_CHECK_BAD_STATUS, why);
	return 1;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	read_status(arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct msh_health_checker *ck = arg;
	const struct msh_health_conf *hc = ck->conf;
	char why[128];
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		ck->connected = 1;
		if (hc->check.kind != MSH_HEALTH_CHECK_HTTP) {
			finish(ck, MSH_CHECK_OK, "connected");
			return;
		}
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "GET %s HTTP/1.1\r\nHost: %s\r\n"
		    "User-Agent: meshd-health\r\nConnection: close\r\n\r\n", hc->check.path,
		    hc->host[0] != '\0' ? hc->host : ck->stats->endpoint);
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (!ck->connected) {
		snprintf(why, sizeof(why), "connect failed: %s",
		    err != 0 ? evutil_socket_error_to_string(err) : "error");
		finish(ck, MSH_CHECK_CONNECT_FAILED, why);
		return;
	}
	/* The head may have come with the close. */
	if (read_status(ck))
		return;
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "closed before a response");
	else
		snprintf(why, sizeof(why), "connection failed: %s",
		    err != 0 ? evutil_socket_error_to_string(err) : "error");
	finish(ck, MSH_CHECK_BAD_RESPONSE, why);
}

static void
start(struct msh_health_checker *ck)
{
	struct event_base *base = event_get_base(ck->timer);
	char why[128];

	ck->connected = 0;
	if ((ck->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		abort();
	bufferevent_setcb(ck->bev, on_read, NULL, on_event, ck);
	arm(ck, ck->conf->timeout);
	if (bufferevent_socket_connect(ck->bev,
	    (struct sockaddr *)&ck->addr.ss, ck->addr.len) != 0) {
		snprintf(why, sizeof(why), "connect failed: %s",
		    strerror(errno));
		finish(ck, MSH_CHECK_CONNECT_FAILED, why);
	}
}

/* Time for the next check, or the one under way ran out of time. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct msh_health_checker *ck = arg;
	char why[64];

	if (ck->bev == NULL) {
		start(ck);
		return;
	}
	snprintf(why, sizeof(why), "no %s within %llu ms",
	    ck->connected ? "response" : "connection",
	    (unsigned long long)ck->conf->timeout);
	finish(ck, MSH_CHECK_TIMEOUT, why);
}

static void
set_conf(struct msh_health_checker *ck, const struct msh_cluster_conf *cc,
    struct msh_conf *owner)
{
	msh_conf_ref(owner);
	msh_conf_unref(ck->owner);
	ck->owner = owner;
	ck->conf = &cc->health;
}

static struct msh_health_checker *
checker_new(struct event_base *base, const struct msh_endpoint *e)
{
	struct msh_health_checker *ck;

	if ((ck = calloc(1, sizeof(*ck))) == NULL ||
	    (ck->timer = evtimer_new(base, on_timer, ck)) == NULL)
		abort();
	ck->stats = e->stats;
	ck->addr = e->addr;
	e->stats->checker = ck;
	e->stats->health_checked = 1;
	LIST_INSERT_HEAD(&checkers, ck, entry);
	return ck;
}

static void
checker_free(struct msh_health_checker *ck)
{
	LIST_REMOVE(ck, entry);
	ck->stats->checker = NULL;
	if (ck->bev != NULL)
		bufferevent_free(ck->bev);
	event_free(ck->timer);
	msh_conf_unref(ck->owner);
	free(ck);
}

void
msh_health_sync(struct event_base *base, const struct msh_snapshot *s)
{
	struct msh_health_checker *ck, *next;
	size_t i, j;

	syncs++;
	for (i = 0; i < s->nclusters; i++) {
		const struct msh_cluster *c = &s->clusters[i];
		const struct msh_health_conf *hc = &c->conf->health;

		if (hc->check.kind == MSH_HEALTH_CHECK_OFF)
			continue;
		for (j = 0; j < c->nendpoints; j++) {
			const struct msh_endpoint *e = &c->endpoints[j];
			uint64_t interval, jitter;

			if ((ck = e->stats->checker) == NULL) {
				ck = checker_new(base, e);
				set_conf(ck, c->conf, s->conf);
				/* Spread the first checks over the jitter. */
				arm(ck, wait_ms(ck, 0));
			} else if (ck->sync != syncs) {
				interval = ck->conf->interval;
				jitter = ck->conf->jitter;
				set_conf(ck, c->conf, s->conf);
				/* A wait set by the old settings is redone. */
				if (ck->bev == NULL &&
				    (interval != hc->interval ||
				    jitter != hc->jitter))
					arm(ck, wait_ms(ck, hc->interval));
			}
			ck->sync = syncs;
		}
	}
	for (ck = LIST_FIRST(&checkers); ck != NULL; ck = next) {
		next = LIST_NEXT(ck, entry);
		if (ck->sync != syncs)
			checker_free(ck);
	}
	/* Unchecked, an endpoint cannot stay unhealthy. */
	for (i = 0; i < s->nclusters; i++) {
		const struct msh_cluster *c = &s->clusters[i];

		if (c->conf->health.check.kind != MSH_HEALTH_CHECK_OFF)
			continue;
		for (j = 0; j < c->nendpoints; j++) {
			struct msh_stats *st = c->endpoints[j].stats;

			if (atomic_exchange(&st->health, MSH_HC_UNKNOWN) ==
			    MSH_HC_UNHEALTHY)
				msh_outlier_changed();
			st->health_passes = st->health_failures = 0;
		}
	}
}

void
msh_health_stop(void)
{
	while (!LIST_EMPTY(&checkers))
		checker_free(LIST_FIRST(&checkers));
}
