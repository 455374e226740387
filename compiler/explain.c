/*
 * meshc explain: a service's effective settings and where each came from,
 * as git config --show-origin shows a key's file. One line per setting,
 *
 *	ORIGIN<TAB>KEY = VALUE
 *
 * ORIGIN is FILE:LINE, "default" for a built-in default or "assigned"
 * for an outbound port meshc chose. The keys are those of mesh.conf(5):
 * the [mesh] keys its sidecar gets, then its [service] keys and its
 * effective policy (a key from a policy has the origin of its line in
 * [policy NAME]), its edges' keys as edge.NAME.KEY, then, as
 * DEPENDENCY.KEY, what its compiled file takes from each dependency.
 * Values are written as the compiled file writes them. The order is fixed
 * and documented in meshc(1): scripts may read it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh.h"
#include "spell.h"

/* Long enough for any value but a path, which is printed as it is. */
#define VALUE_MAX	64

/* One line; at NULL: a port meshc assigned. */
static void
put(FILE *fp, const struct mc_origin *at, const char *dep, const char *key,
    const char *value)
{
	if (at == NULL)
		fputs("assigned", fp);
	else if (at->line == 0)
		fputs("default", fp);
	else
		fprintf(fp, "%s:%u", at->file, at->line);
	fprintf(fp, "\t%s%s%s = %s\n", dep != NULL ? dep : "",
	    dep != NULL ? "." : "", key, value);
}

static const char *
number(char *buf, unsigned long long n)
{
	snprintf(buf, VALUE_MAX, "%llu", n);
	return buf;
}

static const char *
duration(char *buf, uint64_t ms)
{
	return msh_format_duration(ms, buf, VALUE_MAX);
}

static const char *
flag(int on)
{
	return on ? "on" : "off";
}

static const char *
protocol(enum mc_protocol p)
{
	return p == MC_TCP ? "tcp" : "http";
}

/* The address alone, as mesh.conf writes it: no port, no brackets. */
static const char *
ip(char *buf, const struct msh_addr *a)
{
	const void *in = a->ss.ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr;

	inet_ntop(a->ss.ss_family, in, buf, VALUE_MAX);
	return buf;
}

/* Where callers reach s: its own outbound_port, or one meshc assigned. */
static void
put_outbound_port(FILE *fp, const struct mc_service *s, const char *dep)
{
	char v[VALUE_MAX];

	put(fp, s->outbound_port_at.line != 0 ? &s->outbound_port_at : NULL,
	    dep, "outbound_port", number(v, s->local_port));
}

/* s's effective policy key by key, as its callers' clusters have it
 * and, for s itself (dep NULL), its inbound listener; the origin of a key
 * from a policy is its line in the policy. */
static void
put_policy(FILE *fp, const struct mc_service *s, const char *dep)
{
	char v[MC_POLICY_VALUE_STRLEN];
	size_t i;

	for (i = 0; i < mc_npolicy_keys; i++) {
		const struct mc_directive *k = &mc_policy_keys[i];

		if ((dep == NULL || !k->inbound) &&
		    mc_policy_value(s, k, v, sizeof(v)) != NULL)
			put(fp, mc_policy_origin(&s->eff, k), dep, k->key, v);
	}
}

/* An edge of the service: its listener's keys, as edge.NAME.KEY, the
 * paths as the compiled file has them (in tls_dir). */
static void
put_edge(FILE *fp, const struct mc_mesh *m, const struct mc_edge *e)
{
	char prefix[MSH_NAME_MAX + 8], v[VALUE_MAX], path[4096];
	char line[3 * 4096 + 2];
	struct mc_sni sni;
	size_t i;

	snprintf(prefix, sizeof(prefix), "edge.%s", e->name);
	put(fp, &e->address_at, prefix, "address", ip(v, &e->address));
	put(fp, &e->port_at, prefix, "port", number(v, e->port));
	if (e->tls_cert != NULL) {
		put(fp, &e->tls_cert_at, prefix, "tls_cert",
		    mc_edge_path(m, e->tls_cert, path, sizeof(path)));
		put(fp, &e->tls_key_at, prefix, "tls_key",
		    mc_edge_path(m, e->tls_key, path, sizeof(path)));
	}
	for (i = 0; i < e->tls_sni.n; i++)
		if (mc_parse_sni(e->tls_sni.v[i].name, &sni) == 0)
			put(fp, &e->tls_sni.v[i].at, prefix, "tls_sni",
			    mc_sni_line(m, &sni, line, sizeof(line)));
}

