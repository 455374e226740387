/*
 * Policies: what a caller's sidecar applies to its calls to a service
 * (timeouts, retries, circuit breaking, outlier detection, balancing),
 * the keys of a meshd.conf [cluster]. Named [policy NAME] sections hold
 * them, [mesh] and [service] attach those with policy = NAME and may set
 * the keys themselves; this file has the keys and resolves each service's
 * effective policy.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const size_t mc_nlbs = sizeof(mc_lbs) / sizeof(mc_lbs[0]);

/*
 * The policy keys, in the order a compiled [cluster] lists them. Names,
 * value forms and ranges are meshd's ([cluster] in src/conf.c), read with
 * the same parsers (lib/value.c); t/unit/test_mesh.c holds the two tables
 * and the two sets of defaults to each other.
 */
#define POLICY_R(k, kind, f, lo, hi) \
	{ MC_SEC_POLICY, k, kind, offsetof(struct mc_policy_set, f), \
	    offsetof(struct mc_policy_set, f##_at), lo, hi }
#define POLICY(k, kind, f)	POLICY_R(k, kind, f, 0, 0)

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
	POLICY("ejection_time", MC_V_DURATION, ejection_time),
	POLICY("max_ejection_time", MC_V_DURATION, max_ejection_time),
	POLICY_R("max_ejected_percent", MC_V_COUNT, max_ejected_percent, 0,
	    100),
};

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
	size_t i;

	for (i = 0; i < m->npolicies; i++)
		if (strcmp(m->policies[i]->name, name) == 0)
			return m->policies[i];
	return NULL;
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

const char *
mc_policy_value(const struct mc_service *s, const struct mc_directive *k,
    char *buf, size_t len)
{
	const void *v = (const char *)&s->eff + k->offset;

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
		return mc_hash_key_value(s, buf, len);
	default:
		break;
	}
	abort();
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

void
mc_check_policies(struct mc_mesh *m, struct msh_diag *d)
{
	size_t i;

	for (i = 0; i < m->nservices; i++)
		check_hash_key(m->services[i], d);
}
