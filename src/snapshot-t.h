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
struct msh_tls;

struct msh_endpoint {
	struct msh_addr	  addr;
	char		  name[MSH_ADDR_STRLEN];
	unsigned	  weight;
	int		  local;	/* in the sidecar's own zone */
	struct msh_stats *stats;
};

/* A worker's choice of endpoints for a cluster, kept until the health of
 * its endpoints may have changed (msh_outlier_view). */
struct msh_view_cache {
	uint64_t	 epoch;		/* of msh_outlier_epoch */
	uint64_t	 until;		/* ms: an ejection ends then */
	int		 local;		/* pick from the local zone's */
	int		 panic;		/* take unavailable endpoints too */
} __attribute__((aligned(64)));

struct msh_cluster {
	const struct msh_cluster_conf	*conf;
	struct msh_endpoint		*endpoints;
	size_t				 nendpoints;
	const struct msh_lb_ops		*lb;
	void				*lb_state;
	struct msh_stats		*stats;
	/* zone_affinity: the endpoints in the sidecar's zone, balanced as
	 * a cluster of their own; NULL if off, or if all or none are. */
	struct msh_cluster		*local;
	struct msh_view_cache		*views;		/* per worker */
};

struct msh_listener {
	const struct msh_listener_conf	*conf;
	struct msh_cluster		*cluster;	/* no route matched */
	const struct msh_route_conf	**routes;	/* in the file's order */
	struct msh_stats		**route_stats;	/* each route's counts */
	size_t				 nroutes;
	const struct msh_rule_conf	**rules;	/* in the file's order */
	struct msh_stats		**rule_stats;	/* each rule's counts */
	size_t				 nrules;
	struct msh_sockets		*sockets;	/* NULL under meshd -t */
	struct msh_stats		*stats;
};

struct msh_snapshot {
	atomic_uint		 refs;
	uint64_t		 generation;	/* of the config */
	uint64_t		 registry_generation;
	unsigned		 nworkers;
	struct msh_conf		*conf;		/* a reference */
	char			*zone;		/* the sidecar's, from the registry */
	struct msh_tls		*tls;		/* or NULL: no TLS anywhere */
	struct msh_listener	*listeners;
	size_t			 nlisteners;
	struct msh_cluster	*clusters;
	size_t			 nclusters;
};

#endif
