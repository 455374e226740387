#include "config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "http1-t.h"
#include "iniread.h"
#include "module.h"
#include "spell.h"

const char *const msh_section_names[MSH_SEC_COUNT] = {
	"meshd", "listener", "cluster",
};

#define RANGED(sec, type, k, kind, f, lo, hi) \
	{ sec, k, kind, offsetof(type, f), offsetof(type, f##_line), lo, hi }
#define ROW(sec, type, k, kind, f)	RANGED(sec, type, k, kind, f, 0, 0)
#define MESHD(k, kind, f)	ROW(MSH_SEC_MESHD, struct msh_conf, k, kind, f)
#define LISTENER(k, kind, f) \
	ROW(MSH_SEC_LISTENER, struct msh_listener_conf, k, kind, f)
#define CLUSTER(k, kind, f) \
	ROW(MSH_SEC_CLUSTER, struct msh_cluster_conf, k, kind, f)

const struct msh_directive msh_core_directives[] = {
	MESHD("service", MSH_V_NAME, service),
	MESHD("registry", MSH_V_PATH, registry),
	MESHD("workers", MSH_V_WORKERS, workers),
	MESHD("admin", MSH_V_ADDR, admin),
	MESHD("log", MSH_V_PATH, log),
	MESHD("drain_timeout", MSH_V_DURATION, drain_timeout),
	LISTENER("address", MSH_V_ADDR, address),
	LISTENER("protocol", MSH_V_PROTOCOL, protocol),
	LISTENER("cluster", MSH_V_NAME, cluster),
	LISTENER("client_timeout", MSH_V_DURATION, client_timeout),
	LISTENER("keepalive_timeout", MSH_V_DURATION, keepalive_timeout),
	LISTENER("idle_timeout", MSH_V_DURATION, idle_timeout),
	RANGED(MSH_SEC_LISTENER, struct msh_listener_conf, "max_header_size",
	    MSH_V_SIZE, max_header_size, 1024, MSH_HTTP_HEAD_LIMIT),
	RANGED(MSH_SEC_LISTENER, struct msh_listener_conf, "max_headers",
	    MSH_V_COUNT, max_headers, 1, MSH_HTTP_HEADERS_LIMIT),
	RANGED(MSH_SEC_LISTENER, struct msh_listener_conf, "buffer_size",
	    MSH_V_SIZE, buffer_size, 16384, 64 * 1024 * 1024),
	LISTENER("forwarded_for", MSH_V_FLAG, forwarded_for),
	LISTENER("via", MSH_V_FLAG, via),
	CLUSTER("endpoint", MSH_V_ADDR_LIST, endpoint),
	CLUSTER("service", MSH_V_NAME, service),
	CLUSTER("lb", MSH_V_LB, lb),
	CLUSTER("connect_timeout", MSH_V_DURATION, connect_timeout),
	CLUSTER("response_timeout", MSH_V_DURATION, response_timeout),
	CLUSTER("request_timeout", MSH_V_DURATION_OFF, request_timeout),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf,
	    "outlier_consecutive_5xx", MSH_V_COUNT, outlier_5xx, 0, 1000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf,
	    "outlier_consecutive_gateway_errors", MSH_V_COUNT, outlier_gateway,
	    0, 1000),
	CLUSTER("ejection_time", MSH_V_DURATION, ejection_time),
	CLUSTER("max_ejection_time", MSH_V_DURATION, max_ejection_time),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_ejected_percent",
	    MSH_V_COUNT, max_ejected_percent, 0, 100),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "retries",
	    MSH_V_COUNT, retries, 0, 10),
	CLUSTER("retry_on", MSH_V_RETRY_ON, retry_on),
	CLUSTER("per_try_timeout", MSH_V_DURATION_OFF, per_try_timeout),
	CLUSTER("retry_backoff", MSH_V_DURATION_OFF, retry_backoff),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "retry_budget",
	    MSH_V_COUNT, retry_budget, 0, 100),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "retry_budget_min",
	    MSH_V_COUNT, retry_budget_min, 0, 100000),
	CLUSTER("retry_non_idempotent", MSH_V_FLAG, retry_non_idempotent),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_connections",
	    MSH_V_LIMIT, max_connections, 1, 1000000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_pending",
	    MSH_V_LIMIT, max_pending, 1, 1000000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_requests",
	    MSH_V_LIMIT, max_requests, 1, 1000000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_retries",
	    MSH_V_LIMIT, max_retries, 1, 1000000),
	{ 0, NULL, 0, 0, 0, 0, 0 },
};

