/*
 * ring_hash: consistent hashing on a ring (Karger et al.; ketama, Envoy's
 * ring_hash). Each endpoint puts points on a ring of 64-bit hashes, as
 * many as its weight asks; a request goes to the endpoint of the first
 * point at or after its key's hash (the cluster's hash_key, src/lb.h).
 * A request with the same key reaches the same endpoint for as long as
 * the endpoint set stays, and when one endpoint joins N others it takes
 * over about 1/(N+1) of the keys, all from the others, none moving
 * between them; one that leaves gives up only its own.
 *
 * The points of an endpoint are the hashes of its address with seeds 0,
 * 1, 2...: they depend on nothing else, so a registry update moves only
 * the keys whose nearest point came or went. POINTS_PER_WEIGHT per unit
 * of weight (weights divided by their greatest common divisor first),
 * fewer when the ring would exceed MAX_POINTS; that shrinking moves more
 * keys than the bound says, and only happens past 1024 units of weight.
 * 256 points each give 1024 for four endpoints of weight 1, Envoy's
 * smallest ring: each endpoint's share of the keys within a few percent.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "module.h"
#include "snapshot-t.h"

#define POINTS_PER_WEIGHT	256
#define MAX_POINTS		(1 << 18)
#define MAX_SKIP		64	/* the most attempts told apart */

struct point {
	uint64_t	 hash;
	uint32_t	 endpoint;	/* index in the cluster */
};

struct ring {
	struct point	*points;
	size_t		 npoints;
	size_t		 nendpoints;
};

static unsigned
gcd(unsigned a, unsigned b)
{
	while (b != 0) {
		unsigned t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* By hash; equal hashes (most unlikely) by address, so the ring does
 * not depend on the order the endpoints are listed in. */
static int
by_hash(const void *x, const void *y, void *arg)
{
	const struct point *a = x, *b = y;
	const struct msh_cluster *c = arg;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return strcmp(c->endpoints[a->endpoint].name,
	    c->endpoints[b->endpoint].name);
}

static void *
ring_create(const struct msh_cluster *c, unsigned nworkers)
{
	struct ring *r;
	unsigned g = 0;
	size_t i, k, n, per = POINTS_PER_WEIGHT, total = 0;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		abort();
	r->nendpoints = c->nendpoints;
	for (i = 0; i < c->nendpoints; i++)
		g = gcd(c->endpoints[i].weight, g);
	for (i = 0; i < c->nendpoints; i++)
		total += c->endpoints[i].weight / g;
	if (total * per > MAX_POINTS)
		per = MAX_POINTS / total > 0 ? MAX_POINTS / total : 1;
	if ((r->points = calloc(total * per + 1, sizeof(*r->points))) == NULL)
		abort();
	for (i = 0; i < c->nendpoints; i++) {
		const struct msh_endpoint *e = &c->endpoints[i];

		n = e->weight / g * per;
		for (k = 0; k < n; k++) {
			r->points[r->npoints].hash = msh_hash64(e->name,
			    strlen(e->name), k);
			r->points[r->npoints].endpoint = i;
			r->npoints++;
		}
	}
	qsort_r(r->points, r->npoints, sizeof(*r->points), by_hash,
	    (void *)c);
	return r;
}

static void
ring_destroy(void *state)
{
	struct ring *r = state;

	free(r->points);
	free(r);
}

/* The first point at or after h, round the ring. */
static size_t
first_point(const struct ring *r, uint64_t h)
{
	size_t lo = 0, hi = r->npoints;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->points[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == r->npoints ? 0 : lo;
}

static const struct msh_endpoint *
ring_pick(void *state, const struct msh_cluster *c, const struct msh_pick *p)
{
	const struct ring *r = state;
	uint32_t seen[MAX_SKIP];
	size_t skip, nseen = 0, i, k, steps;
	uint64_t h;

	if (r->nendpoints == 0)
		return NULL;
	/* Without a key (no IP client), any point will do. */
	h = p->has_hash ? p->hash : msh_lb_random(p);
	i = first_point(r, h);
	/* A retry moves on round the ring to the attempt-th endpoint other
	 * than those before it. */
	skip = p->attempt % r->nendpoints;
	if (skip > MAX_SKIP)
		skip = MAX_SKIP;
	for (steps = 0; skip > 0 && steps < r->npoints; steps++) {
		uint32_t e = r->points[i].endpoint;

		for (k = 0; k < nseen && seen[k] != e; k++)
			;
		if (k == nseen) {
			if (nseen == skip)
				break;
			seen[nseen++] = e;
		}
		i = i + 1 == r->npoints ? 0 : i + 1;
	}
	return &c->endpoints[r->points[i].endpoint];
}

static const struct msh_lb_ops ring_ops = {
	.create = ring_create,
	.destroy = ring_destroy,
	.pick = ring_pick,
	.hashed = 1,
};

const struct msh_module msh_module_lb_ring_hash = {
	.name = "ring_hash",
	.directives = NULL,
	.lb = &ring_ops,
};
