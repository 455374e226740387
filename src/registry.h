/*
 * The registry file (mesh-registry(5)): one INI section per service
 * instance, named by its path, /services/NAME/instances/ID.
 */
#ifndef MSH_REGISTRY_H
#define MSH_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "value.h"

enum msh_health {
	MSH_HEALTH_PASSING,
	MSH_HEALTH_WARNING,
	MSH_HEALTH_CRITICAL,
	MSH_HEALTH_MAINTENANCE,
};

struct msh_instance {
	char		*service;
	char		*id;
	unsigned	 line;
	struct msh_addr	 address;	/* with port */
	unsigned	 port;
	unsigned	 weight;
	char		*zone;
	char		*labels;
	enum msh_health	 health;
	unsigned	 address_line;
	unsigned	 port_line;
	unsigned	 weight_line;
	unsigned	 zone_line;
	unsigned	 labels_line;
	unsigned	 health_line;
};

/* [/services/NAME]: what the registry says of a service itself. */
struct msh_service_node {
	char		*service;
	unsigned	 line;
	int		 empty;		/* no instances, on purpose */
	unsigned	 empty_line;
};

/* A view of the registry, sorted by service and instance id. */
struct msh_registry {
	struct msh_instance	*instances;
	size_t			 n;
	struct msh_service_node	*nodes;
	size_t			 nnodes;
	/* Hashes (msh_hash_text) of the instance sections of the file this
	 * view was read from, all of which were good: a set, 0 for a free
	 * slot. */
	uint64_t		*known;
	size_t			 known_cap;	/* a power of 2, or 0 */
};

/*
 * Read the file and keep the instances of the services in want (all if
 * want is NULL). The whole file is checked: every problem goes to d with
 * its line, and any makes it -1 with r empty. prev, a view read before
 * (or NULL), saves parsing again the sections of other services that have
 * not changed since.
 */
int	msh_registry_load(const char *file, const char *const *want,
	    size_t nwant, const struct msh_registry *prev,
	    struct msh_registry *r, struct msh_diag *d);

/*
 * A service that had instances in old and has none in r, without being
 * said empty, keeps old's: a registry that lost a service by accident
 * (a ZooKeeper session that expired) must not take all its traffic away.
 * Each such service is warned about on d; returns how many there were.
 */
size_t	msh_registry_keep_vanished(struct msh_registry *r,
	    const struct msh_registry *old, const char *file,
	    struct msh_diag *d);

void	msh_registry_free(struct msh_registry *r);

/* Does this instance take traffic? (passing or warning) */
int	msh_instance_serving(const struct msh_instance *i);

#endif