struct load_ctx {
	struct msh_conf		*conf;
	struct msh_diag		*diag;
	char			*dir;		/* of the config file */
	int			 section;	/* -1: none or a bad one */
	void			*target;	/* struct the section fills */
};

/* Every directive table in force: meshd's own, then each module's. */
static const struct msh_directive *
find_directive(int section, const char *key)
{
	const struct msh_directive *d;
	size_t i;

	for (d = msh_core_directives; d->key != NULL; d++)
		if ((int)d->section == section && strcmp(d->key, key) == 0)
			return d;
	for (i = 0; msh_modules[i] != NULL; i++) {
		d = msh_modules[i]->directives;
		for (; d != NULL && d->key != NULL; d++)
			if ((int)d->section == section &&
			    strcmp(d->key, key) == 0)
				return d;
	}
	return NULL;
}

static void
unknown_key(struct load_ctx *c, const char *section, const char *key,
    unsigned line)
{
	const char *cand[64], *suggest;
	const struct msh_directive *d;
	size_t n = 0, i;

	for (d = msh_core_directives; d->key != NULL; d++)
		if ((int)d->section == c->section && n < 64)
			cand[n++] = d->key;
	for (i = 0; msh_modules[i] != NULL; i++)
		for (d = msh_modules[i]->directives; d && d->key; d++)
			if ((int)d->section == c->section && n < 64)
				cand[n++] = d->key;
	suggest = msh_spell_suggest(key, cand, n);
	msh_diag_error(c->diag, "unknown-key", c->conf->file, line,
	    "unknown key \"%s\" in [%s]%s%s%s", key, section,
	    suggest ? "; did you mean \"" : "", suggest ? suggest : "",
	    suggest ? "\"?" : "");
}

static void *
grow(void *array, size_t *n, size_t size)
{
	char *p = realloc(array, (*n + 1) * size);

	if (p == NULL)
		abort();
	memset(p + *n * size, 0, size);
	(*n)++;
	return p;
}

