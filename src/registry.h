/*
 * The registry file (mesh-registry(5)): one INI section per service
 * instance, named by its path, /services/NAME/instances/ID.
 */
#ifndef MSH_REGISTRY_H
#define MSH_REGISTRY_H

#include <stddef.h>

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

struct msh_registry {
	struct msh_instance	*instances;
	size_t			 n;
};

/* Read the file; every problem goes to d with its line. -1 on any. */
int	msh_registry_load(const char *file, struct msh_registry *r,
	    struct msh_diag *d);

void	msh_registry_free(struct msh_registry *r);

/* Does this instance take traffic? (passing or warning) */
int	msh_instance_serving(const struct msh_instance *i);

#endif
