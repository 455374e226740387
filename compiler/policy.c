/*
 * Policies: what a caller's sidecar applies to its calls to a service
 * (timeouts, retries, circuit breaking, outlier detection, balancing,
 * zones, active health checks), the keys of a meshd.conf [cluster]; and
 * what the service's own sidecar applies to the calls it receives (a
 * rate limit), keys of its [listener inbound].
 * Named [policy NAME] sections hold them, [mesh] and [service] attach
 * those with policy = NAME and may set the keys themselves; this file has
 * the keys, resolves each service's effective policy and runs the
 * mesh-wide checks only resolved policies allow: retry amplification
 * along call chains and timeout budgets.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "mesh.h"
#include "spell.h"

/* meshd's balancers (modules/lb_*.c), the first the default. A meshd
 * built without one refuses a config that names it, at load. */
const struct mc_lb mc_lbs[] = {
	{ "round_robin", 0 },
	{ "random", 0 },
	{ "least_request", 0 },
	{ "peak_ewma", 0 },
	{ "ring_hash", 1 },
	{ "maglev", 1 },
};

#define NLBS	(sizeof(mc_lbs) / sizeof(mc_lbs[0]))

const size_t mc_nlbs = NLBS;

int
mc_parse_lb(const char *value, const struct mc_lb **lb, const char **err)
{
	static char why[256];
	const char *names[NLBS], *suggest;
	size_t i;

	for (i = 0; i < NLBS; i++) {
		if (strcmp(value, mc_lbs[i].name) == 0) {
			*lb = &mc_lbs[i];
			return 0;
		}
		names[i] = mc_lbs[i].name;
	}
	if ((suggest = msh_spell_suggest(value, names, NLBS)) != NULL)
		snprintf(why, sizeof(why), "unknown load balancer; did you "
		    "mean \"%s\"?", suggest);
	else
		snprintf(why, sizeof(why), "unknown load balancer, expected "
		    "round_robin, random, least_request, peak_ewma, ring_hash "
		    "or maglev");
	*err = why;
	return -1;
}

/*
 * The policy keys, in the order a compiled [cluster] lists them, then
 * the inbound ones in the order its [listener inbound] does. Names, value
 * forms and ranges are meshd's ([cluster] and [listener] in src/conf.c),
 * read with the same parsers (lib/value.c); t/unit/test_mesh.c holds the
 * two tables and the two sets of defaults to each other.
 */
