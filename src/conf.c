#include "config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "http1-t.h"
#include "iniread.h"
#include "module.h"
#include "route.h"
#include "spell.h"

const char *const msh_section_names[MSH_SEC_COUNT] = {
	"meshd", "listener", "cluster", "route", "rule",
};

#define RANGED(sec, type, k, kind, f, lo, hi) \
	{ sec, k, kind, offsetof(type, f), offsetof(type, f##_line), lo, hi }
#define ROW(sec, type, k, kind, f)	RANGED(sec, type, k, kind, f, 0, 0)
#define MESHD(k, kind, f)	ROW(MSH_SEC_MESHD, struct msh_conf, k, kind, f)
#define LISTENER(k, kind, f) \
	ROW(MSH_SEC_LISTENER, struct msh_listener_conf, k, kind, f)
#define CLUSTER(k, kind, f) \
	ROW(MSH_SEC_CLUSTER, struct msh_cluster_conf, k, kind, f)
#define ROUTE(k, kind, f) \
	ROW(MSH_SEC_ROUTE, struct msh_route_conf, k, kind, f)
#define RULE(k, kind, f) \
	ROW(MSH_SEC_RULE, struct msh_rule_conf, k, kind, f)

const struct msh_directive msh_core_directives[] = {
	MESHD("service", MSH_V_NAME, service),
	MESHD("registry", MSH_V_PATH, registry),
	MESHD("workers", MSH_V_WORKERS, workers),
	MESHD("admin", MSH_V_ADDR, admin),
	MESHD("log", MSH_V_PATH, log),
	MESHD("drain_timeout", MSH_V_DURATION, drain_timeout),
	MESHD("tls_cert", MSH_V_PATH, tls_cert),
	MESHD("tls_key", MSH_V_PATH, tls_key),
	MESHD("tls_ca", MSH_V_PATH, tls_ca),
	MESHD("tls_ciphers", MSH_V_TEXT, tls_ciphers),
	MESHD("tls_groups", MSH_V_TEXT, tls_groups),
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
	LISTENER("tls", MSH_V_TLS_MODE, tls),
	LISTENER("tls_cert", MSH_V_PATH, tls_cert),
	LISTENER("tls_key", MSH_V_PATH, tls_key),
	LISTENER("tls_sni", MSH_V_TEXT_LIST, tls_sni),
	LISTENER("rate_limit", MSH_V_RATE, rate_limit),
	RANGED(MSH_SEC_LISTENER, struct msh_listener_conf, "rate_limit_burst",
	    MSH_V_COUNT, rate_limit_burst, 1, MSH_RATE_MAX),
	CLUSTER("endpoint", MSH_V_ADDR_LIST, endpoint),
	CLUSTER("service", MSH_V_NAME, service),
	CLUSTER("labels", MSH_V_LABELS, labels),
	CLUSTER("lb", MSH_V_LB, lb),
	CLUSTER("hash_key", MSH_V_HASH_KEY, hash_key),
	CLUSTER("connect_timeout", MSH_V_DURATION, connect_timeout),
	CLUSTER("response_timeout", MSH_V_DURATION, response_timeout),
	CLUSTER("request_timeout", MSH_V_DURATION_OFF, request_timeout),
	CLUSTER("tls", MSH_V_TLS_MODE, tls),
	CLUSTER("tls_peer", MSH_V_TEXT, tls_peer),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf,
	    "outlier_consecutive_5xx", MSH_V_COUNT, outlier_5xx, 0, 1000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf,
	    "outlier_consecutive_gateway_errors", MSH_V_COUNT, outlier_gateway,
	    0, 1000),
	CLUSTER("outlier_interval", MSH_V_DURATION_OFF, outlier_interval),
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
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "zone_affinity",
	    MSH_V_LIMIT, zone_affinity, 1, 100),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "panic_threshold",
	    MSH_V_LIMIT, panic_threshold, 1, 100),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_connections",
	    MSH_V_LIMIT, max_connections, 1, 1000000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_pending",
	    MSH_V_LIMIT, max_pending, 1, 1000000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_requests",
	    MSH_V_LIMIT, max_requests, 1, 1000000),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "max_retries",
	    MSH_V_LIMIT, max_retries, 1, 1000000),
	CLUSTER("health_check", MSH_V_HEALTH_CHECK, health.check),
	CLUSTER("health_interval", MSH_V_DURATION, health.interval),
	CLUSTER("health_timeout", MSH_V_DURATION, health.timeout),
	CLUSTER("health_jitter", MSH_V_DURATION_OFF, health.jitter),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "healthy_threshold",
	    MSH_V_COUNT, health.healthy, 1, 100),
	RANGED(MSH_SEC_CLUSTER, struct msh_cluster_conf, "unhealthy_threshold",
	    MSH_V_COUNT, health.unhealthy, 1, 100),
	CLUSTER("health_status", MSH_V_STATUS_LIST, health.status),
	CLUSTER("health_host", MSH_V_HOST, health.host),
	ROUTE("listener", MSH_V_NAME, listener),
	ROUTE("path", MSH_V_TEXT, path),
	ROUTE("path_exact", MSH_V_TEXT, path_exact),
	ROUTE("path_regex", MSH_V_TEXT, path_regex),
	ROUTE("method", MSH_V_TEXT, method),
	ROUTE("header", MSH_V_TEXT_LIST, header),
	ROUTE("header_regex", MSH_V_TEXT_LIST, header_regex),
	ROUTE("header_present", MSH_V_TEXT_LIST, header_present),
	ROUTE("header_absent", MSH_V_TEXT_LIST, header_absent),
	ROUTE("cluster", MSH_V_NAME, cluster),
	ROUTE("split", MSH_V_TEXT, split),
	ROUTE("direct_response", MSH_V_TEXT, direct_response),
	ROUTE("redirect", MSH_V_TEXT, redirect),
	ROUTE("rewrite_prefix", MSH_V_TEXT, rewrite_prefix),
	ROUTE("mirror", MSH_V_NAME, mirror),
	RANGED(MSH_SEC_ROUTE, struct msh_route_conf, "mirror_percent",
	    MSH_V_COUNT, mirror_percent, 0, 100),
	ROUTE("add_header", MSH_V_TEXT_LIST, add_header),
	ROUTE("remove_header", MSH_V_TEXT_LIST, remove_header),
	RANGED(MSH_SEC_ROUTE, struct msh_route_conf, "retries", MSH_V_COUNT,
	    retries, 0, 10),
	ROUTE("retry_on", MSH_V_RETRY_ON, retry_on),
	ROUTE("per_try_timeout", MSH_V_DURATION_OFF, per_try_timeout),
	ROUTE("request_timeout", MSH_V_DURATION_OFF, request_timeout),
	ROUTE("retry_non_idempotent", MSH_V_FLAG, retry_non_idempotent),
	ROUTE("fault_delay", MSH_V_DURATION_OFF, fault_delay),
	ROUTE("fault_delay_percent", MSH_V_PERCENT, fault_delay_percent),
	RANGED(MSH_SEC_ROUTE, struct msh_route_conf, "fault_abort",
	    MSH_V_LIMIT, fault_abort, 400, 599),
	ROUTE("fault_abort_percent", MSH_V_PERCENT, fault_abort_percent),
	ROUTE("rate_limit", MSH_V_RATE, rate_limit),
	RANGED(MSH_SEC_ROUTE, struct msh_route_conf, "rate_limit_burst",
	    MSH_V_COUNT, rate_limit_burst, 1, MSH_RATE_MAX),
	RULE("listener", MSH_V_TEXT_LIST, listeners),
	RULE("action", MSH_V_RULE_ACTION, action),
	RULE("identity", MSH_V_TEXT_LIST, identity),
	RULE("source", MSH_V_TEXT_LIST, source),
	RULE("path", MSH_V_TEXT, match.path),
	RULE("path_exact", MSH_V_TEXT, match.path_exact),
	RULE("path_regex", MSH_V_TEXT, match.path_regex),
	RULE("method", MSH_V_TEXT, match.method),
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
	} else if (i == MSH_SEC_RULE) {
		struct msh_rule_conf *r;
		size_t k;

		for (k = 0; k < conf->nrules; k++)
			if (strcmp(conf->rules[k].match.name, arg) == 0) {
				msh_diag_error(c->diag, "duplicate",
				    conf->file, line,
				    "rule \"%s\" is defined twice (first "
				    "at line %u)", arg, conf->rules[k].match.line);
				return;
			}
		conf->rules = grow(conf->rules, &conf->nrules, sizeof(*r));
		r = &conf->rules[conf->nrules - 1];
		snprintf(r->match.name, sizeof(r->match.name), "%s", arg);
		r->match.line = line;
		r->match.match_only = 1;
		c->target = r;
	} else if (i == MSH_SEC_ROUTE) {
		struct msh_route_conf *r;
		size_t k;

		for (k = 0; k < conf->nroutes; k++)
			if (strcmp(conf->routes[k].name, arg) == 0) {
				msh_diag_error(c->diag, "duplicate",
				    conf->file, line,
				    "route \"%s\" is defined twice (first "
				    "at line %u)", arg, conf->routes[k].line);
				return;
			}
		conf->routes = grow(conf->routes, &conf->nroutes, sizeof(*r));
		r = &conf->routes[conf->nroutes - 1];
		snprintf(r->name, sizeof(r->name), "%s", arg);
		r->line = line;
		r->mirror_percent = 100;
		r->fault_delay_percent = MSH_PERCENT_ALL;
		r->fault_abort_percent = MSH_PERCENT_ALL;
		c->target = r;
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
		cl->panic_threshold = 50;
		cl->health.interval = 5000;
		cl->health.timeout = 1000;
		cl->health.healthy = 2;
		cl->health.unhealthy = 3;
		cl->health.status.lo[0] = 200;
		cl->health.status.hi[0] = 399;
		cl->health.status.n = 1;
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

	if (*seen != 0 && d->kind != MSH_V_ADDR_LIST &&
	    d->kind != MSH_V_TEXT_LIST) {
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
	case MSH_V_TLS_MODE: {
		/* Listeners take strict, permissive or off; clusters on or
		 * off. */
		enum msh_tls_mode *mode = field;

		if (strcmp(value, "off") == 0)
			*mode = MSH_TLS_OFF;
		else if (c->section == MSH_SEC_CLUSTER)
			*mode = strcmp(value, "on") == 0 ? MSH_TLS_ON :
			    (err = "expected on or off", MSH_TLS_OFF);
		else if (strcmp(value, "strict") == 0)
			*mode = MSH_TLS_STRICT;
		else if (strcmp(value, "permissive") == 0)
			*mode = MSH_TLS_PERMISSIVE;
		else if (strcmp(value, "edge") == 0)
			*mode = MSH_TLS_EDGE;
		else
			err = "expected strict, permissive, edge or off";
		break;
	}
	case MSH_V_RULE_ACTION:
		if (strcmp(value, "allow") == 0)
			*(enum msh_rule_action *)field = MSH_RULE_ALLOW;
		else if (strcmp(value, "deny") == 0)
			*(enum msh_rule_action *)field = MSH_RULE_DENY;
		else
			err = "expected allow or deny";
		break;
	case MSH_V_TEXT:
		if (value[0] == '\0')
			err = "expected a value";
		else if ((*(char **)field = strdup(value)) == NULL)
			abort();
		break;
	case MSH_V_TEXT_LIST: {
		struct msh_text_list *list = field;
		size_t n = list->n;

		if (value[0] == '\0') {
			err = "expected a value";
			break;
		}
		list->items = grow(list->items, &n, sizeof(char *));
		n = list->n;
		list->lines = grow(list->lines, &n, sizeof(unsigned));
		list->n = n;
		if ((list->items[n - 1] = strdup(value)) == NULL)
			abort();
		list->lines[n - 1] = line;
		break;
	}
	case MSH_V_LABELS:
		if (msh_check_labels(value, &err) == 0 &&
		    (*(char **)field = strdup(value)) == NULL)
			abort();
		break;
	case MSH_V_RETRY_ON:
		msh_parse_retry_on(value, field, &err);
		break;
	case MSH_V_HEALTH_CHECK:
		msh_parse_health_check(value, field, &err);
		break;
	case MSH_V_STATUS_LIST:
		msh_parse_status_list(value, field, &err);
		break;
	case MSH_V_HOST:
		msh_parse_host(value, field, &err);
		break;
	case MSH_V_LB:
		if ((*(const struct msh_module **)field =
		    msh_module_lb(value)) == NULL)
			err = "no such load balancer module in this build "
			    "(meshd -V lists them)";
		break;
	case MSH_V_HASH_KEY:
		msh_parse_hash_key(value, field, &err);
		break;
	case MSH_V_PERCENT:
		msh_parse_percent(value, field, &err);
		break;
	case MSH_V_RATE:
		msh_parse_rate(value, field, &err);
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

/*
 * A cluster's balancer and its hash_key: a key the balancer does not go
 * by, or that a tcp listener cannot read (no header, no cookie: tcp
 * connections hash by their source address), is ignored with a warning.
 */
static void
check_lb(struct msh_conf *conf, struct msh_cluster_conf *cl,
    struct msh_diag *d)
{
	char key[MSH_HASH_KEY_STRLEN];
	size_t i;

	if (cl->lb == NULL) {
		/* Built --without-lb-round-robin, and no lb = line. */
		msh_diag_error(d, "missing-key", conf->file, cl->line,
		    "cluster \"%s\" needs an lb: this meshd has no "
		    "round_robin (meshd -V lists its balancers)", cl->name);
		return;
	}
	if (cl->hash_key_line == 0)
		return;
	msh_hash_key_format(&cl->hash_key, key, sizeof(key));
	if (!cl->lb->lb->hashed) {
		msh_diag_warning(d, "unused-hash-key", conf->file,
		    cl->hash_key_line, "cluster \"%s\" sets hash_key, but "
		    "lb = %s goes by none: ignored", cl->name, cl->lb->name);
		return;
	}
	if (cl->hash_key.by == MSH_HASH_SOURCE)
		return;
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].protocol == MSH_PROTO_TCP &&
		    strcmp(conf->listeners[i].cluster, cl->name) == 0)
			msh_diag_warning(d, "unused-hash-key", conf->file,
			    cl->hash_key_line, "hash_key = %s of cluster "
			    "\"%s\" is ignored for tcp listener \"%s\" (line "
			    "%u): connections hash by their source address",
			    key, cl->name, conf->listeners[i].name,
			    conf->listeners[i].line);
}

