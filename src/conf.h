#ifndef MSH_CONF_H
#define MSH_CONF_H

#include "conf-t.h"
#include "diag.h"

/* meshd's own keys, ended by a row with a NULL key. Modules add theirs. */
extern const struct msh_directive msh_core_directives[];

extern const char *const msh_section_names[MSH_SEC_COUNT];

/*
 * Load and check a compiled config. host, if not NULL, replaces every
 * loopback or wildcard address in it (meshd -a). Every problem goes to d
 * with its line; returns NULL if there was any.
 */
struct msh_conf *msh_conf_load(const char *file, const struct msh_addr *host,
	    struct msh_diag *d);

/* A config is shared by the snapshots of its registry views. */
void	msh_conf_ref(struct msh_conf *c);
void	msh_conf_unref(struct msh_conf *c);

#endif
