/*
 * meshc's model of a mesh: what mesh.conf says, with the file and line
 * each value came from, and what the checks derive (outbound ports, the
 * effective policy of each service).
 */
#ifndef MC_MESH_H
#define MC_MESH_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "map.h"
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

/*
 * mesh.conf keys are table rows (parse.c has those of [mesh] and
 * [service], policy.c those of policies): the section they go in, the
 * value kind, and where the value and its origin are stored.
 */
enum mc_section {
	MC_SEC_MESH,
	MC_SEC_SERVICE,
	MC_SEC_POLICY,		/* a policy key: [policy], [service], [mesh] */
	MC_SEC_RULE,
	MC_SEC_ROUTE,
	MC_SEC_EDGE,
};

enum mc_kind {
	MC_V_STRING,
	MC_V_NAME,
	MC_V_PORT,
	MC_V_WORKERS,
	MC_V_PROTOCOL,
	MC_V_IP,
	MC_V_DEPS,
	MC_V_POLICIES,		/* struct mc_refs, repeatable: appends */
	MC_V_DURATION,
	MC_V_DURATION_OFF,	/* or off: 0 */
	MC_V_SIZE,		/* uint64_t bytes, min to max */
	MC_V_COUNT,		/* unsigned, min to max */
	MC_V_LIMIT,		/* unsigned, min to max, or off: 0 */
	MC_V_FLAG,
	MC_V_RETRY_ON,		/* struct msh_retry_on */
	MC_V_LB,		/* const struct mc_lb *, from mc_lbs */
	MC_V_HASH_KEY,		/* struct msh_hash_key */
	MC_V_HEALTH_CHECK,	/* struct msh_health_check */
	MC_V_STATUS_LIST,	/* struct msh_status_list */
	MC_V_HOST,		/* char[MSH_HOST_MAX + 1], "": unset */
	MC_V_MTLS,		/* enum mc_mtls */
	MC_V_ACTION,		/* int: 1 allow, 0 deny */
	MC_V_LINES,		/* struct mc_refs: each value whole, appended */
	MC_V_PERCENT,		/* unsigned, a share of MSH_PERCENT_ALL */
	MC_V_RATE,		/* struct msh_rate */
};

struct mc_directive {
	enum mc_section	 section;
	const char	*key;
	enum mc_kind	 kind;
	size_t		 offset;	/* of the value in its struct */
	size_t		 at_offset;	/* of its origin; 0: repeatable */
	uint64_t	 min, max;	/* MC_V_SIZE, _COUNT, _LIMIT */
	/* A policy key the service's own inbound listener takes (the
	 * callee protects itself), not its callers' clusters. */
	int		 inbound;
};

/* A load balancer meshd may have (policy.c lists them): meshc cannot see
 * which ones a given meshd was built with. */
struct mc_lb {
	const char	*name;
	int		 hashed;	/* goes by hash_key */
};

/*
 * What a caller's sidecar applies to its calls to a service: the keys of
 * a [cluster] in meshd.conf(5), as a policy, [mesh] or [service] sets
 * them (origin line 0: not set there) or, resolved, as they take effect.
 */
