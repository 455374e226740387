#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "listener.h"
#include "module.h"
#include "registry.h"
#include "route.h"
#include "snapshot.h"
#include "stats.h"
#include "tls.h"

static void
add_endpoint(struct msh_cluster *c, const struct msh_addr *a, unsigned weight,
    int local)
{
	struct msh_endpoint *e;

	e = &c->endpoints[c->nendpoints++];
	e->addr = *a;
	e->weight = weight;
	e->local = local;
	msh_addr_format(a, e->name, sizeof(e->name));
	e->stats = msh_stats_get(MSH_STATS_ENDPOINT, c->conf->name, e->name);
}

/* zone_affinity: the local endpoints as a cluster of their own, when
 * some are local and some are not. */
static void
build_local(struct msh_cluster *c, unsigned nworkers)
{
	struct msh_cluster *l;
	size_t i, n = 0;

	for (i = 0; i < c->nendpoints; i++)
		n += c->endpoints[i].local;
	if (n == 0 || n == c->nendpoints)
		return;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->endpoints = calloc(n, sizeof(*l->endpoints))) == NULL)
		abort();
	l->conf = c->conf;
	l->stats = c->stats;
	for (i = 0; i < c->nendpoints; i++)
		if (c->endpoints[i].local)
			l->endpoints[l->nendpoints++] = c->endpoints[i];
	l->lb = c->lb;
	l->lb_state = l->lb->create(l, nworkers);
	c->local = l;
}

/* Endpoints: the static list, or the serving instances of the service. */
static void
build_cluster(struct msh_cluster *c, const struct msh_cluster_conf *cc,
    const struct msh_registry *reg, const char *zone, unsigned nworkers)
{
	size_t i, n = cc->endpoint.n;

	c->conf = cc;
	c->stats = msh_stats_get(MSH_STATS_CLUSTER, cc->name, NULL);
	if (cc->service_line != 0)
		n = reg->n;
	if ((c->endpoints = calloc(n ? n : 1, sizeof(*c->endpoints))) == NULL ||
	    (c->views = aligned_alloc(64, nworkers * sizeof(*c->views))) ==
	    NULL)
		abort();
	memset(c->views, 0, nworkers * sizeof(*c->views));
	if (cc->service_line == 0) {
		for (i = 0; i < cc->endpoint.n; i++)
			add_endpoint(c, &cc->endpoint.addrs[i], 1, 0);
	} else {
		for (i = 0; i < reg->n; i++) {
			const struct msh_instance *in = &reg->instances[i];

			if (strcmp(in->service, cc->service) == 0 &&
			    msh_instance_serving(in) && (cc->labels == NULL ||
			    msh_labels_match(in->labels, cc->labels)))
				add_endpoint(c, &in->address, in->weight,
				    zone != NULL && in->zone != NULL &&
				    strcmp(in->zone, zone) == 0);
		}
	}
	c->lb = cc->lb->lb;
	c->lb_state = c->lb->create(c, nworkers);
	if (cc->zone_affinity != 0)
		build_local(c, nworkers);
}

/* The sidecar's zone: that of its own instance in the registry, the one
 * of its service at the address of one of its listeners. */
static const char *
own_zone(const struct msh_conf *conf, const struct msh_registry *reg)
{
	size_t i, j;

	for (i = 0; i < reg->n; i++) {
		const struct msh_instance *in = &reg->instances[i];

		if (strcmp(in->service, conf->service) != 0 || in->zone == NULL)
			continue;
		for (j = 0; j < conf->nlisteners; j++)
			if (msh_addr_equal(&in->address,
			    &conf->listeners[j].address))
				return in->zone;
	}
	return NULL;
}

static struct msh_cluster *
find_cluster(struct msh_snapshot *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nclusters; i++)
		if (strcmp(s->clusters[i].conf->name, name) == 0)
			return &s->clusters[i];
	return NULL;
}

/* The sockets prev has for this address, with a new reference. */
static struct msh_sockets *
reuse_sockets(const struct msh_snapshot *prev, const struct msh_addr *a)
{
	size_t i;

	for (i = 0; prev != NULL && i < prev->nlisteners; i++) {
		struct msh_sockets *so = prev->listeners[i].sockets;

		if (so != NULL && msh_addr_equal(&so->addr, a)) {
			msh_sockets_ref(so);
			return so;
		}
	}
	return NULL;
}