#define POLICY_R(k, kind, f, lo, hi) \
	{ MC_SEC_POLICY, k, kind, offsetof(struct mc_policy_set, f), \
	    offsetof(struct mc_policy_set, f##_at), lo, hi, 0 }
#define POLICY(k, kind, f)	POLICY_R(k, kind, f, 0, 0)
/* Keys of the callee's [listener inbound], after those of [cluster]. */
#define INBOUND_R(k, kind, f, lo, hi) \
	{ MC_SEC_POLICY, k, kind, offsetof(struct mc_policy_set, f), \
	    offsetof(struct mc_policy_set, f##_at), lo, hi, 1 }

const struct mc_directive mc_policy_keys[] = {
	POLICY("lb", MC_V_LB, lb),
	POLICY("hash_key", MC_V_HASH_KEY, hash_key),
	POLICY("connect_timeout", MC_V_DURATION, connect_timeout),
	POLICY("response_timeout", MC_V_DURATION, response_timeout),
	POLICY("request_timeout", MC_V_DURATION_OFF, request_timeout),
	POLICY_R("retries", MC_V_COUNT, retries, 0, 10),
	POLICY("retry_on", MC_V_RETRY_ON, retry_on),
	POLICY("per_try_timeout", MC_V_DURATION_OFF, per_try_timeout),
	POLICY("retry_backoff", MC_V_DURATION_OFF, retry_backoff),
	POLICY_R("retry_budget", MC_V_COUNT, retry_budget, 0, 100),
	POLICY_R("retry_budget_min", MC_V_COUNT, retry_budget_min, 0, 100000),
	POLICY("retry_non_idempotent", MC_V_FLAG, retry_non_idempotent),
	POLICY_R("max_connections", MC_V_LIMIT, max_connections, 1, 1000000),
	POLICY_R("max_pending", MC_V_LIMIT, max_pending, 1, 1000000),
	POLICY_R("max_requests", MC_V_LIMIT, max_requests, 1, 1000000),
	POLICY_R("max_retries", MC_V_LIMIT, max_retries, 1, 1000000),
	POLICY_R("outlier_consecutive_5xx", MC_V_COUNT, outlier_5xx, 0, 1000),
	POLICY_R("outlier_consecutive_gateway_errors", MC_V_COUNT,
	    outlier_gateway, 0, 1000),
	POLICY("outlier_interval", MC_V_DURATION_OFF, outlier_interval),
	POLICY("ejection_time", MC_V_DURATION, ejection_time),
	POLICY("max_ejection_time", MC_V_DURATION, max_ejection_time),
	POLICY_R("max_ejected_percent", MC_V_COUNT, max_ejected_percent, 0,
	    100),
	POLICY_R("zone_affinity", MC_V_LIMIT, zone_affinity, 1, 100),
	POLICY_R("panic_threshold", MC_V_LIMIT, panic_threshold, 1, 100),
	POLICY("health_check", MC_V_HEALTH_CHECK, health_check),
	POLICY("health_interval", MC_V_DURATION, health_interval),
	POLICY("health_timeout", MC_V_DURATION, health_timeout),
	POLICY("health_jitter", MC_V_DURATION_OFF, health_jitter),
	POLICY_R("healthy_threshold", MC_V_COUNT, healthy_threshold, 1, 100),
	POLICY_R("unhealthy_threshold", MC_V_COUNT, unhealthy_threshold, 1,
	    100),
	POLICY("health_status", MC_V_STATUS_LIST, health_status),
	POLICY("health_host", MC_V_HOST, health_host),
	INBOUND_R("rate_limit", MC_V_RATE, rate_limit, 0, 0),
	INBOUND_R("rate_limit_burst", MC_V_COUNT, rate_limit_burst, 1,
	    MSH_RATE_MAX),
};

/* mc_policy_value's buffer takes every key's longest value. */
_Static_assert(MSH_RETRY_ON_STRLEN <= MC_POLICY_VALUE_STRLEN &&
    MSH_HASH_KEY_STRLEN <= MC_POLICY_VALUE_STRLEN &&
    MSH_HEALTH_CHECK_STRLEN <= MC_POLICY_VALUE_STRLEN &&
    MSH_STATUS_LIST_STRLEN <= MC_POLICY_VALUE_STRLEN &&
    MSH_DURATION_STRLEN <= MC_POLICY_VALUE_STRLEN &&
    MSH_RATE_STRLEN <= MC_POLICY_VALUE_STRLEN,
    "MC_POLICY_VALUE_STRLEN is too short");

const size_t mc_npolicy_keys =
    sizeof(mc_policy_keys) / sizeof(mc_policy_keys[0]);

void
mc_policy_defaults(struct mc_policy_set *p)
{
	memset(p, 0, sizeof(*p));
	p->lb = &mc_lbs[0];
	p->connect_timeout = 5000;
	p->response_timeout = 60000;
	p->retries = 1;
	p->retry_on.bits = MSH_RETRY_CONNECT_FAILURE;
	p->retry_backoff = 25;
	p->retry_budget = 20;
	p->retry_budget_min = 10;
	p->ejection_time = 30000;
	p->max_ejection_time = 300000;
	p->max_ejected_percent = 10;
	p->panic_threshold = 50;
	p->health_interval = 5000;
	p->health_timeout = 1000;
	p->health_jitter = p->health_interval / 10;	/* see derive() */
	p->healthy_threshold = 2;
	p->unhealthy_threshold = 3;
	p->health_status.lo[0] = 200;
	p->health_status.hi[0] = 399;
	p->health_status.n = 1;
}

const struct mc_origin *
mc_policy_origin(const struct mc_policy_set *p, const struct mc_directive *k)
{
	return (const struct mc_origin *)((const char *)p + k->at_offset);
}

/* How many bytes a value of kind takes in struct mc_policy_set. */
static size_t
value_size(enum mc_kind kind)
{
	switch (kind) {
	case MC_V_DURATION:
	case MC_V_DURATION_OFF:
		return sizeof(uint64_t);
	case MC_V_COUNT:
	case MC_V_LIMIT:
		return sizeof(unsigned);
	case MC_V_FLAG:
		return sizeof(int);
	case MC_V_RETRY_ON:
		return sizeof(struct msh_retry_on);
	case MC_V_LB:
		return sizeof(const struct mc_lb *);
	case MC_V_HASH_KEY:
		return sizeof(struct msh_hash_key);
	case MC_V_HEALTH_CHECK:
		return sizeof(struct msh_health_check);
	case MC_V_STATUS_LIST:
		return sizeof(struct msh_status_list);
	case MC_V_HOST:
		return MSH_HOST_MAX + 1;
	case MC_V_RATE:
		return sizeof(struct msh_rate);
	default:
		break;
	}
	abort();	/* not a policy kind: a bug in mc_policy_keys */
}

/* The keys from sets, with their origins, over those of to. */
static void
apply(struct mc_policy_set *to, const struct mc_policy_set *from)
{
	size_t i;

	for (i = 0; i < mc_npolicy_keys; i++) {
		const struct mc_directive *k = &mc_policy_keys[i];

		if (mc_policy_origin(from, k)->line == 0)
			continue;
		memcpy((char *)to + k->offset, (const char *)from + k->offset,
		    value_size(k->kind));
		memcpy((char *)to + k->at_offset,
		    (const char *)from + k->at_offset,
		    sizeof(struct mc_origin));
	}
}

struct mc_policy *
mc_find_policy(const struct mc_mesh *m, const char *name)
{
	return msh_map_find(&m->policy_names, name, strlen(name));
}

/* The policies refs names, in order, over to; an unknown one is reported
 * (who: "[mesh]" or "service \"orders\""). */
static void
apply_refs(const struct mc_mesh *m, struct mc_policy_set *to,
    const struct mc_refs *refs, const char *who, int report,
    struct msh_diag *d)
{
	const char **names, *suggest;
	size_t i, j;

	for (i = 0; i < refs->n; i++) {
		const struct mc_ref *r = &refs->v[i];
		const struct mc_policy *p = mc_find_policy(m, r->name);

		if (p != NULL) {
			apply(to, &p->set);
			continue;
		}
		if (!report)
			continue;
		if ((names = calloc(m->npolicies + 1, sizeof(*names))) == NULL)
			abort();
		for (j = 0; j < m->npolicies; j++)
			names[j] = m->policies[j]->name;
		suggest = msh_spell_suggest(r->name, names, m->npolicies);
		if (suggest != NULL)
			msh_diag_error(d, "unknown-policy", r->at.file,
			    r->at.line, "%s uses unknown policy \"%s\"; did "
			    "you mean \"%s\"?", who, r->name, suggest);
		else
			msh_diag_error(d, "unknown-policy", r->at.file,
			    r->at.line, "%s uses unknown policy \"%s\"", who,
			    r->name);
		free(names);
	}
}

/* As meshd does, a health_jitter no level sets is a tenth of the
 * health_interval in effect, and a rate_limit_burst the rate's n (written
 * out, so meshd reads the same). */
static void
derive(struct mc_policy_set *p)
{
	if (p->health_jitter_at.line == 0)
		p->health_jitter = p->health_interval / 10;
	if (p->rate_limit_burst_at.line == 0)
		p->rate_limit_burst = p->rate_limit.n;
}

void
mc_resolve_policies(struct mc_mesh *m, struct msh_diag *d)
{
	struct mc_policy_set mesh;
	char who[MSH_NAME_MAX + 16];
	size_t i;

	/* What every service starts from: the mesh's level. */
	mc_policy_defaults(&mesh);
	apply_refs(m, &mesh, &m->policy, "[mesh]", 1, d);
	apply(&mesh, &m->set);
	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];

		s->eff = mesh;
		snprintf(who, sizeof(who), "service \"%s\"", s->name);
		apply_refs(m, &s->eff, &s->policy, who, 1, d);
		apply(&s->eff, &s->set);
		derive(&s->eff);
	}
}

const char *
mc_hash_key_value(const struct mc_service *s, char *buf, size_t len)
{
	if (!s->eff.lb->hashed)
		return NULL;
	if (s->protocol == MC_TCP)
		snprintf(buf, len, "source");
	else
		msh_hash_key_format(&s->eff.hash_key, buf, len);
	return buf;
}

/*
 * The health check keys go by: MSH_HEALTH_CHECK_TCP for those of every
 * check, MSH_HEALTH_CHECK_HTTP for those of http checks only (the kinds
 * are in that order), MSH_HEALTH_CHECK_OFF for any other key.
 */
static enum msh_health_kind
health_key(const struct mc_directive *k)
{
#define AT(f)	offsetof(struct mc_policy_set, f)
	switch (k->offset) {
	case AT(health_interval):
	case AT(health_timeout):
	case AT(health_jitter):
	case AT(healthy_threshold):
	case AT(unhealthy_threshold):
		return MSH_HEALTH_CHECK_TCP;
	case AT(health_status):
	case AT(health_host):
		return MSH_HEALTH_CHECK_HTTP;
	default:
		return MSH_HEALTH_CHECK_OFF;
	}
#undef AT
}

const char *
mc_policy_format(const struct mc_directive *k, const void *v, char *buf,
    size_t len)
{
	switch (k->kind) {
	case MC_V_DURATION_OFF:
		if (*(const uint64_t *)v == 0) {
			snprintf(buf, len, "off");
			return buf;
		}
		/* FALLTHROUGH */
	case MC_V_DURATION:
		return msh_format_duration(*(const uint64_t *)v, buf, len);
	case MC_V_LIMIT:
		if (*(const unsigned *)v == 0) {
			snprintf(buf, len, "off");
			return buf;
		}
		/* FALLTHROUGH */
	case MC_V_COUNT:
		snprintf(buf, len, "%u", *(const unsigned *)v);
		return buf;
	case MC_V_FLAG:
		snprintf(buf, len, "%s", *(const int *)v ? "on" : "off");
		return buf;
	case MC_V_RETRY_ON:
		return msh_format_retry_on(v, buf, len);
	case MC_V_LB:
		snprintf(buf, len, "%s",
		    (*(const struct mc_lb *const *)v)->name);
		return buf;
	case MC_V_HASH_KEY:
		msh_hash_key_format(v, buf, len);
		return buf;
	case MC_V_HEALTH_CHECK:
		return msh_format_health_check(v, buf, len);
	case MC_V_STATUS_LIST:
		return msh_format_status_list(v, buf, len);
	case MC_V_HOST:
		snprintf(buf, len, "%s", (const char *)v);
		return buf;
	case MC_V_RATE:
		return msh_format_rate(v, buf, len);
	default:
		break;
	}
	abort();	/* not a policy kind: a bug in mc_policy_keys */
}

const char *
mc_policy_value(const struct mc_service *s, const struct mc_directive *k,
    char *buf, size_t len)
{
	const void *v = (const char *)&s->eff + k->offset;

	if (health_key(k) > s->eff.health_check.kind)
		return NULL;
	/* The rate limit's keys, only when it is on. */
	if (k->inbound && s->eff.rate_limit.n == 0)
		return NULL;
	if (k->kind == MC_V_HASH_KEY)
		return mc_hash_key_value(s, buf, len);
	if (k->kind == MC_V_HOST && *(const char *)v == '\0')
		return NULL;
	return mc_policy_format(k, v, buf, len);
}

/* A hash_key callers' balancers will not go by (mc_hash_key_value says
 * what they will). */
static void
check_hash_key(const struct mc_service *s, struct msh_diag *d)
{
	const struct mc_origin *at = &s->eff.hash_key_at;
	char key[MSH_HASH_KEY_STRLEN];

	if (at->line == 0)
		return;
	msh_hash_key_format(&s->eff.hash_key, key, sizeof(key));
	if (!s->eff.lb->hashed)
		msh_diag_warning(d, "unused-hash-key", at->file, at->line,
		    "service \"%s\" sets hash_key, but lb = %s goes by none: "
		    "ignored", s->name, s->eff.lb->name);
	else if (s->protocol == MC_TCP && s->eff.hash_key.by != MSH_HASH_SOURCE)
		msh_diag_warning(d, "unused-hash-key", at->file, at->line,
		    "hash_key = %s of service \"%s\" is ignored: its protocol "
		    "is tcp, whose connections hash by their source address",
		    key, s->name);
}

/*
 * Whether a retry of a call to s may follow a try s received: retry_on
 * has reset, 5xx, gateway-error or a status. Retries on connect-failure
 * and refused alone resend only tries that never reached it.
 */
static int
retries_reach(const struct mc_service *s)
{
	const struct msh_retry_on *on = &s->eff.retry_on;

	return s->eff.retries > 0 && (on->nstatus > 0 || (on->bits &
	    (MSH_RETRY_RESET | MSH_RETRY_5XX | MSH_RETRY_GATEWAY_ERROR)));
}

/* How many calls s receives for one call of its caller's application:
 * meshd retries HTTP, never a TCP connection. */
static uint64_t
tries(const struct mc_service *s)
{
	if (s->protocol == MC_TCP || !retries_reach(s))
		return 1;
	return (uint64_t)s->eff.retries + 1;
}

/*
 * Retry amplification. Along a chain a -> b -> c each hop's sidecar may
 * try a call (retries + 1) times, so one request to a can become the
 * product of those tries at c (tries(): a hop whose retries never resend
 * a try the service received counts 1). The services are ordered so that
 * callers come before callees (depth first, a dependency back to a
 * service on the path, a cycle already warned of, left out); each then
 * carries the most calls one request can make to it and through which
 * caller. A hop that takes that count over the limit is reported once,
 * at its depends line, with the chain that does it: one warning per hop
 * at most, however many chains pass it, and linear time.
 */
struct amp {
	const struct mc_mesh	 *m;
	struct msh_diag		 *d;
	unsigned char		 *state;	/* 0 new, 1 on path, 2 done */
	size_t			 *order;	/* finished, callees first */
	size_t			  norder;
	uint64_t		 *calls;	/* most calls to it, >= 1 */
	ssize_t			 *via;		/* the caller that makes them */
	unsigned char		**back;		/* [i][j]: dep j of i closes
						 * a cycle */
};

static void
amp_visit(struct amp *a, size_t i)
{
	const struct mc_service *s = a->m->services[i];
	size_t j;

	a->state[i] = 1;
	for (j = 0; j < s->ndeps; j++) {
		ssize_t k = mc_service_index(a->m, s->deps[j].name);

		if (k < 0 || (size_t)k == i || a->state[k] == 1)
			a->back[i][j] = 1;
		else if (a->state[k] == 0)
			amp_visit(a, k);
	}
	a->state[i] = 2;
	a->order[a->norder++] = i;
}

static uint64_t
saturating_mul(uint64_t x, uint64_t y)
{
	return y != 0 && x > UINT64_MAX / y ? UINT64_MAX : x * y;
}

/* "a -> b -> c: 3 x 3" for the chain that ends with the hop from
 * services[from] to to. */
static char *
amp_chain(const struct amp *a, size_t from, const struct mc_service *to)
{
	const struct mc_mesh *m = a->m;
	size_t n = 0, i, len = 0;
	ssize_t k;
	size_t *path;
	char *text, *p;

	/* As long as the chain, not the mesh: there may be a warning for
	 * every service. */
	for (k = from; k >= 0; k = a->via[k])
		n++;
	if ((path = calloc(n, sizeof(*path))) == NULL)
		abort();
	for (n = 0, k = from; k >= 0; k = a->via[k])
		path[n++] = k;
	for (i = 0; i < n; i++)
		len += strlen(m->services[path[i]]->name) + 4 + 24;
	len += strlen(to->name) + 32;
	if ((text = p = malloc(len)) == NULL)
		abort();
	for (i = n; i-- > 0;)
		p += sprintf(p, "%s -> ", m->services[path[i]]->name);
	p += sprintf(p, "%s: ", to->name);
	/* The tries of each hop, the first hop's first. */
	for (i = n - 1; i-- > 0;)
		p += sprintf(p, "%llu x ",
		    (unsigned long long)tries(m->services[path[i]]));
	sprintf(p, "%llu", (unsigned long long)tries(to));
	free(path);
	return text;
}

static void
check_amplification(const struct mc_mesh *m, struct msh_diag *d)
{
	uint64_t limit = m->max_retry_amplification;
	struct amp a = { .m = m, .d = d };
	size_t i, j, n = m->nservices;

	if (limit == 0 || n == 0)
		return;
	if ((a.state = calloc(n, 1)) == NULL ||
	    (a.order = calloc(n, sizeof(*a.order))) == NULL ||
	    (a.calls = calloc(n, sizeof(*a.calls))) == NULL ||
	    (a.via = calloc(n, sizeof(*a.via))) == NULL ||
	    (a.back = calloc(n, sizeof(*a.back))) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		if ((a.back[i] = calloc(m->services[i]->ndeps + 1, 1)) == NULL)
			abort();
		a.calls[i] = 1;
		a.via[i] = -1;
	}
	for (i = 0; i < n; i++)
		if (a.state[i] == 0)
			amp_visit(&a, i);
	/* Callers first: every caller of a service is done before it. */
	for (i = n; i-- > 0;) {
		size_t u = a.order[i];
		const struct mc_service *s = m->services[u];

		for (j = 0; j < s->ndeps; j++) {
			const struct mc_service *to;
			uint64_t calls;
			ssize_t v, root;
			char *chain;

			if (a.back[u][j])
				continue;
			v = mc_service_index(m, s->deps[j].name);
			to = m->services[v];
			calls = saturating_mul(a.calls[u], tries(to));
			if (a.calls[u] <= limit && calls > limit) {
				for (root = u; a.via[root] >= 0;
				    root = a.via[root])
					;
				chain = amp_chain(&a, u, to);
				msh_diag_warning(d, "retry-amplification",
				    s->deps[j].at.file, s->deps[j].at.line,
				    "retry amplification: one request to "
				    "\"%s\" can make %llu calls to \"%s\" "
				    "(%s), more than max_retry_amplification "
				    "%llu", m->services[root]->name,
				    (unsigned long long)calls, to->name, chain,
				    (unsigned long long)limit);
				free(chain);
			}
			if (calls > a.calls[v]) {
				a.calls[v] = calls;
				a.via[v] = u;
			}
		}
	}
	for (i = 0; i < n; i++)
		free(a.back[i]);
	free(a.back);
	free(a.via);
	free(a.calls);
	free(a.order);
	free(a.state);
}

/* How long one try of a call to s may wait for its response head: meshd
 * takes per_try_timeout only when it is shorter than response_timeout. */
static uint64_t
try_time(const struct mc_service *s, const char **which)
{
	const struct mc_policy_set *p = &s->eff;

	if (p->per_try_timeout != 0 &&
	    p->per_try_timeout < p->response_timeout) {
		*which = "per_try_timeout";
		return p->per_try_timeout;
	}
	*which = "response_timeout";
	return p->response_timeout;
}

/*
 * The longest a call to s can take with its retries, backoff aside, and
 * how, in why: every try its whole try time when a retry may follow a try
 * s received; else the retries follow failed connections, each up to
 * connect_timeout, before the one try that connects.
 */
static uint64_t
call_time(const struct mc_service *s, char *why, size_t len)
{
	char one[MSH_DURATION_STRLEN], c[MSH_DURATION_STRLEN];
	const char *which;
	uint64_t t = try_time(s, &which), n = s->eff.retries, c_total;

	msh_format_duration(t, one, sizeof(one));
	if (retries_reach(s)) {
		snprintf(why, len, "%llu tries of %s (%s)",
		    (unsigned long long)n + 1, one, which);
		return saturating_mul(t, n + 1);
	}
	if (n == 0) {
		snprintf(why, len, "1 try of %s (%s)", one, which);
		return t;
	}
	msh_format_duration(s->eff.connect_timeout, c, sizeof(c));
	snprintf(why, len, "1 try of %s (%s) after %llu failed connection%s "
	    "of %s (connect_timeout)", one, which, (unsigned long long)n,
	    n == 1 ? "" : "s", c);
	c_total = saturating_mul(s->eff.connect_timeout, n);
	return c_total > UINT64_MAX - t ? UINT64_MAX : c_total + t;
}

/*
 * Timeout budgets: a service's request_timeout, which its callers' and
 * its own sidecar apply to a request to it, shorter than what its calls
 * to a dependency can take with the dependency's retries. Its callers
 * give up while it still retries. HTTP only: tunnels have neither.
 */
static void
check_budget(const struct mc_mesh *m, const struct mc_service *s,
    struct msh_diag *d)
{
	const struct mc_origin *at = &s->eff.request_timeout_at;
	char have[MSH_DURATION_STRLEN], need[MSH_DURATION_STRLEN];
	char why[256], ref[4096];
	size_t j;

	if (s->protocol != MC_HTTP || s->eff.request_timeout == 0)
		return;
	for (j = 0; j < s->ndeps; j++) {
		const struct mc_dep *dep = &s->deps[j];
		const struct mc_service *to = mc_find_service(m, dep->name);
		uint64_t total;

		if (to == NULL || to == s || to->protocol != MC_HTTP)
			continue;
		total = call_time(to, why, sizeof(why));
		if (s->eff.request_timeout >= total)
			continue;
		msh_diag_warning(d, "timeout-budget", dep->at.file,
		    dep->at.line, "timeout budget: requests to \"%s\" time "
		    "out after %s (request_timeout, %s), but its calls to "
		    "\"%s\" can take %s: %s", s->name,
		    msh_format_duration(s->eff.request_timeout, have,
		    sizeof(have)), mc_origin_ref(at, dep->at.file, ref,
		    sizeof(ref)), to->name, msh_format_duration(total, need,
		    sizeof(need)), why);
	}
}

/* A rate_limit_burst that reaches a service with no rate_limit. */
static void
check_burst(const struct mc_service *s, struct msh_diag *d)
{
	const struct mc_origin *at = &s->eff.rate_limit_burst_at;

	if (at->line != 0 && s->eff.rate_limit.n == 0)
		msh_diag_warning(d, "unused-key", at->file, at->line,
		    "service \"%s\" gets rate_limit_burst, but no rate_limit: "
		    "ignored", s->name);
}

void
mc_check_policies(struct mc_mesh *m, struct msh_diag *d)
{
	size_t i;

	for (i = 0; i < m->nservices; i++) {
		check_hash_key(m->services[i], d);
		check_burst(m->services[i], d);
	}
	check_amplification(m, d);
	for (i = 0; i < m->nservices; i++)
		check_budget(m, m->services[i], d);
}
