/*
 * The module interface. A module is one file under modules/ with one
 * static descriptor: its name, the meshd.conf keys it owns and the hooks
 * it implements. Load balancers implement msh_lb_ops.
 */
#ifndef MSH_MODULE_T_H
#define MSH_MODULE_T_H

#include "conf-t.h"

struct msh_cluster;
struct msh_endpoint;

struct msh_lb_ops {
	/* State for one cluster of one snapshot, all workers. */
	void	*(*create)(const struct msh_cluster *c, unsigned nworkers);
	void	 (*destroy)(void *state);
	/* An endpoint for the next request on this worker; NULL if none.
	 * Runs on the worker's thread only, so needs no lock. */
	const struct msh_endpoint *(*pick)(void *state,
		    const struct msh_cluster *c, unsigned worker);
};

struct msh_module {
	const char			*name;
	const struct msh_directive	*directives;	/* NULL-keyed end */
	const struct msh_lb_ops		*lb;		/* or NULL */
};

#endif
