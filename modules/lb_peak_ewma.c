/*
 * peak_ewma: Linkerd's balancer. Power of two choices, like least_request,
 * on a cost that also weighs how fast an endpoint answers:
 *
 *	cost = latency estimate x (requests in flight + 1)
 *
 * The estimate is the peak EWMA the proxy keeps per endpoint and worker
 * (proxy.c: a slower response raises it at once, faster ones lower it
 * gradually). Read here, an estimate decays toward 0 with the time since
 * it was last refreshed, as tower's does: an endpoint that was slow once
 * and so gets no traffic is tried again after a while rather than never.
 *
 * An endpoint without an estimate yet (new, or never picked on this
 * worker) is neutral: it is given the other candidate's estimate, so the
 * two compare by requests in flight alone, and it wins a tie, so that a
 * new endpoint is tried and measured. Both without: in flight decides.
 */
#include "config.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "lb.h"
#include "module.h"
#include "snapshot-t.h"
#include "stats.h"


/* The worker's estimate of e in microseconds, decayed to now (µs of
 * CLOCK_MONOTONIC, the clock of latency_at_us); 0: none. */
static double
latency(const struct msh_endpoint *e, unsigned worker, uint64_t now)
{
	const struct msh_stats_line *l = &e->stats->lines[worker];
	uint64_t est, at;

	est = atomic_load_explicit(&l->latency_us, memory_order_relaxed);
	if (est == 0)
		return 0;
	at = l->latency_at_us;
	if (now <= at)
		return est;
	return est * exp(-(double)(now - at) / MSH_LATENCY_DECAY_US);
}

static uint64_t
active(const struct msh_endpoint *e, unsigned worker)
{
	return atomic_load_explicit(&e->stats->lines[worker].active,
	    memory_order_relaxed);
}

static const struct msh_endpoint *
pe_pick(void *state, const struct msh_cluster *c, const struct msh_pick *p)
{
	const struct msh_lb_weights *w = state;
	const struct msh_endpoint *a, *b;
	double la, lb, ca, cb;
	struct timespec ts;
	uint64_t now;
	size_t i, j;

	if (w->n < 2)
		return w->n == 1 ? &c->endpoints[0] : NULL;
	msh_lb_draw_two(w, p, &i, &j);
	a = &c->endpoints[i];
	b = &c->endpoints[j];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	la = latency(a, p->worker, now);
	lb = latency(b, p->worker, now);
	ca = (la > 0 ? la : lb > 0 ? lb : 1) * (active(a, p->worker) + 1);
	cb = (lb > 0 ? lb : la > 0 ? la : 1) * (active(b, p->worker) + 1);
	if (cb < ca || (cb == ca && lb == 0 && la > 0))
		return b;
	return a;
}

static const struct msh_lb_ops pe_ops = {
	.create = msh_lb_weights_create,
	.destroy = msh_lb_weights_destroy,
	.pick = pe_pick,
};

const struct msh_module msh_module_lb_peak_ewma = {
	.name = "peak_ewma",
	.directives = NULL,
	.lb = &pe_ops,
};
