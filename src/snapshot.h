#ifndef MSH_SNAPSHOT_H
#define MSH_SNAPSHOT_H

#include "diag.h"
#include "registry.h"
#include "snapshot-t.h"

#define MSH_SNAPSHOT_NO_SOCKETS	0x1	/* meshd -t: check, bind nothing */

/*
 * Build a snapshot from conf (its reference is taken over, dropped on
 * failure too) and the registry view reg (read only; NULL: none): set up
 * the clusters and their load balancers, take the listening sockets of
 * prev whose address is unchanged and open the rest. Problems go to d
 * with file and line; NULL then, and prev and everything else are
 * untouched. The result has one reference.
 */
struct msh_snapshot *msh_snapshot_build(struct msh_conf *conf,
	    const struct msh_registry *reg, const struct msh_snapshot *prev,
	    unsigned nworkers, uint64_t generation, int flags,
	    struct msh_diag *d);

/* From any thread. The last unref frees it, closing sockets no newer
 * snapshot took over. */
void	msh_snapshot_ref(struct msh_snapshot *s);
void	msh_snapshot_unref(struct msh_snapshot *s);

#endif