static void
explain(FILE *fp, const struct mc_mesh *m, const struct mc_service *s)
{
	char v[VALUE_MAX];
	size_t i, j;

	put(fp, &m->registry_at, NULL, "registry", m->registry);
	put(fp, &m->admin_port_at, NULL, "admin_port",
	    number(v, m->admin_port));
	put(fp, &m->outbound_port_base_at, NULL, "outbound_port_base",
	    number(v, m->outbound_port_base));
	put(fp, &m->workers_at, NULL, "workers", number(v, m->workers));
	put(fp, &m->via_at, NULL, "via", flag(m->via));
	put(fp, &m->drain_timeout_at, NULL, "drain_timeout",
	    duration(v, m->drain_timeout));
	if (m->log_dir != NULL)
		put(fp, &m->log_dir_at, NULL, "log_dir", m->log_dir);
	put(fp, &m->trust_domain_at, NULL, "trust_domain",
	    m->trust_domain != NULL ? m->trust_domain : m->name);
	put(fp, &m->tls_dir_at, NULL, "tls_dir", mc_tls_dir(m));
	if (m->tls_ciphers != NULL)
		put(fp, &m->tls_ciphers_at, NULL, "tls_ciphers",
		    m->tls_ciphers);
	if (m->tls_groups != NULL)
		put(fp, &m->tls_groups_at, NULL, "tls_groups", m->tls_groups);
	for (i = 0; i < m->policy.n; i++)
		put(fp, &m->policy.v[i].at, NULL, "policy",
		    m->policy.v[i].name);

	/* Its own, or after mc_check the mesh's value and origin. */
	put(fp, &s->protocol_at, NULL, "protocol", protocol(s->protocol));
	put(fp, &s->app_address_at, NULL, "app_address",
	    ip(v, &s->app_address));
	put(fp, &s->app_port_at, NULL, "app_port", number(v, s->app_port));
	put(fp, &s->inbound_port_at, NULL, "inbound_port",
	    number(v, s->inbound_port));
	put_outbound_port(fp, s, NULL);
	put(fp, &s->forwarded_for_at, NULL, "forwarded_for",
	    flag(s->forwarded_for));
	put(fp, &s->client_timeout_at, NULL, "client_timeout",
	    duration(v, s->client_timeout));
	put(fp, &s->keepalive_timeout_at, NULL, "keepalive_timeout",
	    duration(v, s->keepalive_timeout));
	put(fp, &s->idle_timeout_at, NULL, "idle_timeout",
	    duration(v, s->idle_timeout));
	put(fp, &s->max_header_size_at, NULL, "max_header_size",
	    mc_format_size(v, sizeof(v), s->max_header_size));
	put(fp, &s->max_headers_at, NULL, "max_headers",
	    number(v, s->max_headers));
	put(fp, &s->buffer_size_at, NULL, "buffer_size",
	    mc_format_size(v, sizeof(v), s->buffer_size));
	put(fp, &s->mtls_at, NULL, "mtls", s->mtls == MC_MTLS_STRICT ?
	    "strict" : s->mtls == MC_MTLS_PERMISSIVE ? "permissive" : "off");
	for (i = 0; i < s->ndeps; i++)
		put(fp, &s->deps[i].at, NULL, "depends", s->deps[i].name);
	for (i = 0; i < s->subset.n; i++)
		put(fp, &s->subset.v[i].at, NULL, "subset", s->subset.v[i].name);
	for (i = 0; i < s->policy.n; i++)
		put(fp, &s->policy.v[i].at, NULL, "policy",
		    s->policy.v[i].name);
	put_policy(fp, s, NULL);
	for (i = 0; i < s->nedges; i++)
		put_edge(fp, m, s->edges[i]);

	/* What its listener and cluster for each dependency take from it
	 * (mc_check left each once, all of them known). */
	for (i = 0; i < s->ndeps; i++) {
		const struct mc_service *d = mc_find_service(m, s->deps[i].name);

		put(fp, &d->protocol_at, d->name, "protocol",
		    protocol(d->protocol));
		for (j = 0; j < d->subset.n; j++)
			put(fp, &d->subset.v[j].at, d->name, "subset",
			    d->subset.v[j].name);
		put_outbound_port(fp, d, d->name);
		put_policy(fp, d, d->name);
	}
}

int
mc_explain(FILE *fp, const struct mc_mesh *m, const char *name,
    struct msh_diag *d)
{
	const struct mc_service *s = mc_find_service(m, name);
	const char **names, *suggest;
	size_t i;

	if (s != NULL) {
		explain(fp, m, s);
		return 0;
	}
	if ((names = calloc(m->nservices + 1, sizeof(*names))) == NULL)
		abort();
	for (i = 0; i < m->nservices; i++)
		names[i] = m->services[i]->name;
	suggest = msh_spell_suggest(name, names, m->nservices);
	if (suggest != NULL)
		msh_diag_error(d, "unknown-service", m->files[0], 0,
		    "unknown service \"%s\"; did you mean \"%s\"?", name,
		    suggest);
	else
		msh_diag_error(d, "unknown-service", m->files[0], 0,
		    "unknown service \"%s\"", name);
	free(names);
	return -1;
}
