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

/*
 * Where a value was set: one of the mesh's files (m->files, which owns the
 * string for the mesh's lifetime) and a line of it. { NULL, 0 }: never
 * set, the built-in default. Diagnostics and meshc explain report it.
 */
struct mc_origin {
	const char	*file;
	unsigned	 line;
};

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
	struct mc_origin  client_timeout_at;				\
	struct mc_origin  keepalive_timeout_at;				\
	struct mc_origin  idle_timeout_at;				\
	struct mc_origin  max_header_size_at;				\
	struct mc_origin  max_headers_at;				\
	struct mc_origin  buffer_size_at;				\
	struct mc_origin  request_timeout_at;

struct mc_dep {
	char		*name;
	struct mc_origin at;
};

struct mc_service {
	char		 *name;
	struct mc_origin  at;		/* of the section header */
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

	/*
	 * Where each key was set, line 0 if not: duplicates and origins.
	 * mc_check gives the keys a service inherits the mesh's value and
	 * origin when the service has none of its own.
	 */
	struct mc_origin  protocol_at;
	struct mc_origin  app_address_at;
	struct mc_origin  app_port_at;
	struct mc_origin  inbound_port_at;
	struct mc_origin  outbound_port_at;
	struct mc_origin  connect_timeout_at;
	struct mc_origin  response_timeout_at;
	struct mc_origin  forwarded_for_at;
};

struct mc_mesh {
	char		**files;	/* as read, files[0] the one given */
	size_t		  nfiles;
	unsigned char	  digest[32];	/* sha256 of the source */
	struct mc_origin  at;		/* of [mesh], line 0 if missing */
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

	struct mc_origin  name_at;
	struct mc_origin  registry_at;
	struct mc_origin  admin_port_at;
	struct mc_origin  outbound_port_base_at;
	struct mc_origin  workers_at;
	struct mc_origin  connect_timeout_at;
	struct mc_origin  response_timeout_at;
	struct mc_origin  via_at;
	struct mc_origin  drain_timeout_at;
	struct mc_origin  log_dir_at;

	struct mc_service **services;	/* sorted by name after checks */
	size_t		  nservices;
};

/* Read FILE into m; every problem goes to d. Returns -1 if unreadable. */
int	mc_parse(struct mc_mesh *m, const char *file, struct msh_diag *d);

/* mc_parse_buffer's flags. */
#define MC_PARSE_NO_INCLUDE	0x1	/* include = is an error, no file is
					 * read: for untrusted bytes */

/*
 * The same for a mesh in memory (len bytes, no NUL needed) that file names
 * in diagnostics and origins (m keeps a copy). Included files are found
 * relative to file's directory, unless flags has MC_PARSE_NO_INCLUDE.
 */
int	mc_parse_buffer(struct mc_mesh *m, const char *file, const char *buf,
	    size_t len, unsigned flags, struct msh_diag *d);

/* Mesh-wide checks; assigns outbound ports. */
void	mc_check(struct mc_mesh *m, struct msh_diag *d);

/* Write DIR/<service>.conf for every service, atomically; DIR is
 * created if missing (not its parents). */
int	mc_emit(const struct mc_mesh *m, const char *dir, struct msh_diag *d);

/*
 * meshc explain: the effective settings of service name, each with its
 * origin, one "ORIGIN<TAB>KEY = VALUE" line each (meshc(1)), after
 * mc_check. An unknown name is reported to d; returns -1 then.
 */
int	mc_explain(FILE *fp, const struct mc_mesh *m, const char *name,
	    struct msh_diag *d);

/*
 * The service graph of a checked mesh on out: Graphviz DOT, or SVG through
 * dot when dot (its path) is not NULL. Returns -1, reported, if it cannot
 * be written or dot fails.
 */
int	mc_graph(const struct mc_mesh *m, FILE *out, const char *dot,
	    struct msh_diag *d);

/* Graphviz's dot, searched in PATH, into buf; -1 if there is none. */
int	mc_graph_find_dot(char *buf, size_t len);

/* A size as meshd.conf and mesh.conf write it: "256k". Returns buf.
 * (Durations: msh_format_duration, shared with meshd.) */
const char *mc_format_size(char *buf, size_t len, uint64_t bytes);

struct mc_service *mc_find_service(const struct mc_mesh *m, const char *name);

/*
 * How a diagnostic about a place in file refers to origin o: "line 7" in
 * the same file, "mesh.d/orders.conf:7" in another. Returns buf.
 */
const char *mc_origin_ref(const struct mc_origin *o, const char *file,
	    char *buf, size_t len);

void	mc_free(struct mc_mesh *m);

#endif
