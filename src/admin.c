#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "admin.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "outlier.h"
#include "snapshot.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static struct msh_addr bound_addr;
static const struct msh_admin_state *state;

static void
reply(struct evhttp_request *req, int code, const char *reason,
    struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, code, reason, body);
}

static void
metric_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A metric of one series, without labels. */
static void
single(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t value)
{
	metric_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)value);
}

/* The labels of a counter set: of its name, and of its second name. */
static const char *const set_label[] = {
	[MSH_STATS_LISTENER] = "listener",
	[MSH_STATS_CLUSTER] = "cluster",
	[MSH_STATS_ENDPOINT] = "cluster",
	[MSH_STATS_RULE] = "listener",
	[MSH_STATS_ROUTE] = "listener",
};
static const char *const set_sublabel[] = {
	[MSH_STATS_ENDPOINT] = "endpoint",
	[MSH_STATS_RULE] = "rule",
	[MSH_STATS_ROUTE] = "route",
};

/* A series of counter c of set s, with more labels (",k=\"v\"") if any. */
static void
series(struct evbuffer *b, const char *name, const struct msh_stats *s,
    const char *more, enum msh_counter c)
{
	evbuffer_add_printf(b, "%s{%s=\"%s\"", name, set_label[s->kind],
	    s->name);
	if (s->endpoint != NULL)
		evbuffer_add_printf(b, ",%s=\"%s\"", set_sublabel[s->kind],
		    s->endpoint);
	evbuffer_add_printf(b, "%s} %llu\n", more,
	    (unsigned long long)msh_stats_sum(s, c));
}

/* One counter family over every counter set of a kind. */
static void
family(struct evbuffer *b, const char *name, const char *help,
    enum msh_stats_kind kind, enum msh_counter c)
{
	struct msh_stats *s;

	metric_head(b, name, "counter", help);
	for (s = msh_stats_all(); s != NULL; s = s->next)
		if (s->kind == kind)
			series(b, name, s, "", c);
}

static void
classes(struct evbuffer *b, const char *name, const char *help,
    enum msh_stats_kind kind)
{
	const char *label = kind == MSH_STATS_LISTENER ? "listener" : "cluster";
	struct msh_stats *s;
	int k;

	metric_head(b, name, "counter", help);
	for (s = msh_stats_all(); s != NULL; s = s->next) {
		if (s->kind != kind)
			continue;
		for (k = 0; k < 5; k++)
			evbuffer_add_printf(b,
			    "%s{%s=\"%s\",class=\"%dxx\"} %llu\n", name, label,
			    s->name, k + 1, (unsigned long long)msh_stats_sum(s,
			    MSH_C_1XX + k));
	}
}

/* Active health checks: of the endpoints that were ever checked, and
 * whether those checked now are healthy. */
static void
health_metrics(struct evbuffer *b)
{
	struct msh_stats *st;
	int k;

	metric_head(b, "meshd_endpoint_health_checks_total", "counter",
	    "Active health checks of each endpoint, by result.");
	for (st = msh_stats_all(); st != NULL; st = st->next) {
		if (st->kind != MSH_STATS_ENDPOINT || !st->health_checked)
			continue;
		for (k = 0; k < MSH_CHECK_RESULTS; k++)
			evbuffer_add_printf(b,
			    "meshd_endpoint_health_checks_total{cluster=\"%s\","
			    "endpoint=\"%s\",result=\"%s\"} %llu\n", st->name,
			    st->endpoint, msh_check_results[k],
			    (unsigned long long)st->health_checks[k]);
	}
	metric_head(b, "meshd_endpoint_health_transitions_total", "counter",
	    "Endpoints found unhealthy, and healthy again, by health checks.");
	for (st = msh_stats_all(); st != NULL; st = st->next) {
		if (st->kind != MSH_STATS_ENDPOINT || !st->health_checked)
			continue;
		evbuffer_add_printf(b, "meshd_endpoint_health_transitions_total{"
		    "cluster=\"%s\",endpoint=\"%s\",to=\"unhealthy\"} %llu\n"
		    "meshd_endpoint_health_transitions_total{"
		    "cluster=\"%s\",endpoint=\"%s\",to=\"healthy\"} %llu\n",
		    st->name, st->endpoint,
		    (unsigned long long)st->health_to_unhealthy,
		    st->name, st->endpoint,
		    (unsigned long long)st->health_to_healthy);
	}
	metric_head(b, "meshd_endpoint_healthy", "gauge",
	    "1 if health checks let the endpoint take traffic (healthy, or "
	    "not decided yet), 0 if it is unhealthy; endpoints checked now.");
	for (st = msh_stats_all(); st != NULL; st = st->next)
		if (st->kind == MSH_STATS_ENDPOINT && st->checker != NULL)
			evbuffer_add_printf(b, "meshd_endpoint_healthy{"
			    "cluster=\"%s\",endpoint=\"%s\"} %d\n", st->name,
			    st->endpoint, atomic_load(&st->health) !=
			    MSH_HC_UNHEALTHY);
}

