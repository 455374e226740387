#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <glob.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "http1-t.h"
#include "iniread.h"
#include "map.h"
#include "mesh.h"
#include "spell.h"

/* The keys of [mesh] and [service]; a policy key (policy.c) may stand in
 * either too, and in [policy NAME]. */
#define MESH_R(k, kind, f, lo, hi) \
	{ MC_SEC_MESH, k, kind, offsetof(struct mc_mesh, f), \
	    offsetof(struct mc_mesh, f##_at), lo, hi, 0 }
#define SERVICE_R(k, kind, f, lo, hi) \
	{ MC_SEC_SERVICE, k, kind, offsetof(struct mc_service, f), \
	    offsetof(struct mc_service, f##_at), lo, hi, 0 }
#define MESH(k, kind, f)	MESH_R(k, kind, f, 0, 0)
#define SERVICE(k, kind, f)	SERVICE_R(k, kind, f, 0, 0)
/* Keys of [mesh] a [service] may set for itself. */
#define RULE(k, kind, f) \
	{ MC_SEC_RULE, k, kind, offsetof(struct mc_rule, f), \
	    offsetof(struct mc_rule, f##_at), 0, 0, 0 }
#define ROUTE_R(k, kind, f, lo, hi) \
	{ MC_SEC_ROUTE, k, kind, offsetof(struct mc_route, f), \
	    offsetof(struct mc_route, f##_at), lo, hi, 0 }
#define ROUTE(k, kind, f)	ROUTE_R(k, kind, f, 0, 0)
#define ROUTE_LIST(k, f) \
	{ MC_SEC_ROUTE, k, MC_V_LINES, offsetof(struct mc_route, f), 0, 0, 0, \
	    0 }
#define EDGE(k, kind, f) \
	{ MC_SEC_EDGE, k, kind, offsetof(struct mc_edge, f), \
	    offsetof(struct mc_edge, f##_at), 0, 0, 0 }
#define EDGE_LIST(k, f) \
	{ MC_SEC_EDGE, k, MC_V_LINES, offsetof(struct mc_edge, f), 0, 0, 0, 0 }
#define BOTH(k, kind, f)	MESH(k, kind, f), SERVICE(k, kind, f)
#define BOTH_R(k, kind, f, lo, hi) \
	MESH_R(k, kind, f, lo, hi), SERVICE_R(k, kind, f, lo, hi)

static const struct mc_directive directives[] = {
	MESH("name", MC_V_NAME, name),
	MESH("registry", MC_V_STRING, registry),
	MESH("admin_port", MC_V_PORT, admin_port),
	MESH("outbound_port_base", MC_V_PORT, outbound_port_base),
	MESH("workers", MC_V_WORKERS, workers),
	BOTH("client_timeout", MC_V_DURATION, client_timeout),
	BOTH("keepalive_timeout", MC_V_DURATION, keepalive_timeout),
	BOTH("idle_timeout", MC_V_DURATION, idle_timeout),
	BOTH_R("max_header_size", MC_V_SIZE, max_header_size, 1024,
	    MSH_HTTP_HEAD_LIMIT),
	BOTH_R("max_headers", MC_V_COUNT, max_headers, 1,
	    MSH_HTTP_HEADERS_LIMIT),
	BOTH_R("buffer_size", MC_V_SIZE, buffer_size, 16384, 64 * 1024 * 1024),
	MESH("via", MC_V_FLAG, via),
	MESH("drain_timeout", MC_V_DURATION, drain_timeout),
	MESH("log_dir", MC_V_STRING, log_dir),
	MESH("trust_domain", MC_V_STRING, trust_domain),
	MESH("tls_dir", MC_V_STRING, tls_dir),
	MESH("tls_ciphers", MC_V_STRING, tls_ciphers),
	MESH("tls_groups", MC_V_STRING, tls_groups),
	BOTH("mtls", MC_V_MTLS, mtls),
	MESH_R("max_retry_amplification", MC_V_LIMIT, max_retry_amplification,
	    1, 1000000),
	{ MC_SEC_MESH, "policy", MC_V_POLICIES,
	    offsetof(struct mc_mesh, policy), 0, 0, 0, 0 },
	SERVICE("protocol", MC_V_PROTOCOL, protocol),
	SERVICE("app_address", MC_V_IP, app_address),
	SERVICE("app_port", MC_V_PORT, app_port),
	SERVICE("inbound_port", MC_V_PORT, inbound_port),
	SERVICE("outbound_port", MC_V_PORT, outbound_port),
	SERVICE("forwarded_for", MC_V_FLAG, forwarded_for),
	{ MC_SEC_SERVICE, "depends", MC_V_DEPS,
	    offsetof(struct mc_service, deps), 0, 0, 0, 0 },
	{ MC_SEC_SERVICE, "policy", MC_V_POLICIES,
	    offsetof(struct mc_service, policy), 0, 0, 0, 0 },
	RULE("service", MC_V_NAME, service),
	{ MC_SEC_RULE, "callers", MC_V_POLICIES,
	    offsetof(struct mc_rule, callers), 0, 0, 0, 0 },
	{ MC_SEC_RULE, "action", MC_V_ACTION, offsetof(struct mc_rule, allow),
	    offsetof(struct mc_rule, allow_at), 0, 0, 0 },
	RULE("path", MC_V_STRING, path),
	RULE("path_exact", MC_V_STRING, path_exact),
	RULE("path_regex", MC_V_STRING, path_regex),
	RULE("method", MC_V_STRING, method),
	RULE("source", MC_V_STRING, source),
	{ MC_SEC_SERVICE, "subset", MC_V_LINES,
	    offsetof(struct mc_service, subset), 0, 0, 0, 0 },
	ROUTE("service", MC_V_NAME, service),
	ROUTE("path", MC_V_STRING, path),
	ROUTE("path_exact", MC_V_STRING, path_exact),
	ROUTE("path_regex", MC_V_STRING, path_regex),
	ROUTE("method", MC_V_STRING, method),
	ROUTE_LIST("header", header),
	ROUTE_LIST("header_regex", header_regex),
	ROUTE_LIST("header_present", header_present),
	ROUTE_LIST("header_absent", header_absent),
	ROUTE("to", MC_V_NAME, to),
	ROUTE("split", MC_V_STRING, split),
	ROUTE("direct_response", MC_V_STRING, direct_response),
	ROUTE("redirect", MC_V_STRING, redirect),
	ROUTE("rewrite_prefix", MC_V_STRING, rewrite_prefix),
	ROUTE("mirror", MC_V_NAME, mirror),
	ROUTE_R("mirror_percent", MC_V_COUNT, mirror_percent, 0, 100),
	ROUTE_LIST("add_header", add_header),
	ROUTE_LIST("remove_header", remove_header),
	ROUTE_R("retries", MC_V_COUNT, retries, 0, 10),
	ROUTE("retry_on", MC_V_RETRY_ON, retry_on),
	ROUTE("per_try_timeout", MC_V_DURATION_OFF, per_try_timeout),
	ROUTE("request_timeout", MC_V_DURATION_OFF, request_timeout),
	ROUTE("retry_non_idempotent", MC_V_FLAG, retry_non_idempotent),
	ROUTE("fault_delay", MC_V_DURATION_OFF, fault_delay),
	ROUTE("fault_delay_percent", MC_V_PERCENT, fault_delay_percent),
	ROUTE_R("fault_abort", MC_V_LIMIT, fault_abort, 400, 599),
	ROUTE("fault_abort_percent", MC_V_PERCENT, fault_abort_percent),
	ROUTE("rate_limit", MC_V_RATE, rate_limit),
	ROUTE_R("rate_limit_burst", MC_V_COUNT, rate_limit_burst, 1,
	    MSH_RATE_MAX),
	EDGE("service", MC_V_NAME, service),
	EDGE("address", MC_V_IP, address),
	EDGE("port", MC_V_PORT, port),
	EDGE("tls_cert", MC_V_STRING, tls_cert),
	EDGE("tls_key", MC_V_STRING, tls_key),
	EDGE_LIST("tls_sni", tls_sni),
};

#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))

static const char *const section_names[] = {
	"mesh", "service", "policy", "rule", "route", "edge",
};

/* Includes nest at most this deep: a guard against includes that reach
 * ever new files (a loop is caught at once). */
#define MC_INCLUDE_DEPTH	16

/*
 * One per file being read. An included file gets its own, so it starts
 * outside any section and leaves the includer's section as it was.
 */
struct parse_ctx {
	struct mc_mesh		*mesh;
	struct msh_diag		*diag;
	EVP_MD_CTX		*digest;	/* of every file, as read */
	const struct parse_ctx	*parent;	/* the includer, NULL: none */
	unsigned		 flags;		/* MC_PARSE_* */
	unsigned		 depth;		/* includers above */
	const char		*file;	/* being read, one of m->files */
	dev_t			 dev;	/* and what it is: include loops */
	ino_t			 ino;
	enum mc_section		 section;
	struct mc_service	*service;
	void			*entry;	/* of [policy], [rule], [route], [edge] */
	int			 skip;	/* in a bad section: say nothing more */
	struct mc_origin	 at;	/* of the value being read */
	struct mc_refs		*refs;	/* the list it goes to */
};

static void		 include(struct parse_ctx *, const char *, unsigned);
static const char	*add_file(struct mc_mesh *, const char *);

struct mc_service *
mc_find_service(const struct mc_mesh *m, const char *name)
{
	return msh_map_find(&m->service_names, name, strlen(name));
}

void
mc_append(void ***list, size_t *n, void *e)
{
	void **grown;

	/* Room for twice as many each time n reaches a power of two. */
	if ((*n & (*n - 1)) == 0) {
		if ((grown = realloc(*list, (*n ? 2 * *n : 1) *
		    sizeof(*grown))) == NULL) {
			perror("meshc");
			exit(2);
		}
		*list = grown;
	}
	(*list)[(*n)++] = e;
}

const char *
mc_origin_ref(const struct mc_origin *o, const char *file, char *buf,
    size_t len)
{
	if (o->file == NULL || strcmp(o->file, file) == 0)
		snprintf(buf, len, "line %u", o->line);
	else
		snprintf(buf, len, "%s:%u", o->file, o->line);
	return buf;
}

static void
begin_service(struct parse_ctx *c, const char *name, unsigned line)
{
	struct mc_mesh *m = c->mesh;
	struct mc_service *s;
	const char *err;
	char ref[4096];

	if (msh_check_name(name, &err) != 0) {
		msh_diag_error(c->diag, "bad-name", c->file, line,
		    "bad service name \"%s\": %s", name, err);
		c->skip = 1;
		return;
	}
	if (strcmp(name, "inbound") == 0 || strcmp(name, "local") == 0) {
		msh_diag_error(c->diag, "bad-name", c->file, line,
		    "service name \"%s\" is reserved", name);
		c->skip = 1;
		return;
	}
	if ((s = mc_find_service(m, name)) != NULL) {
		msh_diag_error(c->diag, "duplicate", c->file, line,
		    "service \"%s\" is defined twice (first at %s)", name,
		    mc_origin_ref(&s->at, c->file, ref, sizeof(ref)));
		c->skip = 1;
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->name = strdup(name)) == NULL) {
		perror("meshc");
		exit(2);
	}
	mc_append((void ***)&m->services, &m->nservices, s);
	msh_map_add(&m->service_names, s->name, strlen(s->name), s);
	s->at = (struct mc_origin){ c->file, line };
	s->protocol = MC_HTTP;
	msh_parse_ip("127.0.0.1", &s->app_address, &err);
	c->service = s;
}

/* What [policy], [rule], [route] and [edge] entries start with. */
struct named {
	char		 *name;
	struct mc_origin  at;
};

/*
 * A new entry of size bytes for [kind NAME], added to *list (n of them)
 * and to names: NULL, said, if the name is bad or taken.
 */
static void *
begin_named(struct parse_ctx *c, const char *kind, const char *name,
    unsigned line, void ***list, size_t *n, struct msh_map *names,
    size_t size)
{
	struct named *e;
	const char *err;
	char ref[4096];

	if (msh_check_name(name, &err) != 0) {
		msh_diag_error(c->diag, "bad-name", c->file, line,
		    "bad %s name \"%s\": %s", kind, name, err);
		c->skip = 1;
		return NULL;
	}
	if ((e = msh_map_find(names, name, strlen(name))) != NULL) {
		msh_diag_error(c->diag, "duplicate", c->file, line,
		    "%s \"%s\" is defined twice (first at %s)", kind, name,
		    mc_origin_ref(&e->at, c->file, ref, sizeof(ref)));
		c->skip = 1;
		return NULL;
	}
	if ((e = calloc(1, size)) == NULL || (e->name = strdup(name)) == NULL) {
		perror("meshc");
		exit(2);
	}
	mc_append(list, n, e);
	msh_map_add(names, e->name, strlen(e->name), e);
	e->at = (struct mc_origin){ c->file, line };
	return e;
}

/* The sections whose entries have a name of their own space: where the
 * mesh keeps them, and its table of them by name. */
static const struct {
	const char	*kind;
	enum mc_section	 section;
	size_t		 list;		/* in struct mc_mesh */
	size_t		 n;
	size_t		 names;
	size_t		 size;		/* of an entry */
} named_sections[] = {
	{ "policy", MC_SEC_POLICY, offsetof(struct mc_mesh, policies),
	    offsetof(struct mc_mesh, npolicies),
	    offsetof(struct mc_mesh, policy_names), sizeof(struct mc_policy) },
	{ "rule", MC_SEC_RULE, offsetof(struct mc_mesh, rules),
	    offsetof(struct mc_mesh, nrules),
	    offsetof(struct mc_mesh, rule_names), sizeof(struct mc_rule) },
	{ "route", MC_SEC_ROUTE, offsetof(struct mc_mesh, routes),
	    offsetof(struct mc_mesh, nroutes),
	    offsetof(struct mc_mesh, route_names), sizeof(struct mc_route) },
	{ "edge", MC_SEC_EDGE, offsetof(struct mc_mesh, edges),
	    offsetof(struct mc_mesh, nedges),
	    offsetof(struct mc_mesh, edge_names), sizeof(struct mc_edge) },
};

static void
begin_section(struct parse_ctx *c, const char *section, unsigned line)
{
	struct mc_mesh *m = c->mesh;
	const char *suggest, *arg;
	char kind[64], ref[4096];
	size_t i;

	c->skip = 0;
	c->service = NULL;
	c->entry = NULL;
	arg = msh_ini_section_name(section, kind, sizeof(kind));
	if (strcmp(kind, "mesh") == 0) {
		c->section = MC_SEC_MESH;
		if (*arg != '\0') {
			msh_diag_error(c->diag, "bad-section", c->file, line,
			    "[mesh] takes no name");
			c->skip = 1;
		} else if (m->at.line != 0) {
			msh_diag_error(c->diag, "duplicate", c->file, line,
			    "[mesh] appears twice (first at %s)",
			    mc_origin_ref(&m->at, c->file, ref, sizeof(ref)));
			c->skip = 1;
		} else
			m->at = (struct mc_origin){ c->file, line };
		return;
	}
	if (strcmp(kind, "service") == 0) {
		c->section = MC_SEC_SERVICE;
		if (*arg == '\0') {
			msh_diag_error(c->diag, "bad-section", c->file, line,
			    "[service] needs a name: [service NAME]");
			c->skip = 1;
		} else
			begin_service(c, arg, line);
		return;
	}
	for (i = 0; i < sizeof(named_sections) / sizeof(named_sections[0]);
	    i++) {
		if (strcmp(kind, named_sections[i].kind) != 0)
			continue;
		c->section = named_sections[i].section;
		if (*arg == '\0') {
			msh_diag_error(c->diag, "bad-section", c->file, line,
			    "[%s] needs a name: [%s NAME]", kind, kind);
			c->skip = 1;
		} else if (c->section == MC_SEC_EDGE &&
		    strcmp(arg, "inbound") == 0) {
			/* An edge is a listener of its service's sidecar. */
			msh_diag_error(c->diag, "bad-name", c->file, line,
			    "edge name \"%s\" is reserved", arg);
			c->skip = 1;
		} else
			c->entry = begin_named(c, kind, arg, line,
			    (void ***)((char *)m + named_sections[i].list),
			    (size_t *)((char *)m + named_sections[i].n),
			    (struct msh_map *)((char *)m +
			    named_sections[i].names), named_sections[i].size);
		return;
	}
	suggest = msh_spell_suggest(kind, section_names,
	    sizeof(section_names) / sizeof(section_names[0]));
	if (suggest != NULL)
		msh_diag_error(c->diag, "unknown-section", c->file, line,
		    "unknown section [%s]; did you mean [%s%s%s]?", section,
		    suggest, *arg ? " " : "", arg);
	else
		msh_diag_error(c->diag, "unknown-section", c->file, line,
		    "unknown section [%s]", section);
	c->skip = 1;
}

static int
add_dep(void *arg, const char *name)
{
	struct parse_ctx *c = arg;
	struct mc_service *s = c->service;
	struct mc_dep *grown;

	grown = realloc(s->deps, (s->ndeps + 1) * sizeof(*grown));
	if (grown == NULL) {
		perror("meshc");
		exit(2);
	}
	s->deps = grown;
	s->deps[s->ndeps].name = strdup(name);
	s->deps[s->ndeps].at = c->at;
	s->ndeps++;
	return 0;
}

/* policy = NAME, ...: names appended to the list at c->refs. */
static int
add_ref(void *arg, const char *name)
{
	struct parse_ctx *c = arg;
	struct mc_refs *refs = c->refs;
	struct mc_ref *grown;

	grown = realloc(refs->v, (refs->n + 1) * sizeof(*grown));
	if (grown == NULL || (grown[refs->n].name = strdup(name)) == NULL) {
		perror("meshc");
		exit(2);
	}
	refs->v = grown;
	refs->v[refs->n++].at = c->at;
	return 0;
}

/* [mesh], [service] and [policy] take every policy key, the others
 * only their own. */
static int
takes_policy_keys(enum mc_section section)
{
	return section == MC_SEC_MESH || section == MC_SEC_SERVICE ||
	    section == MC_SEC_POLICY;
}

static void
unknown_key(struct parse_ctx *c, const char *section, const char *key,
    unsigned line)
{
	const char *cand[NDIRECTIVES + 64], *suggest;
	size_t i, n = 0;

	for (i = 0; i < NDIRECTIVES; i++)
		if (directives[i].section == c->section)
			cand[n++] = directives[i].key;
	for (i = 0; takes_policy_keys(c->section) &&
	    i < mc_npolicy_keys && n < NDIRECTIVES + 63; i++)
		cand[n++] = mc_policy_keys[i].key;
	cand[n++] = "include";
	suggest = msh_spell_suggest(key, cand, n);
	if (suggest != NULL)
		msh_diag_error(c->diag, "unknown-key", c->file, line,
		    "unknown key \"%s\" in [%s]; did you mean \"%s\"?", key,
		    section, suggest);
	else
		msh_diag_error(c->diag, "unknown-key", c->file, line,
		    "unknown key \"%s\" in [%s]", key, section);
}

/* The struct dir's value goes in: a policy key goes in the policy keys
 * of the section being read. */
static char *
target(struct parse_ctx *c, const struct mc_directive *dir)
{
	switch (dir->section) {
	case MC_SEC_MESH:
		return (char *)c->mesh;
	case MC_SEC_SERVICE:
		return (char *)c->service;
	case MC_SEC_RULE:
	case MC_SEC_ROUTE:
	case MC_SEC_EDGE:
		return c->entry;
	case MC_SEC_POLICY:
		break;
	}
	if (c->section == MC_SEC_MESH)
		return (char *)&c->mesh->set;
	if (c->section == MC_SEC_SERVICE)
		return (char *)&c->service->set;
	return (char *)&((struct mc_policy *)c->entry)->set;
}

/*
 * A policy key goes into compiled files as "key = value", which meshd
 * reads as a line of MSH_INI_MAX_LINE bytes at most: a long health_check
 * path or health_host that mesh.conf took (written without the blanks,
 * say) must not make a file meshd refuses. NULL if it fits.
 */
static const char *
fits_line(const struct mc_directive *dir, const void *field)
{
	static char why[96];
	char v[MC_POLICY_VALUE_STRLEN];
	size_t n;

	n = strlen(dir->key) + strlen(" = ") +
	    strlen(mc_policy_format(dir, field, v, sizeof(v)));
	if (n <= MSH_INI_MAX_LINE)
		return NULL;
	snprintf(why, sizeof(why), "meshd.conf would have it on a line of %zu "
	    "bytes, at most %d are allowed", n, MSH_INI_MAX_LINE);
	return why;
}

static void
set_value(struct parse_ctx *c, const struct mc_directive *dir,
    const char *section, const char *value, unsigned line)
{
	char *base = target(c, dir);
	void *field = base + dir->offset;
	struct mc_origin *seen = (struct mc_origin *)(base + dir->at_offset);
	const char *err = NULL;
	unsigned long ul;
	char ref[4096];

	if (dir->at_offset != 0 && seen->line != 0) {
		msh_diag_error(c->diag, "duplicate", c->file, line,
		    "\"%s\" is set twice in [%s] (first at %s)", dir->key,
		    section, mc_origin_ref(seen, c->file, ref, sizeof(ref)));
		return;
	}
	switch (dir->kind) {
	case MC_V_NAME:
		if (msh_check_name(value, &err) != 0)
			break;
		/* FALLTHROUGH */
	case MC_V_STRING:
		if (value[0] == '\0') {
			err = "expected a value";
			break;
		}
		free(*(char **)field);
		*(char **)field = strdup(value);
		break;
	case MC_V_PORT:
		msh_parse_port(value, (unsigned *)field, &err);
		break;
	case MC_V_WORKERS:
		if (msh_parse_uint(value, 0, 64, &ul, &err) == 0)
			*(unsigned *)field = ul;
		break;
	case MC_V_ACTION:
		if (strcmp(value, "allow") == 0 || strcmp(value, "deny") == 0)
			*(int *)field = value[0] == 'a';
		else
			err = "expected allow or deny";
		break;
	case MC_V_MTLS:
		if (strcmp(value, "strict") == 0)
			*(enum mc_mtls *)field = MC_MTLS_STRICT;
		else if (strcmp(value, "permissive") == 0)
			*(enum mc_mtls *)field = MC_MTLS_PERMISSIVE;
		else if (strcmp(value, "off") == 0)
			*(enum mc_mtls *)field = MC_MTLS_OFF;
		else
			err = "expected strict, permissive or off";
		break;
	case MC_V_PROTOCOL:
		if (strcmp(value, "http") == 0)
			*(enum mc_protocol *)field = MC_HTTP;
		else if (strcmp(value, "tcp") == 0)
			*(enum mc_protocol *)field = MC_TCP;
		else if (strcmp(value, "grpc") == 0)
			err = "grpc is reserved for HTTP/2, which meshd does "
			    "not speak yet; gRPC over HTTP/1.1 does not exist: "
			    "use tcp to carry it";
		else
			err = "expected http or tcp";
		break;
	case MC_V_IP:
		msh_parse_ip(value, (struct msh_addr *)field, &err);
		break;
	case MC_V_FLAG:
		msh_parse_flag(value, (int *)field, &err);
		break;
	case MC_V_DURATION:
	case MC_V_DURATION_OFF:
		msh_parse_timeout(value, dir->kind == MC_V_DURATION_OFF,
		    (uint64_t *)field, &err);
		break;
	case MC_V_SIZE:
		msh_parse_size(value, dir->min, dir->max, (uint64_t *)field,
		    &err);
		break;
	case MC_V_COUNT:
		if (msh_parse_uint(value, dir->min, dir->max, &ul, &err) == 0)
			*(unsigned *)field = ul;
		break;
	case MC_V_LIMIT:
		msh_parse_limit(value, dir->min, dir->max, (unsigned *)field,
		    &err);
		break;
	case MC_V_RETRY_ON:
		msh_parse_retry_on(value, (struct msh_retry_on *)field, &err);
		break;
	case MC_V_LB:
		mc_parse_lb(value, (const struct mc_lb **)field, &err);
		break;
	case MC_V_HASH_KEY:
		msh_parse_hash_key(value, (struct msh_hash_key *)field, &err);
		break;
	case MC_V_HEALTH_CHECK:
		msh_parse_health_check(value, (struct msh_health_check *)field,
		    &err);
		break;
	case MC_V_STATUS_LIST:
		msh_parse_status_list(value, (struct msh_status_list *)field,
		    &err);
		break;
	case MC_V_HOST:
		msh_parse_host(value, (char *)field, &err);
		break;
	case MC_V_PERCENT:
		msh_parse_percent(value, (unsigned *)field, &err);
		break;
	case MC_V_RATE:
		msh_parse_rate(value, (struct msh_rate *)field, &err);
		break;
	case MC_V_DEPS:
		c->at = (struct mc_origin){ c->file, line };
		msh_split_list(value, add_dep, c);
		return;
	case MC_V_POLICIES:
		c->at = (struct mc_origin){ c->file, line };
		c->refs = (struct mc_refs *)field;
		msh_split_list(value, add_ref, c);
		return;
	case MC_V_LINES:
		if (value[0] == '\0') {
			err = "expected a value";
			break;
		}
		c->at = (struct mc_origin){ c->file, line };
		c->refs = (struct mc_refs *)field;
		add_ref(c, value);
		return;
	}
	if (err == NULL && dir->section == MC_SEC_POLICY)
		err = fits_line(dir, field);
	if (err != NULL) {
		msh_diag_error(c->diag, "bad-value", c->file, line,
		    "bad value \"%s\" for \"%s\": %s", value, dir->key, err);
		return;
	}
	if (dir->at_offset != 0)
		*seen = (struct mc_origin){ c->file, line };
}

static void
on_value(void *user, const char *section, const char *key, const char *value,
    unsigned line)
{
	struct parse_ctx *c = user;
	size_t i;

	if (key == NULL) {
		begin_section(c, section, line);
		return;
	}
	/* Not a key of the section: read where it stands, in any section
	 * or none, and the section goes on after it. */
	if (strcmp(key, "include") == 0) {
		include(c, value, line);
		return;
	}
	if (section[0] == '\0') {
		msh_diag_error(c->diag, "bad-section", c->file, line,
		    "\"%s\" is outside any section%s", key, c->parent == NULL ?
		    "" : " (an included file starts with its own section)");
		return;
	}
	if (c->skip)
		return;
	for (i = 0; i < NDIRECTIVES; i++) {
		if (directives[i].section == c->section &&
		    strcmp(directives[i].key, key) == 0) {
			set_value(c, &directives[i], section, value, line);
			return;
		}
	}
	for (i = 0; takes_policy_keys(c->section) && i < mc_npolicy_keys;
	    i++) {
		if (strcmp(mc_policy_keys[i].key, key) == 0) {
			set_value(c, &mc_policy_keys[i], section, value, line);
			return;
		}
	}
	unknown_key(c, section, key, line);
}

/*
 * The whole of file in *buf (free it), and its device and inode in *st.
 * On failure returns -1 with errno set and *what saying which step failed.
 */
static int
read_whole(const char *file, char **buf, size_t *len, struct stat *st,
    const char **what)
{
	FILE *fp;
	size_t cap = 0, n;
	int err;

	*buf = NULL;
	*len = 0;
	*what = "cannot open";
	if ((fp = fopen(file, "r")) == NULL)
		return -1;
	*what = "cannot read";
	if (fstat(fileno(fp), st) != 0)
		goto fail;
	do {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((*buf = realloc(*buf, cap)) == NULL) {
				perror("meshc");
				exit(2);
			}
		}
		n = fread(*buf + *len, 1, cap - *len, fp);
		*len += n;
	} while (n > 0);
	if (ferror(fp))
		goto fail;
	fclose(fp);
	return 0;
fail:
	err = errno;
	fclose(fp);
	free(*buf);
	*buf = NULL;
	errno = err;
	return -1;
}

/* Read a file's text into the mesh: its bytes go into the digest in the
 * order files are read, its lines through the INI reader. */
static int
parse_file(struct parse_ctx *c, const char *buf, size_t len)
{
	EVP_DigestUpdate(c->digest, buf, len);
	return msh_ini_parse_buffer(c->file, buf, len, on_value, c, c->diag);
}

/* "include loop: mesh.conf -> mesh.d/a.conf -> mesh.conf", from the file
 * given to meshc down to c, which includes again the file of `again`. */
static void
include_loop(const struct parse_ctx *c, const struct parse_ctx *again,
    unsigned line)
{
	const struct parse_ctx *p;
	const char **chain;
	char text[1024];
	size_t n = 0, used = 0;

	if ((chain = calloc(c->depth + 1, sizeof(*chain))) == NULL)
		abort();
	for (p = c; p != NULL; p = p->parent)
		chain[n++] = p->file;
	while (n > 0 && used < sizeof(text))
		used += snprintf(text + used, sizeof(text) - used, "%s -> ",
		    chain[--n]);
	if (used < sizeof(text))
		snprintf(text + used, sizeof(text) - used, "%s", again->file);
	msh_diag_error(c->diag, "include", c->file, line, "include loop: %s",
	    text);
	free(chain);
}

static void
include_file(struct parse_ctx *c, const char *path, unsigned line)
{
	const struct parse_ctx *p;
	struct parse_ctx sub;
	struct stat st;
	const char *what;
	char *buf;
	size_t len;

	if (read_whole(path, &buf, &len, &st, &what) != 0) {
		msh_diag_error(c->diag, "include", c->file, line,
		    "%s included file \"%s\": %s", what, path, strerror(errno));
		return;
	}
	for (p = c; p != NULL; p = p->parent) {
		if (p->dev == st.st_dev && p->ino == st.st_ino) {
			include_loop(c, p, line);
			free(buf);
			return;
		}
	}
	/* A file of its own: it starts outside any section, and c's section
	 * is untouched when it ends. */
	sub = (struct parse_ctx){
		.mesh = c->mesh, .diag = c->diag, .digest = c->digest,
		.parent = c, .depth = c->depth + 1, .flags = c->flags,
		.file = add_file(c->mesh, path),
		.dev = st.st_dev, .ino = st.st_ino,
	};
	parse_file(&sub, buf, len);
	free(buf);
}

/* glob(3)'s error callback takes no argument: the one glob running
 * leaves its first real error here. A missing directory is no error. */
static struct {
	int	 err;
	char	 path[4096];
} glob_failure;

static int
on_glob_error(const char *path, int err)
{
	if (err == ENOENT || err == ENOTDIR)
		return 0;
	glob_failure.err = err;
	snprintf(glob_failure.path, sizeof(glob_failure.path), "%s", path);
	return 1;
}

static int
by_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * include = PATTERN, at line of c's file: PATTERN relative to the file's
 * directory; with a wildcard, every match in byte order (none is fine),
 * without one, a file that must exist.
 */
static void
include(struct parse_ctx *c, const char *pattern, unsigned line)
{
	const char *slash = strrchr(c->file, '/');
	size_t dirlen, i;
	char *path, *p;
	glob_t g;
	int r;

	/* Before anything touches the file system: bytes from anywhere
	 * (the fuzz target) must not make meshc read files. */
	if (c->flags & MC_PARSE_NO_INCLUDE) {
		msh_diag_error(c->diag, "include", c->file, line,
		    "include is not allowed here");
		return;
	}
	if (pattern[0] == '\0') {
		msh_diag_error(c->diag, "include", c->file, line,
		    "include needs a file name or a pattern");
		return;
	}
	if (c->depth >= MC_INCLUDE_DEPTH) {
		msh_diag_error(c->diag, "include", c->file, line,
		    "includes nest more than %d deep", MC_INCLUDE_DEPTH);
		return;
	}
	dirlen = pattern[0] != '/' && slash != NULL ? slash - c->file + 1 : 0;
	/* Room for the directory with each character escaped. */
	if ((path = malloc(2 * dirlen + strlen(pattern) + 1)) == NULL) {
		perror("meshc");
		exit(2);
	}
	if (strpbrk(pattern, "*?[") == NULL) {
		memcpy(path, c->file, dirlen);
		strcpy(path + dirlen, pattern);
		include_file(c, path, line);
		free(path);
		return;
	}
	/* The directory is taken literally, whatever characters it has. */
	for (p = path, i = 0; i < dirlen; i++) {
		if (strchr("*?[\\", c->file[i]) != NULL)
			*p++ = '\\';
		*p++ = c->file[i];
	}
	strcpy(p, pattern);
	glob_failure.err = 0;
	r = glob(path, GLOB_NOSORT, on_glob_error, &g);
	free(path);
	if (r == GLOB_NOSPACE) {
		fputs("meshc: out of memory\n", stderr);
		exit(2);
	}
	if (r == GLOB_ABORTED) {
		msh_diag_error(c->diag, "include", c->file, line,
		    "cannot read directory \"%s\": %s", glob_failure.path,
		    strerror(glob_failure.err));
	} else if (r == 0) {
		/* Byte order, whatever the locale: the same mesh on every
		 * machine. */
		qsort(g.gl_pathv, g.gl_pathc, sizeof(*g.gl_pathv), by_path);
		for (i = 0; i < g.gl_pathc; i++)
			include_file(c, g.gl_pathv[i], line);
	}
	if (r != GLOB_NOMATCH)
		globfree(&g);
}

/* The mesh keeps the name of every file it reads, for the origins of its
 * values. */
static const char *
add_file(struct mc_mesh *m, const char *name)
{
	char **grown;

	grown = realloc(m->files, (m->nfiles + 1) * sizeof(*grown));
	if (grown == NULL || (grown[m->nfiles] = strdup(name)) == NULL) {
		perror("meshc");
		exit(2);
	}
	m->files = grown;
	return m->files[m->nfiles++];
}

/* An empty mesh with the defaults every key starts from, and file, the
 * one given, as its first file. */
static void
init_mesh(struct mc_mesh *m, const char *file)
{
	memset(m, 0, sizeof(*m));
	add_file(m, file);
	m->admin_port = 15000;
	m->outbound_port_base = 15001;
	m->workers = 1;
	m->max_retry_amplification = 10;
	/* meshd's own defaults (meshd.conf(5)), written out in full; the
	 * policy keys' are in policy.c. */
	m->client_timeout = 60000;
	m->keepalive_timeout = 60000;
	m->idle_timeout = 3600000;
	m->max_header_size = 16384;
	m->max_headers = 100;
	m->buffer_size = 256 * 1024;
	m->drain_timeout = 30000;
}

/* The text of the mesh's first file, and through it every file it
 * includes; st: what the first file is, NULL for a buffer that is none. */
static int
parse_top(struct mc_mesh *m, const char *buf, size_t len,
    const struct stat *st, unsigned flags, struct msh_diag *d)
{
	struct parse_ctx c = {
		.mesh = m, .diag = d, .flags = flags, .file = m->files[0],
	};
	int r;

	if (st != NULL) {
		c.dev = st->st_dev;
		c.ino = st->st_ino;
	}
	if ((c.digest = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(c.digest, EVP_sha256(), NULL) != 1) {
		fputs("meshc: cannot set up SHA-256\n", stderr);
		exit(2);
	}
	r = parse_file(&c, buf, len);
	EVP_DigestFinal_ex(c.digest, m->digest, NULL);
	EVP_MD_CTX_free(c.digest);
	return r;
}

int
mc_parse_buffer(struct mc_mesh *m, const char *file, const char *buf,
    size_t len, unsigned flags, struct msh_diag *d)
{
	init_mesh(m, file);
	return parse_top(m, buf, len, NULL, flags, d);
}

int
mc_parse(struct mc_mesh *m, const char *file, struct msh_diag *d)
{
	struct stat st;
	const char *what;
	char *buf;
	size_t len;
	int r;

	init_mesh(m, file);
	if (read_whole(file, &buf, &len, &st, &what) != 0) {
		msh_diag_error(d, "io", m->files[0], 0, "%s: %s", what,
		    strerror(errno));
		return -1;
	}
	r = parse_top(m, buf, len, &st, 0, d);
	free(buf);
	return r;
}

static void
free_refs(struct mc_refs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->v[i].name);
	free(r->v);
}

void
mc_free(struct mc_mesh *m)
{
	size_t i, j;

	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];

		for (j = 0; j < s->ndeps; j++)
			free(s->deps[j].name);
		free(s->deps);
		free_refs(&s->policy);
		free_refs(&s->subset);
		free(s->routes);
		free(s->mirrors);
		free(s->rules);
		free(s->edges);
		free(s->name);
		free(s);
	}
	free(m->services);
	msh_map_free(&m->service_names);
	msh_map_free(&m->policy_names);
	msh_map_free(&m->rule_names);
	msh_map_free(&m->route_names);
	msh_map_free(&m->edge_names);
	for (i = 0; i < m->npolicies; i++) {
		free(m->policies[i]->name);
		free(m->policies[i]);
	}
	free(m->policies);
	for (i = 0; i < m->nrules; i++) {
		struct mc_rule *r = m->rules[i];

		for (j = 0; j < r->callers.n; j++)
			free(r->callers.v[j].name);
		free(r->callers.v);
		free(r->name);
		free(r->service);
		free(r->path);
		free(r->path_exact);
		free(r->path_regex);
		free(r->method);
		free(r->source);
		free(r);
	}
	free(m->rules);
	for (i = 0; i < m->nroutes; i++) {
		struct mc_route *r = m->routes[i];

		free_refs(&r->header);
		free_refs(&r->header_regex);
		free_refs(&r->header_present);
		free_refs(&r->header_absent);
		free_refs(&r->add_header);
		free_refs(&r->remove_header);
		free(r->name);
		free(r->service);
		free(r->path);
		free(r->path_exact);
		free(r->path_regex);
		free(r->method);
		free(r->to);
		free(r->split);
		free(r->direct_response);
		free(r->redirect);
		free(r->rewrite_prefix);
		free(r->mirror);
		free(r);
	}
	free(m->routes);
	for (i = 0; i < m->nedges; i++) {
		struct mc_edge *e = m->edges[i];

		free_refs(&e->tls_sni);
		free(e->name);
		free(e->service);
		free(e->tls_cert);
		free(e->tls_key);
		free(e);
	}
	free(m->edges);
	free_refs(&m->policy);
	for (i = 0; i < m->nfiles; i++)
		free(m->files[i]);
	free(m->files);
	free(m->name);
	free(m->registry);
	free(m->log_dir);
	free(m->trust_domain);
	free(m->tls_dir);
	free(m->tls_ciphers);
	free(m->tls_groups);
}