struct mc_policy_set {
	const struct mc_lb	*lb;
	struct msh_hash_key	 hash_key;
	uint64_t		 connect_timeout;	/* ms */
	uint64_t		 response_timeout;	/* ms */
	uint64_t		 request_timeout;	/* ms, 0: off */
	unsigned		 retries;
	struct msh_retry_on	 retry_on;
	uint64_t		 per_try_timeout;	/* ms, 0: off */
	uint64_t		 retry_backoff;		/* ms, 0: off */
	unsigned		 retry_budget;		/* percent */
	unsigned		 retry_budget_min;	/* a second */
	int			 retry_non_idempotent;
	unsigned		 max_connections;	/* 0: off */
	unsigned		 max_pending;		/* 0: off */
	unsigned		 max_requests;		/* 0: off */
	unsigned		 max_retries;		/* 0: off */
	unsigned		 outlier_5xx;		/* 0: off */
	unsigned		 outlier_gateway;	/* 0: off */
	uint64_t		 outlier_interval;	/* ms, 0: off */
	uint64_t		 ejection_time;		/* ms */
	uint64_t		 max_ejection_time;	/* ms */
	unsigned		 max_ejected_percent;
	unsigned		 zone_affinity;		/* %, 0: off */
	unsigned		 panic_threshold;	/* %, 0: off */
	struct msh_health_check	 health_check;
	uint64_t		 health_interval;	/* ms */
	uint64_t		 health_timeout;	/* ms */
	uint64_t		 health_jitter;		/* ms, 0: off */
	unsigned		 healthy_threshold;
	unsigned		 unhealthy_threshold;
	struct msh_status_list	 health_status;
	char			 health_host[MSH_HOST_MAX + 1];	/* "": unset */
	/* Its inbound listener's (mc_directive.inbound). */
	struct msh_rate		 rate_limit;		/* n 0: off */
	unsigned		 rate_limit_burst;	/* 0: the rate's n */
	struct mc_origin	 lb_at;
	struct mc_origin	 hash_key_at;
	struct mc_origin	 connect_timeout_at;
	struct mc_origin	 response_timeout_at;
	struct mc_origin	 request_timeout_at;
	struct mc_origin	 retries_at;
	struct mc_origin	 retry_on_at;
	struct mc_origin	 per_try_timeout_at;
	struct mc_origin	 retry_backoff_at;
	struct mc_origin	 retry_budget_at;
	struct mc_origin	 retry_budget_min_at;
	struct mc_origin	 retry_non_idempotent_at;
	struct mc_origin	 max_connections_at;
	struct mc_origin	 max_pending_at;
	struct mc_origin	 max_requests_at;
	struct mc_origin	 max_retries_at;
	struct mc_origin	 outlier_5xx_at;
	struct mc_origin	 outlier_gateway_at;
	struct mc_origin	 outlier_interval_at;
	struct mc_origin	 ejection_time_at;
	struct mc_origin	 max_ejection_time_at;
	struct mc_origin	 max_ejected_percent_at;
	struct mc_origin	 zone_affinity_at;
	struct mc_origin	 panic_threshold_at;
	struct mc_origin	 health_check_at;
	struct mc_origin	 health_interval_at;
	struct mc_origin	 health_timeout_at;
	struct mc_origin	 health_jitter_at;
	struct mc_origin	 healthy_threshold_at;
	struct mc_origin	 unhealthy_threshold_at;
	struct mc_origin	 health_status_at;
	struct mc_origin	 health_host_at;
	struct mc_origin	 rate_limit_at;
	struct mc_origin	 rate_limit_burst_at;
};

/* What a service's inbound listener takes (meshd.conf tls). */
enum mc_mtls {
	MC_MTLS_OFF,
	MC_MTLS_STRICT,
	MC_MTLS_PERMISSIVE,
};

/* Names a section refers to, each with where it did: policy = a, b. */
struct mc_ref {
	char		*name;
	struct mc_origin at;
};

struct mc_refs {
	struct mc_ref	*v;
	size_t		 n;
};

/* [rule NAME]: who may call a service, what (see meshd.conf(5) [rule]).
 * Like struct mc_route and mc_policy, it starts with its name and origin
 * (parse.c). */
struct mc_rule {
	char		 *name;
	struct mc_origin  at;		/* of the section header */
	char		 *service;	/* the callee */
	struct mc_refs	  callers;	/* services; none: any caller */
	int		  allow;
	char		 *path;
	char		 *path_exact;
	char		 *path_regex;
	char		 *method;
	char		 *source;
	struct mc_origin  service_at;
	struct mc_origin  allow_at;
	struct mc_origin  path_at;
	struct mc_origin  path_exact_at;
	struct mc_origin  path_regex_at;
	struct mc_origin  method_at;
	struct mc_origin  source_at;
};

/* [route NAME]: where calls to a service go, by what they ask for; the
 * callers' sidecars apply them (meshd.conf(5) [route]). */
