/*
 * random: each request to an endpoint drawn at random in proportion to
 * its weight, from the worker's own generator (src/lb.h): no state shared
 * between workers, no lock. Over many requests the shares follow the
 * weights; unlike round_robin nothing keeps them exact over a few, and
 * many sidecars that start together do not pick in step.
 */
#include "config.h"

#include <stdlib.h>

#include "lb.h"
#include "module.h"
#include "snapshot-t.h"

static const struct msh_endpoint *
random_pick(void *state, const struct msh_cluster *c, const struct msh_pick *p)
{
	const struct msh_lb_weights *w = state;

	if (w->n == 0)
		return NULL;
	return &c->endpoints[msh_lb_draw(w, p)];
}

static const struct msh_lb_ops random_ops = {
	.create = msh_lb_weights_create,
	.destroy = msh_lb_weights_destroy,
	.pick = random_pick,
};

const struct msh_module msh_module_lb_random = {
	.name = "random",
	.directives = NULL,
	.lb = &random_ops,
};
