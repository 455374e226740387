/*
 * least_request: power of two choices. Two different endpoints are drawn
 * by weight and the one with fewer requests in flight gets the request;
 * on a tie, the first drawn, so that under an even load the shares follow
 * the weights. Going by two random candidates rather than the least
 * loaded of all keeps the pick O(log n) and spreads a burst instead of
 * sending it all to the one endpoint that looked idlest.
 *
 * The requests in flight are those of the calling worker (its line of the
 * endpoint's stats): reading the other workers' lines would share their
 * cache lines on every pick. With several workers each balances its own
 * share of the load.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "lb.h"
#include "module.h"
#include "snapshot-t.h"
#include "stats.h"

static uint64_t
active(const struct msh_endpoint *e, unsigned worker)
{
	return atomic_load_explicit(&e->stats->lines[worker].active,
	    memory_order_relaxed);
}

static const struct msh_endpoint *
lr_pick(void *state, const struct msh_cluster *c, const struct msh_pick *p)
{
	const struct msh_lb_weights *w = state;
	size_t a, b;

	if (w->n < 2)
		return w->n == 1 ? &c->endpoints[0] : NULL;
	msh_lb_draw_two(w, p, &a, &b);
	if (active(&c->endpoints[b], p->worker) <
	    active(&c->endpoints[a], p->worker))
		a = b;
	return &c->endpoints[a];
}

static const struct msh_lb_ops lr_ops = {
	.create = msh_lb_weights_create,
	.destroy = msh_lb_weights_destroy,
	.pick = lr_pick,
};

const struct msh_module msh_module_lb_least_request = {
	.name = "least_request",
	.directives = NULL,
	.lb = &lr_ops,
};