static void
begin_section(struct load_ctx *c, const char *section, unsigned line)
{
	struct msh_conf *conf = c->conf;
	const char *arg, *err, *suggest;
	char kind[64];
	size_t i;

	c->section = -1;
	arg = msh_ini_section_name(section, kind, sizeof(kind));
	for (i = 0; i < MSH_SEC_COUNT; i++)
		if (strcmp(kind, msh_section_names[i]) == 0)
			break;
	if (i == MSH_SEC_COUNT) {
		suggest = msh_spell_suggest(kind, msh_section_names,
		    MSH_SEC_COUNT);
		msh_diag_error(c->diag, "unknown-section", conf->file, line,
		    "unknown section [%s]%s%s%s", section,
		    suggest ? "; did you mean [" : "", suggest ? suggest : "",
		    suggest ? "]?" : "");
		return;
	}
	if (i == MSH_SEC_MESHD) {
		if (*arg != '\0') {
			msh_diag_error(c->diag, "bad-section", conf->file, line,
			    "[meshd] takes no name");
			return;
		}
		if (conf->line != 0) {
			msh_diag_error(c->diag, "duplicate", conf->file, line,
			    "[meshd] appears twice (first at line %u)",
			    conf->line);
			return;
		}
		conf->line = line;
		c->section = i;
		c->target = conf;
		return;
	}
	if (msh_check_name(arg, &err) != 0) {
		msh_diag_error(c->diag, "bad-name", conf->file, line,
		    "bad %s name \"%s\": %s", kind, arg, err);
		return;
	}
	if (i == MSH_SEC_LISTENER) {
		struct msh_listener_conf *l;
		size_t k;

		for (k = 0; k < conf->nlisteners; k++)
			if (strcmp(conf->listeners[k].name, arg) == 0) {
				msh_diag_error(c->diag, "duplicate",
				    conf->file, line,
				    "listener \"%s\" is defined twice (first "
				    "at line %u)", arg, conf->listeners[k].line);
				return;
			}
		conf->listeners = grow(conf->listeners, &conf->nlisteners,
		    sizeof(*l));
		l = &conf->listeners[conf->nlisteners - 1];
		snprintf(l->name, sizeof(l->name), "%s", arg);
		l->line = line;
		l->protocol = MSH_PROTO_HTTP;
		l->client_timeout = 60000;
		l->keepalive_timeout = 60000;
		l->idle_timeout = 3600000;
		l->max_header_size = 16384;
		l->max_headers = 100;
		l->buffer_size = 256 * 1024;
		c->target = l;
	} else {
		struct msh_cluster_conf *cl;
		size_t k;

		for (k = 0; k < conf->nclusters; k++)
			if (strcmp(conf->clusters[k].name, arg) == 0) {
				msh_diag_error(c->diag, "duplicate",
				    conf->file, line,
				    "cluster \"%s\" is defined twice (first "
				    "at line %u)", arg, conf->clusters[k].line);
				return;
			}
		conf->clusters = grow(conf->clusters, &conf->nclusters,
		    sizeof(*cl));
		cl = &conf->clusters[conf->nclusters - 1];
		snprintf(cl->name, sizeof(cl->name), "%s", arg);
		cl->line = line;
		cl->lb = msh_module_lb("round_robin");
		cl->connect_timeout = 5000;
		cl->response_timeout = 60000;
		cl->ejection_time = 30000;
		cl->max_ejection_time = 300000;
		cl->max_ejected_percent = 10;
		cl->retries = 1;
		cl->retry_on.bits = MSH_RETRY_CONNECT_FAILURE;
		cl->retry_backoff = 25;
		cl->retry_budget = 20;
		cl->retry_budget_min = 10;
		c->target = cl;
	}
	c->section = i;
}

