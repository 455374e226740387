#include "config.h"

#include <time.h>

#include "health.h"
#include "log.h"
#include "outlier.h"
#include "snapshot-t.h"
#include "stats.h"

static _Atomic uint64_t epoch = 1;

void
msh_outlier_changed(void)
{
	atomic_fetch_add(&epoch, 1);
}

uint64_t
msh_outlier_now(void)
{
	struct timespec ts;

	/* Coarse: a few ms of resolution is plenty for ejections, and it
	 * costs no more than a memory read. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
msh_outlier_ejected(const struct msh_endpoint *e)
{
	uint64_t until = atomic_load_explicit(&e->stats->ejected_until,
	    memory_order_relaxed);

	return until != 0 && until > msh_outlier_now();
}

unsigned
msh_outlier_count(const struct msh_cluster *c)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < c->nendpoints; i++)
		n += msh_outlier_ejected(&c->endpoints[i]);
	return n;
}

/* At most max_ejected_percent of the endpoints, but always one. */
static int
may_eject(const struct msh_cluster *c)
{
	unsigned max = c->nendpoints * c->conf->max_ejected_percent / 100;

	return msh_outlier_count(c) < (max > 0 ? max : 1);
}

/*
 * With outlier_interval, ejections are looked at in sweeps, as Envoy's
 * are: one whose time is up ends at the next sweep. The sweeps fall on
 * the multiples of the interval on the monotonic clock, so a sweep is
 * computed, never run: the views look again when it comes (their until).
 */
static uint64_t
sweep(const struct msh_cluster_conf *cc, uint64_t end)
{
	uint64_t i = cc->outlier_interval;

	if (i == 0 || end % i == 0)
		return end;
	return end - end % i + i;
}

static void
eject(const struct msh_cluster *c, const struct msh_endpoint *e,
    unsigned worker, const char *why, unsigned n)
{
	struct msh_stats *s = e->stats;
	uint64_t now = msh_outlier_now(), until, last, ms, end;
	unsigned times;

	until = atomic_load(&s->ejected_until);
	if ((until != 0 && until > now) || !may_eject(c))
		return;
	/* Ejections in a row: one more since the last, unless it has been
	 * quiet for as long as the longest ejection. */
	last = atomic_load(&s->ejected_last);
	times = last != 0 && now - last <= c->conf->max_ejection_time ?
	    atomic_load(&s->ejections) + 1 : 1;
	ms = c->conf->ejection_time * times;
	if (ms > c->conf->max_ejection_time)
		ms = c->conf->max_ejection_time;
	end = sweep(c->conf, now + ms);
	/* Another worker may eject it at the same moment: one wins. */
	if (!atomic_compare_exchange_strong(&s->ejected_until, &until, end))
		return;
	atomic_store(&s->ejected_last, now);
	atomic_store(&s->ejections, times);
	msh_outlier_changed();
	msh_stats_inc(s, worker, MSH_C_EJECTIONS);
	msh_log(MSH_LOG_WARNING, "cluster %s: ejecting %s for %llu ms after "
	    "%u %s in a row (ejection %u in a row%s)", c->conf->name, e->name,
	    (unsigned long long)(end - now), n, why, times,
	    end != now + ms ? ", to the next sweep" : "");
}

/* Percent of c's endpoints available: neither ejected nor unhealthy;
 * *until lowered to the end of the first ejection to end. */
static unsigned
available(const struct msh_cluster *c, uint64_t now, uint64_t *until)
{
	uint64_t u;
	size_t i, n = 0;

	for (i = 0; i < c->nendpoints; i++) {
		u = atomic_load_explicit(&c->endpoints[i].stats->ejected_until,
		    memory_order_relaxed);
		if (u > now) {
			if (u < *until)
				*until = u;
		} else if (msh_health_ok(&c->endpoints[i]))
			n++;
	}
	return c->nendpoints ? n * 100 / c->nendpoints : 0;
}

const struct msh_cluster *
msh_outlier_view(const struct msh_cluster *c, unsigned worker, int *panic)
{
	struct msh_view_cache *v = &c->views[worker];
	uint64_t e = atomic_load_explicit(&epoch, memory_order_relaxed), now;

	if (v->epoch != e || (v->until != 0 && msh_outlier_now() >= v->until)) {
		/* Something changed: look again (never on a quiet path). */
		now = msh_outlier_now();
		v->epoch = e;
		v->until = UINT64_MAX;
		v->local = c->local != NULL && available(c->local, now,
		    &v->until) >= c->conf->zone_affinity;
		v->panic = available(v->local ? c->local : c, now, &v->until) <
		    c->conf->panic_threshold;
		if (v->until == UINT64_MAX)
			v->until = 0;
	}
	*panic = v->panic;
	return v->local ? c->local : c;
}

void
msh_outlier_result(const struct msh_cluster *c, const struct msh_endpoint *e,
    unsigned worker, enum msh_outcome o)
{
	struct msh_stats_line *l = &e->stats->lines[worker];
	const struct msh_cluster_conf *cc = c->conf;

	if (o == MSH_OUTCOME_OK) {
		l->consecutive_5xx = 0;
		l->consecutive_gateway = 0;
		return;
	}
	l->consecutive_5xx++;
	if (o == MSH_OUTCOME_GATEWAY)
		l->consecutive_gateway++;
	else
		l->consecutive_gateway = 0;
	if (cc->outlier_5xx != 0 && l->consecutive_5xx >= cc->outlier_5xx) {
		eject(c, e, worker, "5xx or failures", l->consecutive_5xx);
		l->consecutive_5xx = l->consecutive_gateway = 0;
	} else if (cc->outlier_gateway != 0 &&
	    l->consecutive_gateway >= cc->outlier_gateway) {
		eject(c, e, worker, "gateway errors", l->consecutive_gateway);
		l->consecutive_5xx = l->consecutive_gateway = 0;
	}
}