struct mc_route {
	char		 *name;
	struct mc_origin  at;
	size_t		  index;	/* in m->routes: derived */
	char		 *service;	/* the callee */
	char		 *path;
	char		 *path_exact;
	char		 *path_regex;
	char		 *method;
	struct mc_refs	  header;	/* "Name: value" */
	struct mc_refs	  header_regex;
	struct mc_refs	  header_present;
	struct mc_refs	  header_absent;
	char		 *to;		/* a subset */
	char		 *split;	/* "subset weight, ..." */
	char		 *direct_response;
	char		 *redirect;
	char		 *rewrite_prefix;
	char		 *mirror;	/* a subset, or else a service */
	unsigned	  mirror_percent;
	struct mc_refs	  add_header;
	struct mc_refs	  remove_header;
	/* Over the callee's policy, for this route's calls. */
	unsigned	  retries;
	struct msh_retry_on retry_on;
	uint64_t	  per_try_timeout;	/* ms, 0: off */
	uint64_t	  request_timeout;	/* ms, 0: off */
	int		  retry_non_idempotent;
	/* Faults the callers' sidecars inject, and their rate limit on
	 * the route's calls. */
	uint64_t	  fault_delay;		/* ms, 0: off */
	unsigned	  fault_delay_percent;	/* of MSH_PERCENT_ALL */
	unsigned	  fault_abort;		/* a status, 0: off */
	unsigned	  fault_abort_percent;
	struct msh_rate	  rate_limit;		/* n 0: off */
	unsigned	  rate_limit_burst;
	struct mc_origin  fault_delay_at;
	struct mc_origin  fault_delay_percent_at;
	struct mc_origin  fault_abort_at;
	struct mc_origin  fault_abort_percent_at;
	struct mc_origin  rate_limit_at;
	struct mc_origin  rate_limit_burst_at;
	struct mc_origin  retries_at;
	struct mc_origin  retry_on_at;
	struct mc_origin  per_try_timeout_at;
	struct mc_origin  request_timeout_at;
	struct mc_origin  retry_non_idempotent_at;
	struct mc_origin  service_at;
	struct mc_origin  path_at;
	struct mc_origin  path_exact_at;
	struct mc_origin  path_regex_at;
	struct mc_origin  method_at;
	struct mc_origin  to_at;
	struct mc_origin  split_at;
	struct mc_origin  direct_response_at;
	struct mc_origin  redirect_at;
	struct mc_origin  rewrite_prefix_at;
	struct mc_origin  mirror_at;
	struct mc_origin  mirror_percent_at;
};

/*
 * [edge NAME]: a listener of a service's sidecar for clients outside the
 * mesh (an ingress), named NAME in the compiled file: to the application,
 * as the inbound listener, under the same rules; TLS with a certificate
 * of its own when it has tls_cert, and others by SNI.
 */
struct mc_edge {
	char		 *name;
	struct mc_origin  at;
	char		 *service;
	struct msh_addr	  address;	/* without its port; default 0.0.0.0 */
	unsigned	  port;
	char		 *tls_cert;	/* as written: see mc_edge_path */
	char		 *tls_key;
	struct mc_refs	  tls_sni;	/* "HOST CERT KEY" */
	struct mc_origin  service_at;
	struct mc_origin  address_at;
	struct mc_origin  port_at;
	struct mc_origin  tls_cert_at;
	struct mc_origin  tls_key_at;
};

/* [policy NAME]: settings for calls, attached by name. */
struct mc_policy {
	char		 *name;
	struct mc_origin  at;		/* of the section header */
	struct mc_policy_set set;
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
	enum mc_mtls	  mtls;			/* its inbound listener */	\
	struct mc_origin  client_timeout_at;				\
	struct mc_origin  keepalive_timeout_at;				\
	struct mc_origin  idle_timeout_at;				\
	struct mc_origin  max_header_size_at;				\
	struct mc_origin  max_headers_at;				\
	struct mc_origin  buffer_size_at;				\
	struct mc_origin  mtls_at;

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
	int		  forwarded_for;	/* on its inbound listener */
	struct mc_refs	  policy;	/* policy = ..., in order */
	struct mc_refs	  subset;	/* "NAME key=value, ...", by labels */
	struct mc_policy_set set;	/* its own policy keys */
	MC_LISTEN_FIELDS
	struct mc_dep	 *deps;
	size_t		  ndeps;

