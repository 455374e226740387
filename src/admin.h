/*
 * The admin listener, on the main thread: GET /ready and GET /metrics
 * (Prometheus text format). It reads the counters the workers write.
 */
#ifndef MSH_ADMIN_H
#define MSH_ADMIN_H

#include <stdint.h>

#include "value.h"

struct event_base;
struct msh_snapshot;

struct msh_admin_state {
	struct msh_snapshot	*snap;		/* the current one */
	uint64_t		 reloads;	/* attempted */
	uint64_t		 reload_failures;
	uint64_t		 registry_updates;	/* attempted */
	uint64_t		 registry_failures;
	uint64_t		 registry_vanished;	/* services kept */
	uint64_t		 tls_reloads;		/* after a file changed */
	uint64_t		 tls_failures;
	int			 draining;
};

/* Serve on fd, a listening socket bound to a; -1 (logged) on failure. */
int	msh_admin_start(struct event_base *base, int fd, const struct msh_addr *a,
	    const struct msh_admin_state *st);

/* Move to a new address (after a reload); on failure keep the old one
 * and return -1 with *err set. */
int	msh_admin_move(const struct msh_addr *a, const char **err);

void	msh_admin_stop(void);

#endif
