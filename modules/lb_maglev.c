/*
 * maglev: Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016)
 * with Envoy's weighting. A lookup table of TABLE_SIZE slots (a prime) is
 * filled by the endpoints in turn, each taking the next free slot of its
 * own permutation of the table, given by two hashes of its address; an
 * endpoint of weight w takes a turn w times as often as one of weight 1.
 * A request goes to the endpoint in slot key % TABLE_SIZE, its key being
 * the cluster's hash_key (src/lb.h).
 *
 * Against ring_hash: one array read per request instead of a binary
 * search, shares held to within a few percent of the weights, and a
 * table built in O(TABLE_SIZE); the price is a little more movement when
 * the endpoints change (a joining endpoint also shuffles a few slots
 * among the others). The slots an endpoint prefers depend on its address
 * alone and the endpoints fill in address order, so the table depends on
 * the set of endpoints, not the order the registry lists them in.
 * Balance needs TABLE_SIZE well above the number of endpoints: up to a
 * few hundred.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "module.h"
#include "snapshot-t.h"

#define TABLE_SIZE	65537
#define MAX_SKIP	64	/* the most attempts told apart */

struct maglev {
	uint32_t	*table;	/* endpoint index per slot */
	size_t		 nendpoints;
};

struct build {
	uint32_t	 endpoint;
	uint64_t	 offset, skip, next;	/* the permutation, and where */
	uint64_t	 weight, target;	/* turns: see maglev_create */
};

static int
by_name(const void *x, const void *y, void *arg)
{
	const struct build *a = x, *b = y;
	const struct msh_cluster *c = arg;

	return strcmp(c->endpoints[a->endpoint].name,
	    c->endpoints[b->endpoint].name);
}

static void *
maglev_create(const struct msh_cluster *c, unsigned nworkers)
{
	struct maglev *m;
	struct build *b;
	uint64_t maxw = 0, turn, slot;
	size_t i, filled = 0;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		abort();
	m->nendpoints = c->nendpoints;
	if (c->nendpoints == 0)
		return m;
	if ((m->table = malloc(TABLE_SIZE * sizeof(*m->table))) == NULL ||
	    (b = calloc(c->nendpoints, sizeof(*b))) == NULL)
		abort();
	memset(m->table, 0xff, TABLE_SIZE * sizeof(*m->table));
	for (i = 0; i < c->nendpoints; i++) {
		const char *name = c->endpoints[i].name;

		b[i].endpoint = i;
		b[i].offset = msh_hash64(name, strlen(name), 0x6d61676c) %
		    TABLE_SIZE;
		b[i].skip = msh_hash64(name, strlen(name), 0x65763031) %
		    (TABLE_SIZE - 1) + 1;
		b[i].weight = c->endpoints[i].weight;
		if (b[i].weight > maxw)
			maxw = b[i].weight;
	}
	qsort_r(b, c->nendpoints, sizeof(*b), by_name, (void *)c);
	/*
	 * Turns: in round t, an endpoint of the highest weight fills a slot,
	 * one of weight w only once t * w has caught up with maxw times the
	 * slots it filled before: w / maxw of the rounds.
	 */
	for (turn = 1; filled < TABLE_SIZE; turn++) {
		for (i = 0; i < c->nendpoints && filled < TABLE_SIZE; i++) {
			if (turn * b[i].weight < b[i].target)
				continue;
			b[i].target += maxw;
			do {
				slot = (b[i].offset + b[i].next * b[i].skip) %
				    TABLE_SIZE;
				b[i].next++;
			} while (m->table[slot] != UINT32_MAX);
			m->table[slot] = b[i].endpoint;
			filled++;
		}
	}
	free(b);
	return m;
}

static void
maglev_destroy(void *state)
{
	struct maglev *m = state;

	free(m->table);
	free(m);
}

static const struct msh_endpoint *
maglev_pick(void *state, const struct msh_cluster *c,
    const struct msh_pick *p)
{
	const struct maglev *m = state;
	uint32_t seen[MAX_SKIP];
	size_t skip, nseen = 0, slot, k, steps;
	uint64_t h;

	if (m->nendpoints == 0)
		return NULL;
	h = p->has_hash ? p->hash : msh_lb_random(p);
	slot = h % TABLE_SIZE;
	/* A retry moves on through the table to the attempt-th endpoint
	 * other than those before it: the slots next to one another belong
	 * to endpoints in no particular order. */
	skip = p->attempt % m->nendpoints;
	if (skip > MAX_SKIP)
		skip = MAX_SKIP;
	for (steps = 0; skip > 0 && steps < TABLE_SIZE; steps++) {
		uint32_t e = m->table[slot];

		for (k = 0; k < nseen && seen[k] != e; k++)
			;
		if (k == nseen) {
			if (nseen == skip)
				break;
			seen[nseen++] = e;
		}
		slot = slot + 1 == TABLE_SIZE ? 0 : slot + 1;
	}
	return &c->endpoints[m->table[slot]];
}

static const struct msh_lb_ops maglev_ops = {
	.create = maglev_create,
	.destroy = maglev_destroy,
	.pick = maglev_pick,
	.hashed = 1,
};

const struct msh_module msh_module_lb_maglev = {
	.name = "maglev",
	.directives = NULL,
	.lb = &maglev_ops,
};