	unsigned	  local_port;	/* where callers reach it: derived */
	/* The routes for calls to it, those of them that mirror to another
	 * service, the rules for calls to it and its edges, in the mesh's
	 * order: derived by mc_check, so that nothing has to look through
	 * every route, rule or edge of the mesh for them. */
	struct mc_route	**routes;
	size_t		  nroutes;
	struct mc_route	**mirrors;
	size_t		  nmirrors;
	struct mc_rule	**rules;
	size_t		  nrules;
	struct mc_edge	**edges;
	size_t		  nedges;
	/* What callers apply to it, and its own sidecar's cluster local
	 * the timeouts of: derived by mc_check (see mc_resolve_policies). */
	struct mc_policy_set eff;

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
	MC_LISTEN_FIELDS
	int		  via;			/* every listener */
	uint64_t	  drain_timeout;	/* ms */
	char		 *log_dir;
	char		 *trust_domain;	/* identities: spiffe://IT/service/NAME */
	char		 *tls_dir;	/* NAME.crt, NAME.key, ca.crt */
	char		 *tls_ciphers;	/* TLS 1.2, OpenSSL's form; NULL: meshd's */
	char		 *tls_groups;
	unsigned	  max_retry_amplification;	/* 0: off */
	struct mc_refs	  policy;	/* policy = ..., for every service */
	struct mc_policy_set set;	/* its policy keys, for every service */

	struct mc_origin  name_at;
	struct mc_origin  registry_at;
	struct mc_origin  admin_port_at;
	struct mc_origin  outbound_port_base_at;
	struct mc_origin  workers_at;
	struct mc_origin  via_at;
	struct mc_origin  drain_timeout_at;
	struct mc_origin  log_dir_at;
	struct mc_origin  trust_domain_at;
	struct mc_origin  tls_dir_at;
	struct mc_origin  tls_ciphers_at;
	struct mc_origin  tls_groups_at;
	struct mc_origin  max_retry_amplification_at;

	struct mc_service **services;	/* sorted by name after checks */
	size_t		  nservices;
	struct mc_policy **policies;	/* in the order defined */
	size_t		  npolicies;
	struct mc_rule	**rules;	/* in the order defined */
	size_t		  nrules;
	struct mc_route	**routes;	/* in the order defined */
	size_t		  nroutes;
	struct mc_edge	**edges;	/* in the order defined */
	size_t		  nedges;
	/* Each kind by name, for lookups in constant time. */
	struct msh_map	  service_names;
	struct msh_map	  policy_names;
	struct msh_map	  rule_names;
	struct msh_map	  route_names;
	struct msh_map	  edge_names;
};

/* mTLS: where a sidecar's certificates are (relative to its compiled
 * file), a service's identity, and whether a sidecar needs mTLS at all. */
const char *mc_tls_dir(const struct mc_mesh *m);
void	mc_identity(const struct mc_mesh *m, const char *service, char *buf,
	    size_t len);
int	mc_needs_tls(const struct mc_mesh *m, const struct mc_service *s);

/*
 * A certificate or key path of an edge as its compiled file has it, in
 * buf: a relative path is in the mesh's tls_dir, with the sidecar's own
 * certificates (meshc certs writes development ones there), an absolute
 * one stays. Returns buf.
 */
const char *mc_edge_path(const struct mc_mesh *m, const char *path,
	    char *buf, size_t len);

/* One tls_sni of an edge, "HOST CERT KEY", in its words. */
struct mc_sni {
	char	host[256];
	char	cert[256];
	char	key[256];
};

/* item into sni: -1 unless it is three words, each shorter than 256. */
int	mc_parse_sni(const char *item, struct mc_sni *sni);

/* sni as the edge's compiled file has it, its paths by mc_edge_path, in
 * buf. Returns buf. */
const char *mc_sni_line(const struct mc_mesh *m, const struct mc_sni *sni,
	    char *buf, size_t len);

/* A service's subsets: the labels of the one named (NULL: none such);
 * an item's name into name and its labels. */
const char *mc_find_subset(const struct mc_service *s, const char *name);
const char *mc_subset_labels(const char *item, char *name, size_t len);

/* Does route r send requests to its service's subset (by to or split)? */
int	mc_route_sends_to(const struct mc_route *r, const char *subset);

/* The service route r mirrors to, when its mirror names no subset of the
 * route's service but a service; NULL otherwise. */
const struct mc_service *mc_mirror_service(const struct mc_mesh *m,
	    const struct mc_route *r);

