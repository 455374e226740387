/*
 * meshc's model of a mesh: what mesh.conf says, with the file and line
 * each value came from, and what the checks derive (outbound ports).
 */
#ifndef MC_MESH_H
#define MC_MESH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "value.h"

enum mc_protocol {
	MC_HTTP,
	MC_TCP,
};

/* What a sidecar's listeners are set to: a service's own values or the
 * mesh's (struct mc_mesh has the same, as defaults). */
#define MC_LISTEN_FIELDS \
	uint64_t	  client_timeout;	/* ms, to read a head */	\
	uint64_t	  keepalive_timeout;	/* ms, between requests */	\
	uint64_t	  idle_timeout;		/* ms, tcp */			\
	uint64_t	  max_header_size;	/* bytes */			\
	unsigned	  max_headers;					\
	uint64_t	  buffer_size;		/* bytes per direction */	\
	uint64_t	  request_timeout;	/* ms, 0: off; callers' */	\
	unsigned	  client_timeout_line;				\
	unsigned	  keepalive_timeout_line;				\
	unsigned	  idle_timeout_line;					\
	unsigned	  max_header_size_line;				\
	unsigned	  max_headers_line;					\
	unsigned	  buffer_size_line;					\
	unsigned	  request_timeout_line;

struct mc_dep {
	char		*name;
	unsigned	 line;
};

struct mc_service {
	char		 *name;
	unsigned	  line;		/* of the section header */
	enum mc_protocol  protocol;
	struct msh_addr	  app_address;
	unsigned	  app_port;
	unsigned	  inbound_port;
	unsigned	  outbound_port;	/* explicit, 0 if not set */
	uint64_t	  connect_timeout;	/* ms, to its instances */
	uint64_t	  response_timeout;	/* ms, from its instances */
	int		  forwarded_for;	/* on its inbound listener */
	MC_LISTEN_FIELDS
	struct mc_dep	 *deps;
	size_t		  ndeps;

	unsigned	  local_port;	/* where callers reach it: derived */

	/* Line of each key once set, 0 if not: duplicates and origins. */
	unsigned	  protocol_line;
	unsigned	  app_address_line;
	unsigned	  app_port_line;
	unsigned	  inbound_port_line;
	unsigned	  outbound_port_line;
	unsigned	  connect_timeout_line;
	unsigned	  response_timeout_line;
	unsigned	  forwarded_for_line;
};

struct mc_mesh {
	const char	 *file;
	unsigned char	  digest[32];	/* sha256 of the source */
	unsigned	  line;		/* of [mesh], 0 if missing */
	char		 *name;
	char		 *registry;
	unsigned	  admin_port;
	unsigned	  outbound_port_base;
	unsigned	  workers;
	uint64_t	  connect_timeout;	/* ms, default for services */
	uint64_t	  response_timeout;	/* ms, default for services */
	MC_LISTEN_FIELDS
	int		  via;			/* every listener */
	uint64_t	  drain_timeout;	/* ms */
	char		 *log_dir;

	unsigned	  name_line;
	unsigned	  registry_line;
	unsigned	  admin_port_line;
	unsigned	  outbound_port_base_line;
	unsigned	  workers_line;
	unsigned	  connect_timeout_line;
	unsigned	  response_timeout_line;
	unsigned	  via_line;
	unsigned	  drain_timeout_line;
	unsigned	  log_dir_line;

	struct mc_service **services;	/* sorted by name after checks */
	size_t		  nservices;
};

/* Read FILE into m; every problem goes to d. Returns -1 if unreadable. */
int	mc_parse(struct mc_mesh *m, const char *file, struct msh_diag *d);

/* The same for a mesh in memory (len bytes, no NUL needed); file names it
 * in diagnostics and must outlive m. */
int	mc_parse_buffer(struct mc_mesh *m, const char *file, const char *buf,
	    size_t len, struct msh_diag *d);

/* Mesh-wide checks; assigns outbound ports. */
void	mc_check(struct mc_mesh *m, struct msh_diag *d);

/* Write DIR/<service>.conf for every service, atomically. */
int	mc_emit(const struct mc_mesh *m, const char *dir, struct msh_diag *d);

/*
 * The service graph of a checked mesh on out: Graphviz DOT, or SVG through
 * dot when dot (its path) is not NULL. Returns -1, reported, if it cannot
 * be written or dot fails.
 */
int	mc_graph(const struct mc_mesh *m, FILE *out, const char *dot,
	    struct msh_diag *d);

/* Graphviz's dot, searched in PATH, into buf; -1 if there is none. */
int	mc_graph_find_dot(char *buf, size_t len);

struct mc_service *mc_find_service(const struct mc_mesh *m, const char *name);

void	mc_free(struct mc_mesh *m);

#endif