static void
metrics(struct evhttp_request *req)
{
	const struct msh_snapshot *s = state->snap;
	struct evbuffer *b = evbuffer_new();
	struct msh_stats *st;
	enum msh_counter k;
	uint64_t config_gen, registry_gen;
	size_t i;

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	metric_head(b, "meshd_info", "gauge", "The sidecar's service and "
	    "version.");
	evbuffer_add_printf(b, "meshd_info{service=\"%s\",version=\"%s\"} 1\n",
	    s->conf->service, PACKAGE_VERSION);
	msh_workers_serving(&config_gen, &registry_gen);
	single(b, "meshd_config_generation", "gauge",
	    "Generation of the config every worker serves: 1 at start, +1 "
	    "per reload.",
	    config_gen);
	single(b, "meshd_registry_generation", "gauge",
	    "Generation of the registry view every worker serves: 1 at "
	    "start, +1 per change applied; 0 without a registry.",
	    registry_gen);
	metric_head(b, "meshd_tls_certificate_expiry_timestamp_seconds",
	    "gauge", "When the sidecar's certificate in use expires.");
	if (s->tls != NULL)
		evbuffer_add_printf(b, "meshd_tls_certificate_expiry_timestamp_"
		    "seconds{path=\"%s\"} %lld\n", s->conf->tls_cert,
		    (long long)msh_tls_expires(s->tls));
	single(b, "meshd_tls_reloads_total", "counter",
	    "Certificates and keys loaded again after their files changed.",
	    state->tls_reloads);
	single(b, "meshd_tls_reload_failures_total", "counter",
	    "Changed TLS files that did not load: the ones in use stayed.",
	    state->tls_failures);
	single(b, "meshd_registry_updates_total", "counter",
	    "Changes of the registry file read (by the watch or a reload).",
	    state->registry_updates);
	single(b, "meshd_registry_update_failures_total", "counter",
	    "Registry files with errors: the last good view stayed.",
	    state->registry_failures);
	single(b, "meshd_registry_vanished_total", "counter",
	    "Services that lost every instance without being said empty, "
	    "and kept their last ones.",
	    state->registry_vanished);
	single(b, "meshd_config_reloads_total", "counter",
	    "Reloads attempted.",
	    state->reloads);
	single(b, "meshd_config_reload_failures_total", "counter",
	    "Reloads that failed and kept the previous config.",
	    state->reload_failures);
	family(b, "meshd_listener_connections_total",
	    "Connections accepted.", MSH_STATS_LISTENER, MSH_C_CONNECTIONS);
	family(b, "meshd_listener_requests_total",
	    "Requests received (connections for tcp).", MSH_STATS_LISTENER,
	    MSH_C_REQUESTS);
	family(b, "meshd_listener_tls_handshakes_total",
	    "TLS clients accepted.", MSH_STATS_LISTENER, MSH_C_TLS_HANDSHAKES);
	family(b, "meshd_listener_tls_resumed_total",
	    "TLS clients that resumed a session (an abbreviated handshake).",
	    MSH_STATS_LISTENER, MSH_C_TLS_RESUMED);
	classes(b, "meshd_listener_responses_total",
	    "Responses sent, by status class.", MSH_STATS_LISTENER);
	metric_head(b, "meshd_listener_errors_total", "counter",
	    "Answers meshd made itself (4xx, 5xx), by cause.");
	for (st = msh_stats_all(); st != NULL; st = st->next) {
		if (st->kind != MSH_STATS_LISTENER)
			continue;
		for (k = MSH_C_ERR_FIRST; k < MSH_C_COUNT; k++)
			evbuffer_add_printf(b, "meshd_listener_errors_total{"
			    "listener=\"%s\",cause=\"%s\"} %llu\n", st->name,
			    msh_error_causes[k - MSH_C_ERR_FIRST],
			    (unsigned long long)msh_stats_sum(st, k));
	}
	family(b, "meshd_cluster_requests_total",
	    "Requests sent to the cluster.", MSH_STATS_CLUSTER, MSH_C_REQUESTS);
	classes(b, "meshd_cluster_responses_total",
	    "Responses from the cluster, by status class.", MSH_STATS_CLUSTER);
	family(b, "meshd_cluster_connections_total",
	    "Connections opened to the cluster's endpoints (pooled ones are "
	    "reused, not counted again).", MSH_STATS_CLUSTER,
	    MSH_C_CONNECTIONS);
	family(b, "meshd_cluster_connect_failures_total",
	    "Failed connections to the cluster's endpoints.",
	    MSH_STATS_CLUSTER, MSH_C_CONNECT_FAILURES);
	family(b, "meshd_cluster_retries_total",
	    "Retries started.", MSH_STATS_CLUSTER, MSH_C_RETRIES);
	family(b, "meshd_cluster_retry_budget_exhausted_total",
	    "Retries the retry budget refused.", MSH_STATS_CLUSTER,
	    MSH_C_RETRIES_BUDGET);
	family(b, "meshd_cluster_mirrored_total",
	    "Copies of requests routes mirrored to the cluster (each then "
	    "answered, failed or dropped).", MSH_STATS_CLUSTER, MSH_C_MIRRORED);
	family(b, "meshd_cluster_mirror_failures_total",
	    "Mirrored copies that got no response.", MSH_STATS_CLUSTER,
	    MSH_C_MIRROR_FAILURES);
	family(b, "meshd_cluster_mirror_dropped_total",
	    "Mirrored copies meshd let go: over a limit, too far behind "
	    "their request, or their request cut short.", MSH_STATS_CLUSTER,
	    MSH_C_MIRROR_DROPPED);
	metric_head(b, "meshd_cluster_overload_total", "counter",
	    "Requests answered 503 by the circuit breaker, by limit.");
	for (st = msh_stats_all(); st != NULL; st = st->next) {
		static const char *const limit[] = {
			"max_connections", "max_pending", "max_requests",
			"max_retries",
		};

		if (st->kind != MSH_STATS_CLUSTER)
			continue;
		for (k = 0; k < 4; k++)
			evbuffer_add_printf(b, "meshd_cluster_overload_total{"
			    "cluster=\"%s\",limit=\"%s\"} %llu\n", st->name,
			    limit[k], (unsigned long long)msh_stats_sum(st,
			    MSH_C_OVER_CONNECTIONS + k));
	}
	metric_head(b, "meshd_cluster_endpoints", "gauge",
	    "Endpoints taking traffic.");
	for (i = 0; i < s->nclusters; i++)
		evbuffer_add_printf(b, "meshd_cluster_endpoints{cluster=\"%s\"} "
		    "%zu\n", s->clusters[i].conf->name,
		    s->clusters[i].nendpoints);
	family(b, "meshd_endpoint_requests_total",
	    "Requests sent to each endpoint.", MSH_STATS_ENDPOINT,
	    MSH_C_REQUESTS);
	family(b, "meshd_endpoint_ejections_total",
	    "Ejections by outlier detection.", MSH_STATS_ENDPOINT,
	    MSH_C_EJECTIONS);
	metric_head(b, "meshd_cluster_ejected_endpoints", "gauge",
	    "Endpoints ejected by outlier detection now.");
	for (i = 0; i < s->nclusters; i++)
		evbuffer_add_printf(b, "meshd_cluster_ejected_endpoints{"
		    "cluster=\"%s\"} %u\n", s->clusters[i].conf->name,
		    msh_outlier_count(&s->clusters[i]));
	family(b, "meshd_rule_matches_total",
	    "Requests (connections for tcp) each rule decided.",
	    MSH_STATS_RULE, MSH_C_REQUESTS);
	family(b, "meshd_route_requests_total",
	    "Requests each route matched.", MSH_STATS_ROUTE, MSH_C_REQUESTS);
	family(b, "meshd_route_rate_limited_total",
	    "Requests answered 429 by the route's rate_limit.",
	    MSH_STATS_ROUTE, MSH_C_ERR_RATE_LIMITED);
	metric_head(b, "meshd_route_faults_total", "counter",
	    "Faults each route injected, by kind: requests delayed, and "
	    "aborted.");
	for (st = msh_stats_all(); st != NULL; st = st->next) {
		if (st->kind != MSH_STATS_ROUTE)
			continue;
		series(b, "meshd_route_faults_total", st, ",fault=\"delay\"",
		    MSH_C_FAULT_DELAYED);
		series(b, "meshd_route_faults_total", st, ",fault=\"abort\"",
		    MSH_C_ERR_FAULT_ABORT);
	}
	metric_head(b, "meshd_endpoint_active_requests", "gauge",
	    "Requests in flight at each endpoint (connections for tcp).");
	for (st = msh_stats_all(); st != NULL; st = st->next)
		if (st->kind == MSH_STATS_ENDPOINT)
			evbuffer_add_printf(b, "meshd_endpoint_active_requests{"
			    "cluster=\"%s\",endpoint=\"%s\"} %llu\n", st->name,
			    st->endpoint,
			    (unsigned long long)msh_stats_active_sum(st));
	health_metrics(b);
	reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* The highest of the workers' latency estimates, in microseconds. */
static uint64_t
latency_us(const struct msh_stats *st, unsigned nworkers)
{
	uint64_t max = 0, v;
	unsigned i;

	for (i = 0; i < nworkers; i++)
		if ((v = atomic_load_explicit(&st->lines[i].latency_us,
		    memory_order_relaxed)) > max)
			max = v;
	return max;
}

/* GET /clusters: each cluster of the config in force and the state of
 * each of its endpoints, one line each, for people and scripts. */
static void
clusters(struct evhttp_request *req)
{
	const struct msh_snapshot *s = state->snap;
	struct evbuffer *b = evbuffer_new();
	size_t i, j;

	if (b == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	for (i = 0; i < s->nclusters; i++) {
		const struct msh_cluster *c = &s->clusters[i];

		evbuffer_add_printf(b, "cluster %s lb=%s %s%s endpoints=%zu\n",
		    c->conf->name, c->conf->lb->name,
		    c->conf->service_line ? "service=" : "static",
		    c->conf->service_line ? c->conf->service : "",
		    c->nendpoints);
		for (j = 0; j < c->nendpoints; j++) {
			const struct msh_endpoint *e = &c->endpoints[j];
			uint64_t until = atomic_load(&e->stats->ejected_until),
			    now = msh_outlier_now();

			/* Latency: the estimate balancers go by (the
			 * highest of the workers'), not a measurement. */
			evbuffer_add_printf(b, "  endpoint %s weight=%u "
			    "active=%llu requests=%llu latency_ms=%.3f "
			    "ejections=%llu", e->name, e->weight,
			    (unsigned long long)msh_stats_active_sum(e->stats),
			    (unsigned long long)msh_stats_sum(e->stats,
			    MSH_C_REQUESTS),
			    latency_us(e->stats, s->nworkers) / 1000.0,
			    (unsigned long long)msh_stats_sum(e->stats,
			    MSH_C_EJECTIONS));
			if (until > now)
				evbuffer_add_printf(b, " ejected_ms=%llu",
				    (unsigned long long)(until - now));
			if (c->conf->health.check.kind != MSH_HEALTH_CHECK_OFF)
				evbuffer_add_printf(b, " health=%s",
				    msh_health_name(atomic_load(
				    &e->stats->health)));
			evbuffer_add(b, "\n", 1);
		}
	}
	reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *b;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, NULL);
		return;
	}
	if (path != NULL && strcmp(path, "/metrics") == 0) {
		metrics(req);
		return;
	}
	if (path != NULL && strcmp(path, "/clusters") == 0) {
		clusters(req);
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (path != NULL && strcmp(path, "/ready") == 0) {
		evbuffer_add_printf(b, state->draining ? "draining\n" : "ready\n");
		reply(req, state->draining ? 503 : 200,
		    state->draining ? "Service Unavailable" : "OK", b);
	} else {
		evbuffer_add_printf(b, "not found: try /ready, /metrics or "
		    "/clusters\n");
		reply(req, 404, "Not Found", b);
	}
	evbuffer_free(b);
}

static struct evhttp_bound_socket *
bind_admin(const struct msh_addr *a)
{
	int fd;

	if ((fd = msh_listen_socket(a, 0)) < 0)
		return NULL;
	return evhttp_accept_socket_with_handle(http, fd);
}

int
msh_admin_start(struct event_base *base, int fd, const struct msh_addr *a,
    const struct msh_admin_state *st)
{
	state = st;
	if ((http = evhttp_new(base)) == NULL ||
	    (bound = evhttp_accept_socket_with_handle(http, fd)) == NULL) {
		msh_log(MSH_LOG_ALERT, "cannot set up the admin listener");
		close(fd);
		return -1;
	}
	evhttp_set_gencb(http, handle, NULL);
	evhttp_set_timeout(http, 10);
	bound_addr = *a;
	return 0;
}

int
msh_admin_move(const struct msh_addr *a, const char **err)
{
	struct evhttp_bound_socket *b;

	if (msh_addr_equal(a, &bound_addr))
		return 0;
	if ((b = bind_admin(a)) == NULL) {
		*err = strerror(errno);
		return -1;
	}
	evhttp_del_accept_socket(http, bound);
	bound = b;
	bound_addr = *a;
	return 0;
}

void
msh_admin_stop(void)
{
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
	bound = NULL;
}