static void
set_value(struct load_ctx *c, const struct msh_directive *d,
    const char *section, const char *value, unsigned line)
{
	void *field = (char *)c->target + d->offset;
	unsigned *seen = (unsigned *)((char *)c->target + d->line_offset);
	const char *err = NULL;
	unsigned long ul;

	if (*seen != 0 && d->kind != MSH_V_ADDR_LIST) {
		msh_diag_error(c->diag, "duplicate", c->conf->file, line,
		    "\"%s\" is set twice in [%s] (first at line %u)", d->key,
		    section, *seen);
		return;
	}
	switch (d->kind) {
	case MSH_V_NAME:
		if (msh_check_name(value, &err) == 0)
			snprintf(field, MSH_NAME_MAX + 1, "%s", value);
		break;
	case MSH_V_PATH:
		if (value[0] == '\0') {
			err = "expected a path";
		} else if (value[0] == '/') {
			*(char **)field = strdup(value);
		} else {
			char *p;

			if (asprintf(&p, "%s/%s", c->dir, value) < 0)
				abort();
			*(char **)field = p;
		}
		break;
	case MSH_V_WORKERS:
		if (msh_parse_uint(value, 0, 64, &ul, &err) == 0)
			*(unsigned *)field = ul;
		break;
	case MSH_V_ADDR:
		msh_parse_addr(value, field, &err);
		break;
	case MSH_V_ADDR_LIST: {
		struct msh_addr_list *list = field;
		struct msh_addr a;

		if (msh_parse_addr(value, &a, &err) != 0)
			break;
		list->addrs = grow(list->addrs, &list->n, sizeof(a));
		list->addrs[list->n - 1] = a;
		break;
	}
	case MSH_V_PROTOCOL:
		if (strcmp(value, "http") == 0)
			*(enum msh_protocol *)field = MSH_PROTO_HTTP;
		else if (strcmp(value, "tcp") == 0)
			*(enum msh_protocol *)field = MSH_PROTO_TCP;
		else
			err = "expected http or tcp";
		break;
	case MSH_V_DURATION:
	case MSH_V_DURATION_OFF:
		msh_parse_timeout(value, d->kind == MSH_V_DURATION_OFF, field,
		    &err);
		break;
	case MSH_V_SIZE:
		msh_parse_size(value, d->min, d->max, field, &err);
		break;
	case MSH_V_COUNT:
		if (msh_parse_uint(value, d->min, d->max, &ul, &err) == 0)
			*(unsigned *)field = ul;
		break;
	case MSH_V_LIMIT:
		msh_parse_limit(value, d->min, d->max, field, &err);
		break;
	case MSH_V_FLAG:
		msh_parse_flag(value, field, &err);
		break;
	case MSH_V_RETRY_ON:
		msh_parse_retry_on(value, field, &err);
		break;
	case MSH_V_LB:
		if ((*(const struct msh_module **)field =
		    msh_module_lb(value)) == NULL)
			err = "no such load balancer module in this build "
			    "(meshd -V lists them)";
		break;
	}
	if (err != NULL) {
		msh_diag_error(c->diag, "bad-value", c->conf->file, line,
		    "bad value \"%s\" for \"%s\": %s", value, d->key, err);
		return;
	}
	if (*seen == 0)
		*seen = line;
}

static void
on_value(void *user, const char *section, const char *key, const char *value,
    unsigned line)
{
	struct load_ctx *c = user;
	const struct msh_directive *d;

	if (key == NULL) {
		begin_section(c, section, line);
		return;
	}
	if (section[0] == '\0') {
		msh_diag_error(c->diag, "bad-section", c->conf->file, line,
		    "\"%s\" is outside any section", key);
		return;
	}
	if (c->section < 0)
		return;
	if ((d = find_directive(c->section, key)) == NULL) {
		unknown_key(c, section, key, line);
		return;
	}
	set_value(c, d, section, value, line);
}

static struct msh_cluster_conf *
find_cluster(struct msh_conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->nclusters; i++)
		if (strcmp(conf->clusters[i].name, name) == 0)
			return &conf->clusters[i];
	return NULL;
}