struct msh_snapshot *
msh_snapshot_build(struct msh_conf *conf, const struct msh_registry *reg,
    const struct msh_snapshot *prev, unsigned nworkers, uint64_t generation,
    int flags, struct msh_diag *d)
{
	static const struct msh_registry none;
	struct msh_snapshot *s;
	const char *zone;
	unsigned before;
	size_t i, j;

	if (reg == NULL)
		reg = &none;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		abort();
	before = d->errors;
	if ((s->tls = msh_tls_new(conf, d)) == NULL && d->errors > before) {
		msh_conf_unref(conf);
		free(s);
		return NULL;
	}
	atomic_init(&s->refs, 1);
	s->generation = generation;
	s->nworkers = nworkers;
	s->conf = conf;
	if ((zone = own_zone(conf, reg)) != NULL &&
	    (s->zone = strdup(zone)) == NULL)
		abort();
	s->clusters = calloc(conf->nclusters + 1, sizeof(*s->clusters));
	s->listeners = calloc(conf->nlisteners + 1, sizeof(*s->listeners));
	if (s->clusters == NULL || s->listeners == NULL)
		abort();
	for (i = 0; i < conf->nclusters; i++) {
		build_cluster(&s->clusters[i], &conf->clusters[i], reg,
		    s->zone, nworkers);
		s->nclusters++;
	}
	for (i = 0; i < conf->nlisteners; i++) {
		const struct msh_listener_conf *lc = &conf->listeners[i];
		struct msh_listener *l = &s->listeners[i];
		const char *err;
		char addr[MSH_ADDR_STRLEN];

		l->conf = lc;
		l->cluster = find_cluster(s, lc->cluster);
		if ((l->routes = calloc(conf->nroutes + 1,
		    sizeof(*l->routes))) == NULL || (l->route_stats =
		    calloc(conf->nroutes + 1, sizeof(*l->route_stats))) == NULL)
			abort();
		for (j = 0; j < conf->nroutes; j++) {
			const struct msh_route_conf *r = &conf->routes[j];

			if (strcmp(r->listener, lc->name) != 0)
				continue;
			l->route_stats[l->nroutes] = msh_stats_get(
			    MSH_STATS_ROUTE, lc->name, r->name);
			l->routes[l->nroutes++] = r;
		}
		if ((l->rules = calloc(conf->nrules + 1,
		    sizeof(*l->rules))) == NULL || (l->rule_stats =
		    calloc(conf->nrules + 1, sizeof(*l->rule_stats))) == NULL)
			abort();
		for (j = 0; j < conf->nrules; j++) {
			const struct msh_rule_conf *r = &conf->rules[j];

			if (!msh_rule_on(r, lc->name))
				continue;
			l->rule_stats[l->nrules] = msh_stats_get(MSH_STATS_RULE,
			    lc->name, r->match.name);
			l->rules[l->nrules++] = r;
		}
		l->stats = msh_stats_get(MSH_STATS_LISTENER, lc->name, NULL);
		s->nlisteners++;
		if (flags & MSH_SNAPSHOT_NO_SOCKETS)
			continue;
		if ((l->sockets = reuse_sockets(prev, &lc->address)) != NULL)
			continue;
		l->sockets = msh_sockets_open(&lc->address, nworkers, &err);
		if (l->sockets == NULL) {
			msh_addr_format(&lc->address, addr, sizeof(addr));
			msh_diag_error(d, "listen",
			    conf->file, lc->address_line,
			    "cannot listen on %s for listener \"%s\": %s",
			    addr, lc->name, err);
			msh_snapshot_unref(s);
			return NULL;
		}
	}
	return s;
}

void
msh_snapshot_ref(struct msh_snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void
msh_snapshot_unref(struct msh_snapshot *s)
{
	size_t i;

	if (s == NULL ||
	    atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < s->nlisteners; i++) {
		msh_sockets_unref(s->listeners[i].sockets);
		free(s->listeners[i].routes);
		free(s->listeners[i].route_stats);
		free(s->listeners[i].rules);
		free(s->listeners[i].rule_stats);
	}
	for (i = 0; i < s->nclusters; i++) {
		struct msh_cluster *c = &s->clusters[i], *l = c->local;

		if (c->lb != NULL)
			c->lb->destroy(c->lb_state);
		if (l != NULL) {
			l->lb->destroy(l->lb_state);
			free(l->endpoints);
			free(l);
		}
		free(c->endpoints);
		free(c->views);
	}
	free(s->zone);
	msh_tls_free(s->tls);
	free(s->listeners);
	free(s->clusters);
	msh_conf_unref(s->conf);
	free(s);
}