/* Does s list name among its dependencies? */
int	mc_depends_on(const struct mc_service *s, const char *name);

/* The services s's sidecar sends mirrored copies to (by routes of its
 * dependencies), each once, in the order of the routes: an array to free,
 * of *n of them. After mc_check. */
const struct mc_service **mc_mirror_services(const struct mc_mesh *m,
	    const struct mc_service *s, size_t *n);

/* meshc certs: a development CA in DIR (kept if there is one) and a
 * certificate for each service's identity. */
int	mc_certs(const struct mc_mesh *m, const char *dir, struct msh_diag *d);

/* e at the end of the list *list of *n entries, which grows by doubling:
 * a large mesh's lists are built in linear time. Out of memory exits. */
void	mc_append(void ***list, size_t *n, void *e);

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

/* Mesh-wide checks; assigns outbound ports, resolves policies. */
void	mc_check(struct mc_mesh *m, struct msh_diag *d);

/* The policy keys (policy.c), in the order meshd.conf is written. */
extern const struct mc_directive mc_policy_keys[];
extern const size_t mc_npolicy_keys;

/* The load balancers, the first the default. */
extern const struct mc_lb mc_lbs[];
extern const size_t mc_nlbs;

/* The balancer named value, or -1 and *err a phrase for the diagnostic
 * (with the closest name, if one is close). */
int	mc_parse_lb(const char *value, const struct mc_lb **lb,
	    const char **err);

/* meshd's own defaults for every policy key (meshd.conf(5)), origins
 * none. */
void	mc_policy_defaults(struct mc_policy_set *p);

/* The policy named name, or NULL. */
struct mc_policy *mc_find_policy(const struct mc_mesh *m, const char *name);

/*
 * Every service's effective policy, s->eff: meshd's defaults, then the
 * mesh's policies in the order attached, the keys [mesh] sets itself, the
 * service's policies, and the keys [service] sets, each later one
 * overriding key by key. An unknown policy is reported to d.
 */
void	mc_resolve_policies(struct mc_mesh *m, struct msh_diag *d);

/* What only resolved policies show: hash_key nothing goes by, retry
 * amplification along call chains, request_timeout budgets. After
 * mc_resolve_policies, with m->services sorted. */
void	mc_check_policies(struct mc_mesh *m, struct msh_diag *d);

/*
 * Key k of s->eff as meshd.conf writes it, in buf; NULL when the compiled
 * file leaves it out: hash_key for a balancer that goes by none; the
 * health keys but health_check when checks are off, health_status and
 * health_host also for tcp checks, and health_host when not set.
 */
const char *mc_policy_value(const struct mc_service *s,
	    const struct mc_directive *k, char *buf, size_t len);

/* A value of policy key k (at v, in a struct mc_policy_set) as meshd.conf
 * writes it, in buf, whatever the service: returns buf. */
const char *mc_policy_format(const struct mc_directive *k, const void *v,
	    char *buf, size_t len);

/* Longest value mc_policy_value writes: a health_host (policy.c checks
 * that the others are shorter). */
#define MC_POLICY_VALUE_STRLEN	(MSH_HOST_MAX + 1)

/* The origin of key k in set p. */
const struct mc_origin *mc_policy_origin(const struct mc_policy_set *p,
	    const struct mc_directive *k);

/* The hash_key callers' balancer for s goes by, as meshd.conf writes it
 * (tcp: source, whatever s says), in buf; NULL if its lb goes by none. */
const char *mc_hash_key_value(const struct mc_service *s, char *buf,
	    size_t len);

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

/* The service named name, or NULL. */
struct mc_service *mc_find_service(const struct mc_mesh *m, const char *name);

/* The index of the service named name in m->services once mc_check has
 * sorted them, by binary search; -1 if there is none. */
ssize_t	mc_service_index(const struct mc_mesh *m, const char *name);

/*
 * How a diagnostic about a place in file refers to origin o: "line 7" in
 * the same file, "mesh.d/orders.conf:7" in another. Returns buf.
 */
const char *mc_origin_ref(const struct mc_origin *o, const char *file,
	    char *buf, size_t len);

void	mc_free(struct mc_mesh *m);

#endif