/* What only the whole file shows: missing keys, references, clashes. */
static void
check_conf(struct msh_conf *conf, struct msh_diag *d)
{
	const char *f = conf->file;
	size_t i, j;

	if (conf->line == 0) {
		msh_diag_error(d, "missing-key", f, 0, "no [meshd] section");
		return;
	}
	if (conf->service_line == 0)
		msh_diag_error(d, "missing-key",
		    f, conf->line, "[meshd] needs a service name");
	if (conf->admin_line == 0)
		msh_diag_error(d, "missing-key",
		    f, conf->line, "[meshd] needs an admin address");
	for (i = 0; i < conf->nlisteners; i++) {
		struct msh_listener_conf *l = &conf->listeners[i];
		struct msh_cluster_conf *cl;

		if (l->address_line == 0)
			msh_diag_error(d, "missing-key", f, l->line,
			    "listener \"%s\" needs an address", l->name);
		if (l->cluster_line == 0)
			msh_diag_error(d, "missing-key", f, l->line,
			    "listener \"%s\" needs a cluster", l->name);
		else if ((cl = find_cluster(conf, l->cluster)) == NULL)
			msh_diag_error(d, "unknown-cluster", f, l->cluster_line,
			    "listener \"%s\" sends to unknown cluster \"%s\"",
			    l->name, l->cluster);
		for (j = 0; j < i && l->address_line; j++)
			if (msh_addr_equal(&l->address,
			    &conf->listeners[j].address))
				msh_diag_error(d, "address-clash",
				    f, l->address_line,
				    "listener \"%s\" has the address of "
				    "listener \"%s\" (line %u)", l->name,
				    conf->listeners[j].name,
				    conf->listeners[j].address_line);
		if (l->address_line && conf->admin_line &&
		    msh_addr_equal(&l->address, &conf->admin))
			msh_diag_error(d, "address-clash", f, l->address_line,
			    "listener \"%s\" has the admin address (line %u)",
			    l->name, conf->admin_line);
	}
	for (i = 0; i < conf->nclusters; i++) {
		struct msh_cluster_conf *cl = &conf->clusters[i];

		if (cl->endpoint_line && cl->service_line)
			msh_diag_error(d, "endpoints-and-service",
			    f, cl->service_line,
			    "cluster \"%s\" has both static endpoints (line %u) "
			    "and a registry service", cl->name,
			    cl->endpoint_line);
		else if (!cl->endpoint_line && !cl->service_line)
			msh_diag_error(d, "missing-key", f, cl->line,
			    "cluster \"%s\" needs endpoints or a service",
			    cl->name);
		if (cl->service_line && conf->registry == NULL)
			msh_diag_error(d, "missing-key", f, cl->service_line,
			    "cluster \"%s\" takes its endpoints from the "
			    "registry, but [meshd] names no registry file",
			    cl->name);
	}
}

/* meshd -a: this host's address stands for loopback and wildcard. */
static void
rehost(struct msh_addr *a, const struct msh_addr *host)
{
	unsigned port;

	if (!msh_addr_is_local(a))
		return;
	port = msh_addr_port(a);
	*a = *host;
	msh_addr_set_port(a, port);
}

struct msh_conf *
msh_conf_load(const char *file, const struct msh_addr *host,
    struct msh_diag *d)
{
	struct load_ctx c = { .diag = d, .section = -1 };
	struct msh_conf *conf;
	unsigned before = d->errors;
	char *copy;
	size_t i, j;

	if ((conf = calloc(1, sizeof(*conf))) == NULL ||
	    (conf->file = strdup(file)) == NULL || (copy = strdup(file)) == NULL)
		abort();
	atomic_init(&conf->refs, 1);
	conf->workers = 1;
	conf->drain_timeout = 30000;
	if ((c.dir = strdup(dirname(copy))) == NULL)
		abort();
	free(copy);
	c.conf = conf;
	msh_ini_parse_file(file, on_value, &c, d);
	free(c.dir);
	if (d->errors == before)
		check_conf(conf, d);
	if (d->errors != before) {
		msh_conf_unref(conf);
		return NULL;
	}
	if (host != NULL) {
		rehost(&conf->admin, host);
		for (i = 0; i < conf->nlisteners; i++)
			rehost(&conf->listeners[i].address, host);
		for (i = 0; i < conf->nclusters; i++)
			for (j = 0; j < conf->clusters[i].endpoint.n; j++)
				rehost(&conf->clusters[i].endpoint.addrs[j],
				    host);
	}
	return conf;
}

void
msh_conf_ref(struct msh_conf *conf)
{
	atomic_fetch_add_explicit(&conf->refs, 1, memory_order_relaxed);
}

void
msh_conf_unref(struct msh_conf *conf)
{
	size_t i;

	if (conf == NULL ||
	    atomic_fetch_sub_explicit(&conf->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < conf->nclusters; i++)
		free(conf->clusters[i].endpoint.addrs);
	free(conf->clusters);
	free(conf->listeners);
	free(conf->registry);
	free(conf->log);
	free(conf->file);
	free(conf);
}
