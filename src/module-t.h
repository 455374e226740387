/*
 * The module interface. A module is one file under modules/ with one
 * static descriptor: its name, the meshd.conf keys it owns and the hooks
 * it implements. Load balancers implement msh_lb_ops.
 */
#ifndef MSH_MODULE_T_H
#define MSH_MODULE_T_H

#include <stdint.h>

#include "conf-t.h"

struct msh_cluster;
struct msh_endpoint;

/* What a balancer may go by for one pick. */
struct msh_pick {
	unsigned	 worker;	/* the calling worker, 0 to nworkers-1 */
	/* Picks of this request refused so far (an ejected endpoint, or one
	 * that failed before a retry): a balancer that would give the same
	 * answer again moves on by this many. */
	unsigned	 attempt;
	/* For a balancer with hashed set: the request's key (the cluster's
	 * hash_key, or the client's address without it), if has_hash. */
	uint64_t	 hash;
	int		 has_hash;
	uint64_t	*rng;		/* the worker's generator: msh_lb_random */
};

struct msh_lb_ops {
	/* State for one cluster of one snapshot, all workers. */
	void	*(*create)(const struct msh_cluster *c, unsigned nworkers);
	void	 (*destroy)(void *state);
	/* An endpoint for the next request; NULL if none. Runs on the
	 * worker's thread only, so needs no lock for that worker's part. */
	const struct msh_endpoint *(*pick)(void *state,
		    const struct msh_cluster *c, const struct msh_pick *p);
	/* pick goes by msh_pick.hash: the core computes it, and the
	 * cluster's hash_key means something. */
	int	 hashed;
};

struct msh_module {
	const char			*name;
	const struct msh_directive	*directives;	/* NULL-keyed end */
	const struct msh_lb_ops		*lb;		/* or NULL */
};

#endif
