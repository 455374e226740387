/*
 * A config snapshot: everything a worker needs to serve, built whole off
 * the request path, immutable once published, freed when the last
 * connection that uses it ends.
 */
#ifndef MSH_SNAPSHOT_T_H
#define MSH_SNAPSHOT_T_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf-t.h"
#include "module-t.h"
#include "value.h"

struct msh_stats;
struct msh_sockets;

struct msh_endpoint {
	struct msh_addr	  addr;
	char		  name[MSH_ADDR_STRLEN];
	unsigned	  weight;
	struct msh_stats *stats;
};

struct msh_cluster {
	const struct msh_cluster_conf	*conf;
	struct msh_endpoint		*endpoints;
	size_t				 nendpoints;
	const struct msh_lb_ops		*lb;
	void				*lb_state;
	struct msh_stats		*stats;
};

struct msh_listener {
	const struct msh_listener_conf	*conf;
	struct msh_cluster		*cluster;
	struct msh_sockets		*sockets;	/* NULL under meshd -t */
	struct msh_stats		*stats;
};

struct msh_snapshot {
	atomic_uint		 refs;
	uint64_t		 generation;	/* of the config */
	uint64_t		 registry_generation;
	unsigned		 nworkers;
	struct msh_conf		*conf;		/* a reference */
	struct msh_listener	*listeners;
	size_t			 nlisteners;
	struct msh_cluster	*clusters;
	size_t			 nclusters;
};

#endif