/* A key set where the one it goes with is off does nothing: said, as a
 * mistake is likelier than intent. */
static void
unused_key(const struct msh_conf *conf, unsigned line, int needed_on,
    const char *what, const char *name, const char *key, const char *needs,
    struct msh_diag *d)
{
	if (line != 0 && !needed_on)
		msh_diag_warning(d, "unused-key", conf->file, line,
		    "%s \"%s\" sets %s, but no %s: ignored", what, name, key,
		    needs);
}

/* What only the whole file shows: missing keys, references, clashes. */
static void check_tls(struct msh_conf *, struct msh_diag *);

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
		unused_key(conf, l->rate_limit_burst_line, l->rate_limit.n,
		    "listener", l->name, "rate_limit_burst", "rate_limit", d);
	}
	for (i = 0; i < conf->nclusters; i++) {
		struct msh_cluster_conf *cl = &conf->clusters[i];

		check_lb(conf, cl, d);
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
		if (cl->labels_line && !cl->service_line)
			msh_diag_error(d, "missing-key", f, cl->labels_line,
			    "cluster \"%s\" selects instances by labels, but "
			    "names no registry service", cl->name);
	}
	for (i = 0; i < conf->nroutes; i++) {
		struct msh_route_conf *r = &conf->routes[i];

		msh_route_compile(conf, r, d);
		unused_key(conf, r->fault_delay_percent_line, r->fault_delay,
		    "route", r->name, "fault_delay_percent", "fault_delay", d);
		unused_key(conf, r->fault_abort_percent_line, r->fault_abort,
		    "route", r->name, "fault_abort_percent", "fault_abort", d);
		unused_key(conf, r->rate_limit_burst_line, r->rate_limit.n,
		    "route", r->name, "rate_limit_burst", "rate_limit", d);
	}
	for (i = 0; i < conf->nrules; i++)
		msh_rule_compile(conf, &conf->rules[i], d);
	check_tls(conf, d);
}

