/*
 * Listening sockets: one per worker for each address, bound with
 * SO_REUSEPORT so the kernel spreads connections over the workers. The
 * set is refcounted apart from the snapshot, so a reload hands the same
 * sockets to the new snapshot when the address is unchanged and no
 * connection is refused while it takes over.
 */
#ifndef MSH_LISTENER_H
#define MSH_LISTENER_H

#include <stdatomic.h>

#include "value.h"

struct msh_sockets {
	atomic_uint	refs;
	struct msh_addr	addr;
	unsigned	n;
	int		fds[];
};

/* Bind and listen n sockets on a; NULL with *err (strerror) on failure. */
struct msh_sockets *msh_sockets_open(const struct msh_addr *a, unsigned n,
	    const char **err);

void	msh_sockets_ref(struct msh_sockets *s);
void	msh_sockets_unref(struct msh_sockets *s);

/* One listening socket, not shared (the admin's). -1 with errno. */
int	msh_listen_socket(const struct msh_addr *a, int reuseport);

#endif
