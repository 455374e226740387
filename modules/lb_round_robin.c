/*
 * round_robin: smooth weighted round robin, as nginx does it. Each pick
 * adds every endpoint's weight to its current weight, takes the highest
 * and subtracts the total from it: weights 5,1,1 give a a b a c a a, not
 * a a a a a b c. Each worker keeps its own current weights, so no lock.
 */
#include "config.h"

#include <stdlib.h>

#include "module.h"
#include "snapshot-t.h"

struct rr_state {
	size_t	 n;
	long	*current;	/* [worker * n + endpoint] */
};

static void *
rr_create(const struct msh_cluster *c, unsigned nworkers)
{
	struct rr_state *st;
	size_t w, i;

	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->current = calloc(nworkers * c->nendpoints + 1,
	    sizeof(long))) == NULL)
		abort();
	st->n = c->nendpoints;
	/* Start the workers at different endpoints, so that one request per
	 * worker does not send all of them to the first endpoint. */
	for (w = 0; w < nworkers && st->n > 0; w++) {
		i = w % st->n;
		st->current[w * st->n + i] = 1;
	}
	return st;
}

static void
rr_destroy(void *state)
{
	struct rr_state *st = state;

	free(st->current);
	free(st);
}

static const struct msh_endpoint *
rr_pick(void *state, const struct msh_cluster *c, const struct msh_pick *p)
{
	struct rr_state *st = state;
	long *cur = st->current + p->worker * st->n, total = 0;
	size_t i, best = 0;

	if (st->n == 0)
		return NULL;
	for (i = 0; i < st->n; i++) {
		cur[i] += c->endpoints[i].weight;
		total += c->endpoints[i].weight;
		if (cur[i] > cur[best])
			best = i;
	}
	cur[best] -= total;
	return &c->endpoints[best];
}

static const struct msh_lb_ops rr_ops = {
	.create = rr_create,
	.destroy = rr_destroy,
	.pick = rr_pick,
};

const struct msh_module msh_module_lb_round_robin = {
	.name = "round_robin",
	.directives = NULL,
	.lb = &rr_ops,
};