/* TLS anywhere needs the sidecar's certificate, key and the mesh CA. */
static void
check_tls(struct msh_conf *conf, struct msh_diag *d)
{
	unsigned line = 0;
	size_t i;

	for (i = 0; i < conf->nlisteners; i++) {
		const struct msh_listener_conf *l = &conf->listeners[i];

		if (l->tls != MSH_TLS_EDGE) {
			if (l->tls_cert_line || l->tls_key_line ||
			    l->tls_sni.n)
				msh_diag_error(d, "bad-value", conf->file,
				    l->tls_cert_line ? l->tls_cert_line :
				    l->tls_key_line ? l->tls_key_line :
				    l->tls_sni.lines[0], "listener \"%s\": "
				    "tls_cert, tls_key and tls_sni are for "
				    "tls = edge", l->name);
			if (l->tls != MSH_TLS_OFF && line == 0)
				line = l->tls_line;
			continue;
		}
		if (!!l->tls_cert_line != !!l->tls_key_line)
			msh_diag_error(d, "missing-key", conf->file, l->line,
			    "listener \"%s\" needs both tls_cert and tls_key",
			    l->name);
		else if (!l->tls_cert_line && (!conf->tls_cert_line ||
		    !conf->tls_key_line))
			msh_diag_error(d, "missing-key", conf->file,
			    l->tls_line, "listener \"%s\" needs a certificate: "
			    "tls_cert and tls_key here or in [meshd]", l->name);
	}
	for (i = 0; i < conf->nclusters && line == 0; i++)
		if (conf->clusters[i].tls != MSH_TLS_OFF)
			line = conf->clusters[i].tls_line;
	for (i = 0; i < conf->nclusters; i++)
		if (conf->clusters[i].tls_peer_line &&
		    conf->clusters[i].tls == MSH_TLS_OFF)
			msh_diag_error(d, "missing-key", conf->file,
			    conf->clusters[i].tls_peer_line, "cluster \"%s\" "
			    "names its peers' identity but has tls = off",
			    conf->clusters[i].name);
	if (line == 0)
		return;
	if (!conf->tls_cert_line || !conf->tls_key_line || !conf->tls_ca_line)
		msh_diag_error(d, "missing-key", conf->file, line,
		    "TLS needs tls_cert, tls_key and tls_ca in [meshd]");
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
	/* Unset, the jitter follows the interval, and a burst is one
	 * period's worth of the rate. */
	for (i = 0; i < conf->nclusters; i++)
		if (conf->clusters[i].health.jitter_line == 0)
			conf->clusters[i].health.jitter =
			    conf->clusters[i].health.interval / 10;
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].rate_limit_burst_line == 0)
			conf->listeners[i].rate_limit_burst =
			    conf->listeners[i].rate_limit.n;
	for (i = 0; i < conf->nroutes; i++)
		if (conf->routes[i].rate_limit_burst_line == 0)
			conf->routes[i].rate_limit_burst =
			    conf->routes[i].rate_limit.n;
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

