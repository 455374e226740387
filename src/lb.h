/*
 * What load balancer modules share: a fast hash, the worker's random
 * numbers and weighted draws; and the key the core hashes a
 * request by for the balancers that go by one (ring_hash, maglev).
 */
#ifndef MSH_LB_H
#define MSH_LB_H

#include <stddef.h>
#include <stdint.h>

#include "http1-t.h"
#include "module-t.h"
#include "value.h"
#include "worker.h"

struct msh_cluster;

/* A 64-bit hash of len bytes: FNV-1a, then murmur3's finalizer so that
 * every input bit reaches every output bit. Each seed gives another hash
 * of the family. Stable: rings and tables built from it must not change
 * between builds or runs. */
uint64_t msh_hash64(const void *p, size_t len, uint64_t seed);

/*
 * The key of a request for hash_key k: the value of the header or of the
 * cookie it names, or the client's IP address (port left out) when the
 * request has none, when k says source, and for tcp (m NULL). Returns 0
 * and leaves *hash alone if there is nothing to hash by.
 */
int	msh_lb_request_hash(const struct msh_hash_key *k,
	    const struct msh_http_msg *m, const struct msh_addr *peer,
	    uint64_t *hash);

/* The picking worker's next pseudo-random number (msh_random). */
static inline uint64_t
msh_lb_random(const struct msh_pick *p)
{
	return msh_random_next(p->rng);
}

/* A uniform number below n (n > 0), from msh_lb_random. */
static inline uint64_t
msh_lb_below(const struct msh_pick *p, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)msh_lb_random(p) * n) >> 64);
}

/* A cluster's endpoint weights, summed up for weighted draws. */
struct msh_lb_weights {
	uint64_t	*upto;	/* upto[i]: weights of endpoints 0 to i */
	size_t		 n;
	uint64_t	 total;
};

/* Weights of c's endpoints (aborts if out of memory). */
void	msh_lb_weights_init(struct msh_lb_weights *w,
	    const struct msh_cluster *c);
void	msh_lb_weights_free(struct msh_lb_weights *w);

/* The create and destroy of balancers whose state is the weights alone
 * (random, least_request, peak_ewma). */
void	*msh_lb_weights_create(const struct msh_cluster *c, unsigned nworkers);
void	 msh_lb_weights_destroy(void *state);

/* An endpoint drawn by weight; w->n > 0. */
size_t	msh_lb_draw(const struct msh_lb_weights *w, const struct msh_pick *p);

/* Two different endpoints for a power-of-two-choices pick, w->n > 1: *a
 * drawn by weight, *b by weight among the others. */
void	msh_lb_draw_two(const struct msh_lb_weights *w,
	    const struct msh_pick *p, size_t *a, size_t *b);

#endif