static void
free_list(struct msh_text_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	free(l->lines);
}

static void
free_route(struct msh_route_conf *r)
{
	msh_route_free(r->compiled);
	free(r->path);
	free(r->path_exact);
	free(r->path_regex);
	free(r->method);
	free(r->split);
	free(r->direct_response);
	free(r->redirect);
	free(r->rewrite_prefix);
	free_list(&r->header);
	free_list(&r->header_regex);
	free_list(&r->header_present);
	free_list(&r->header_absent);
	free_list(&r->add_header);
	free_list(&r->remove_header);
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
	for (i = 0; i < conf->nlisteners; i++) {
		free(conf->listeners[i].tls_cert);
		free(conf->listeners[i].tls_key);
		free_list(&conf->listeners[i].tls_sni);
	}
	for (i = 0; i < conf->nclusters; i++) {
		free(conf->clusters[i].endpoint.addrs);
		free(conf->clusters[i].labels);
		free(conf->clusters[i].tls_peer);
	}
	for (i = 0; i < conf->nroutes; i++)
		free_route(&conf->routes[i]);
	free(conf->routes);
	for (i = 0; i < conf->nrules; i++) {
		free_route(&conf->rules[i].match);
		msh_rule_free(conf->rules[i].compiled);
		free_list(&conf->rules[i].listeners);
		free_list(&conf->rules[i].identity);
		free_list(&conf->rules[i].source);
	}
	free(conf->rules);
	free(conf->clusters);
	free(conf->listeners);
	free(conf->registry);
	free(conf->log);
	free(conf->tls_cert);
	free(conf->tls_key);
	free(conf->tls_ca);
	free(conf->tls_ciphers);
	free(conf->tls_groups);
	free(conf->file);
	free(conf);
}
