#include "config.h"

#include <sys/types.h>

#define PCRE2_CODE_UNIT_WIDTH 8

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iniread.h"
#include "map.h"
#include "mesh.h"
#include "spell.h"

static int
by_name(const void *a, const void *b)
{
	const struct mc_service *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static void
check_required(struct mc_mesh *m, struct msh_diag *d)
{
	size_t i;

	if (m->at.line == 0) {
		msh_diag_error(d, "missing-key",
		    m->files[0], 0, "no [mesh] section");
	} else {
		if (m->name == NULL)
			msh_diag_error(d, "missing-key", m->at.file, m->at.line,
			    "[mesh] needs a name");
		if (m->registry == NULL)
			msh_diag_error(d, "missing-key", m->at.file, m->at.line,
			    "[mesh] needs a registry file");
	}
	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];

		if (s->app_port_at.line == 0)
			msh_diag_error(d, "missing-key", s->at.file, s->at.line,
			    "service \"%s\" needs an app_port", s->name);
		if (s->inbound_port_at.line == 0)
			msh_diag_error(d, "missing-key", s->at.file, s->at.line,
			    "service \"%s\" needs an inbound_port", s->name);
	}
}

static void
check_deps(struct mc_mesh *m, struct msh_diag *d)
{
	const char **names;
	size_t i, j, k;

	if ((names = calloc(m->nservices + 1, sizeof(*names))) == NULL)
		abort();
	for (i = 0; i < m->nservices; i++)
		names[i] = m->services[i]->name;
	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];

		for (j = 0; j < s->ndeps; j++) {
			struct mc_dep *dep = &s->deps[j];
			const char *suggest;
			char ref[4096];

			for (k = 0; k < j; k++)
				if (strcmp(s->deps[k].name, dep->name) == 0)
					break;
			if (k < j) {
				msh_diag_warning(d, "duplicate-dependency",
				    dep->at.file, dep->at.line,
				    "service \"%s\" lists dependency \"%s\" "
				    "twice (first at %s)", s->name, dep->name,
				    mc_origin_ref(&s->deps[k].at, dep->at.file,
				    ref, sizeof(ref)));
				/* Warned once: drop it, so nothing after
				 * this sees the same dependency twice. */
				free(dep->name);
				memmove(dep, dep + 1,
				    (s->ndeps - j - 1) * sizeof(*dep));
				s->ndeps--;
				j--;
				continue;
			}
			if (strcmp(dep->name, s->name) == 0) {
				msh_diag_error(d, "self-dependency",
				    dep->at.file, dep->at.line,
				    "service \"%s\" depends on itself",
				    s->name);
				continue;
			}
			if (mc_find_service(m, dep->name) != NULL)
				continue;
			suggest = msh_spell_suggest(dep->name, names,
			    m->nservices);
			if (suggest != NULL)
				msh_diag_error(d, "unknown-service",
				    dep->at.file, dep->at.line,
				    "service \"%s\" depends on unknown service "
				    "\"%s\"; did you mean \"%s\"?", s->name,
				    dep->name, suggest);
			else
				msh_diag_error(d, "unknown-service",
				    dep->at.file, dep->at.line,
				    "service \"%s\" depends on unknown service "
				    "\"%s\"", s->name, dep->name);
		}
	}
	free(names);
}

/* A service a rule names must exist; say which one it may have meant. */
static int
known_service(const struct mc_mesh *m, const char *name,
    const struct mc_origin *at, const char *kind, const char *entry,
    struct msh_diag *d)
{
	const char **names;
	const char *suggest;
	size_t i;

	if (mc_find_service(m, name) != NULL)
		return 1;
	if ((names = calloc(m->nservices + 1, sizeof(*names))) == NULL)
		abort();
	for (i = 0; i < m->nservices; i++)
		names[i] = m->services[i]->name;
	suggest = msh_spell_suggest(name, names, m->nservices);
	msh_diag_error(d, "unknown-service", at->file, at->line,
	    "%s \"%s\" names unknown service \"%s\"%s%s%s", kind, entry, name,
	    suggest ? "; did you mean \"" : "", suggest ? suggest : "",
	    suggest ? "\"?" : "");
	free(names);
	return 0;
}

/* A regex meshd would refuse: say so at its line, as PCRE2 does. */
static void
check_regex(const char *pattern, const struct mc_origin *at,
    struct msh_diag *d)
{
	PCRE2_UCHAR msg[128];
	PCRE2_SIZE off;
	pcre2_code *re;
	int err;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0,
	    &err, &off, NULL);
	if (re != NULL) {
		pcre2_code_free(re);
		return;
	}
	pcre2_get_error_message(err, msg, sizeof(msg));
	msh_diag_error(d, "bad-regex", at->file, at->line,
	    "regex \"%s\" does not compile: %s at offset %zu", pattern,
	    (char *)msg, (size_t)off);
}

/* Each service's routes, mirroring routes, rules and edges, in the mesh's
 * order (those for an unknown service are reported by themselves), and
 * each route's index. */
static void
index_by_service(struct mc_mesh *m)
{
	struct mc_service *s;
	size_t i;

	for (i = 0; i < m->nroutes; i++) {
		struct mc_route *r = m->routes[i];

		r->index = i;
		if (r->service == NULL ||
		    (s = mc_find_service(m, r->service)) == NULL)
			continue;
		mc_append((void ***)&s->routes, &s->nroutes, r);
		if (mc_mirror_service(m, r) != NULL)
			mc_append((void ***)&s->mirrors, &s->nmirrors, r);
	}
	for (i = 0; i < m->nrules; i++)
		if (m->rules[i]->service != NULL &&
		    (s = mc_find_service(m, m->rules[i]->service)) != NULL)
			mc_append((void ***)&s->rules, &s->nrules,
			    m->rules[i]);
	for (i = 0; i < m->nedges; i++)
		if (m->edges[i]->service != NULL &&
		    (s = mc_find_service(m, m->edges[i]->service)) != NULL)
			mc_append((void ***)&s->edges, &s->nedges,
			    m->edges[i]);
}

/*
 * Whom the allow rules let call which service, for rules_allow: a table
 * of "CALLEE\nCALLER" and, for a rule with no callers, "CALLEE\n" (no
 * name has a newline), to the rule. The table keeps copies of the keys.
 */
static void
allow_table(const struct mc_mesh *m, struct msh_map *t)
{
	size_t i, j;
	char *k;
	int n;

	for (i = 0; i < m->nrules; i++) {
		const struct mc_rule *r = m->rules[i];

		if (r->service == NULL || !r->allow)
			continue;
		for (j = 0; j == 0 || j < r->callers.n; j++) {
			const char *caller = r->callers.n > 0 ?
			    r->callers.v[j].name : "";

			if ((k = malloc(strlen(r->service) + strlen(caller) +
			    2)) == NULL)
				abort();
			n = sprintf(k, "%s\n%s", r->service, caller);
			msh_map_add_copy(t, k, n, (void *)r);
			free(k);
		}
	}
}

/* Can any rule of callee let caller make a call? */
static int
rules_allow(const struct msh_map *allowed, const char *callee,
    const char *caller)
{
	char k[2 * MSH_NAME_MAX + 2];

	snprintf(k, sizeof(k), "%s\n", callee);
	if (msh_map_find(allowed, k, strlen(k)) != NULL)
		return 1;
	snprintf(k, sizeof(k), "%s\n%s", callee, caller);
	return msh_map_find(allowed, k, strlen(k)) != NULL;
}

/*
 * Authorization: each rule is for a known service and names known
 * callers, who can only be told apart over mTLS; and a dependency the
 * callee's rules would refuse every call of is a mistake to catch here,
 * not in production.
 */
static void
check_rules(const struct mc_mesh *m, struct msh_diag *d)
{
	struct msh_map allowed = { 0 };
	size_t i, j;

	for (i = 0; i < m->nrules; i++) {
		const struct mc_rule *r = m->rules[i];
		const struct mc_service *s;

		if (r->service == NULL) {
			msh_diag_error(d, "missing-key", r->at.file, r->at.line,
			    "rule \"%s\" needs a service", r->name);
			continue;
		}
		if (r->allow_at.line == 0)
			msh_diag_error(d, "missing-key", r->at.file, r->at.line,
			    "rule \"%s\" needs an action: allow or deny",
			    r->name);
		if (!!r->path_at.line + !!r->path_exact_at.line +
		    !!r->path_regex_at.line > 1)
			msh_diag_error(d, "bad-value", r->at.file, r->at.line,
			    "rule \"%s\" sets more than one of path, "
			    "path_exact and path_regex", r->name);
		if (r->path_regex != NULL)
			check_regex(r->path_regex, &r->path_regex_at, d);
		if (!known_service(m, r->service, &r->service_at, "rule",
		    r->name, d))
			continue;
		for (j = 0; j < r->callers.n; j++)
			known_service(m, r->callers.v[j].name,
			    &r->callers.v[j].at, "rule", r->name, d);
		s = mc_find_service(m, r->service);
		if (r->callers.n > 0 && s->mtls == MC_MTLS_OFF)
			msh_diag_error(d, "bad-value", r->service_at.file,
			    r->service_at.line, "rule \"%s\" names callers, "
			    "but service \"%s\" has mtls = off: callers are "
			    "told apart by their certificates", r->name,
			    r->service);
		/* meshd checks a tcp connection once, with no request. */
		if (s->protocol == MC_TCP && (r->path != NULL ||
		    r->path_exact != NULL || r->path_regex != NULL ||
		    r->method != NULL))
			msh_diag_error(d, "bad-value", r->service_at.file,
			    r->service_at.line, "rule \"%s\" matches paths or "
			    "methods, but service \"%s\" is protocol = tcp: "
			    "its rules can match only callers and source",
			    r->name, r->service);
	}
	allow_table(m, &allowed);
	for (i = 0; i < m->nservices; i++) {
		const struct mc_service *s = m->services[i];

		for (j = 0; j < s->ndeps; j++) {
			const struct mc_service *callee =
			    mc_find_service(m, s->deps[j].name);

			if (callee == NULL || callee->nrules == 0 ||
			    rules_allow(&allowed, callee->name, s->name))
				continue;
			msh_diag_warning(d, "denied-dependency",
			    s->deps[j].at.file, s->deps[j].at.line,
			    "service \"%s\" depends on \"%s\", whose rules "
			    "let it make no call", s->name, callee->name);
		}
	}
	msh_map_free(&allowed);
}

/* "NAME key=value, ..." of a subset: its labels, and its name in buf. */
const char *
mc_subset_labels(const char *item, char *name, size_t len)
{
	size_t n = strcspn(item, " \t");
	const char *l = item + n;

	snprintf(name, len, "%.*s", (int)n, item);
	while (*l == ' ' || *l == '\t')
		l++;
	return l;
}

const char *
mc_find_subset(const struct mc_service *s, const char *name)
{
	char n[MSH_NAME_MAX + 1];
	const char *labels;
	size_t i;

	for (i = 0; i < s->subset.n; i++) {
		labels = mc_subset_labels(s->subset.v[i].name, n, sizeof(n));
		if (strcmp(n, name) == 0)
			return labels;
	}
	return NULL;
}

static void
check_subsets(const struct mc_mesh *m, const struct mc_service *s,
    struct msh_diag *d)
{
	char name[256], cluster[2 * MSH_NAME_MAX + 3];
	const struct mc_ref *it;
	const char *labels, *err;
	size_t i, j;

	for (i = 0; i < s->subset.n; i++) {
		it = &s->subset.v[i];
		labels = mc_subset_labels(it->name, name, sizeof(name));
		if (msh_check_name(name, &err) != 0 ||
		    msh_check_labels(labels, &err) != 0) {
			msh_diag_error(d, "bad-value", it->at.file, it->at.line,
			    "bad value \"%s\" for \"subset\": expected NAME "
			    "key=value[, key=value...]", it->name);
			continue;
		}
		for (j = 0; j < i; j++)
			if (strncmp(s->subset.v[j].name, name, strlen(name))
			    == 0 && strchr(" \t", s->subset.v[j].name[
			    strlen(name)]) != NULL)
				msh_diag_error(d, "duplicate", it->at.file,
				    it->at.line, "subset \"%s\" of service "
				    "\"%s\" is defined twice", name, s->name);
		/* Its callers' cluster for it: SERVICE__SUBSET. */
		snprintf(cluster, sizeof(cluster), "%s__%s", s->name, name);
		if (mc_find_service(m, cluster) != NULL)
			msh_diag_error(d, "bad-name", it->at.file, it->at.line,
			    "subset \"%s\" of \"%s\" would compile to cluster "
			    "\"%s\", a service's name", name, s->name, cluster);
		else if (strlen(cluster) > MSH_NAME_MAX)
			msh_diag_error(d, "bad-name", it->at.file, it->at.line,
			    "subset \"%s\" of \"%s\" would compile to cluster "
			    "\"%s\", longer than the %d bytes of a name", name,
			    s->name, cluster, MSH_NAME_MAX);
	}
}

/* The names of s's subsets into cand, at most max: each to free. */
static size_t
subset_names(const struct mc_service *s, const char **cand, size_t max)
{
	char n[256];
	size_t i, k = 0;

	for (i = 0; i < s->subset.n && k < max; i++) {
		mc_subset_labels(s->subset.v[i].name, n, sizeof(n));
		if ((cand[k] = strdup(n)) != NULL)
			k++;
	}
	return k;
}

/* A subset a route names must be its service's. */
static int
known_subset(const struct mc_service *s, const char *name,
    const struct mc_origin *at, const char *route, struct msh_diag *d)
{
	const char *cand[64] = { NULL }, *suggest;
	size_t i, k;

	if (mc_find_subset(s, name) != NULL)
		return 1;
	k = subset_names(s, cand, 64);
	suggest = msh_spell_suggest(name, cand, k);
	msh_diag_error(d, "unknown-subset", at->file, at->line,
	    "route \"%s\" sends to unknown subset \"%s\" of service \"%s\""
	    "%s%s%s", route, name, s->name, suggest ? "; did you mean \"" : "",
	    suggest ? suggest : "", suggest ? "\"?" : "");
	for (i = 0; i < k; i++)
		free((char *)cand[i]);
	return 0;
}

struct split_check {
	const struct mc_service	*s;
	const struct mc_route	*r;
	struct msh_diag		*d;
	unsigned long		 total;
	int			 want_weight;
	int			 bad;
};

static int
split_word(void *arg, const char *word)
{
	struct split_check *c = arg;
	unsigned long w;
	const char *err;

	if (c->want_weight) {
		c->want_weight = 0;
		if (msh_parse_uint(word, 0, 100, &w, &err) != 0) {
			c->bad = 1;
			return -1;
		}
		c->total += w;
		return 0;
	}
	c->want_weight = 1;
	if (!known_subset(c->s, word, &c->r->split_at, c->r->name, c->d))
		c->bad = 2;
	return 0;
}

int
mc_route_sends_to(const struct mc_route *r, const char *subset)
{
	const char *p;
	size_t n, k;

	if (r->to != NULL && strcmp(r->to, subset) == 0)
		return 1;
	/* "subset weight, ...": every other word. */
	for (p = r->split, k = 0; p != NULL; p += n, k++) {
		p += strspn(p, ", \t");
		if ((n = strcspn(p, ", \t")) == 0)
			return 0;
		if (k % 2 == 0 && n == strlen(subset) &&
		    strncmp(p, subset, n) == 0)
			return 1;
	}
	return 0;
}

const struct mc_service *
mc_mirror_service(const struct mc_mesh *m, const struct mc_route *r)
{
	const struct mc_service *s;

	if (r->mirror == NULL || r->service == NULL ||
	    ((s = mc_find_service(m, r->service)) != NULL &&
	    mc_find_subset(s, r->mirror) != NULL))
		return NULL;
	return mc_find_service(m, r->mirror);
}

int
mc_depends_on(const struct mc_service *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->ndeps; i++)
		if (strcmp(s->deps[i].name, name) == 0)
			return 1;
	return 0;
}

static int
by_index(const void *a, const void *b)
{
	const struct mc_route *const *x = a, *const *y = b;

	return (*x)->index < (*y)->index ? -1 : (*x)->index > (*y)->index;
}

const struct mc_service **
mc_mirror_services(const struct mc_mesh *m, const struct mc_service *s,
    size_t *n)
{
	const struct mc_service **out, *to;
	struct mc_route **mirrors = NULL;
	size_t i, j, k = 0;

	/* The routes of its dependencies that mirror to a service, in the
	 * mesh's order: those of each dependency are. */
	for (i = 0; i < s->ndeps; i++) {
		const struct mc_service *d;

		d = mc_find_service(m, s->deps[i].name);
		for (j = 0; d != NULL && j < d->nmirrors; j++)
			mc_append((void ***)&mirrors, &k, d->mirrors[j]);
	}
	if (k > 1)
		qsort(mirrors, k, sizeof(*mirrors), by_index);
	if ((out = calloc(k + 1, sizeof(*out))) == NULL)
		abort();
	for (*n = 0, i = 0; i < k; i++) {
		to = mc_mirror_service(m, mirrors[i]);
		for (j = 0; j < *n && out[j] != to; j++)
			;
		if (j == *n)
			out[(*n)++] = to;
	}
	free(mirrors);
	return out;
}

/*
 * A route's mirror: a subset of its service or, if it has none of that
 * name, an http service of the mesh. Not for a route that answers
 * itself; a warning when the copies go where the requests themselves do.
 */
static void
check_mirror(const struct mc_mesh *m, const struct mc_service *s,
    const struct mc_route *r, struct msh_diag *d)
{
	const struct mc_origin *at = &r->mirror_at;
	const struct mc_service *to;
	const char **cand, *suggest;
	size_t i, k;

	if (r->mirror == NULL) {
		if (r->mirror_percent_at.line)
			msh_diag_error(d, "missing-key",
			    r->mirror_percent_at.file, r->mirror_percent_at.line,
			    "route \"%s\" sets mirror_percent but no mirror",
			    r->name);
		return;
	}
	if (r->direct_response != NULL || r->redirect != NULL) {
		msh_diag_error(d, "bad-value", at->file, at->line, "route \"%s\" "
		    "answers itself: it sends no request to mirror", r->name);
		return;
	}
	if (mc_find_subset(s, r->mirror) != NULL) {
		if (mc_route_sends_to(r, r->mirror))
			msh_diag_warning(d, "mirror-same", at->file, at->line,
			    "route \"%s\" mirrors to subset \"%s\", where it "
			    "sends the requests themselves", r->name, r->mirror);
		return;
	}
	if ((to = mc_find_service(m, r->mirror)) != NULL) {
		if (to->protocol != MC_HTTP)
			msh_diag_error(d, "bad-value", at->file, at->line,
			    "route \"%s\" mirrors to service \"%s\", which is "
			    "not protocol = http", r->name, to->name);
		else if (to == s)
			msh_diag_warning(d, "mirror-same", at->file, at->line,
			    "route \"%s\" mirrors to service \"%s\", where it "
			    "sends the requests themselves", r->name, to->name);
		return;
	}
	if ((cand = calloc(64 + m->nservices, sizeof(*cand))) == NULL)
		abort();
	k = subset_names(s, cand, 64);
	for (i = 0; i < m->nservices; i++)
		cand[k + i] = m->services[i]->name;
	suggest = msh_spell_suggest(r->mirror, cand, k + m->nservices);
	msh_diag_error(d, "unknown-mirror", at->file, at->line,
	    "route \"%s\" mirrors to \"%s\", neither a subset of service "
	    "\"%s\" nor a service%s%s%s", r->name, r->mirror, s->name,
	    suggest ? "; did you mean \"" : "", suggest ? suggest : "",
	    suggest ? "\"?" : "");
	for (i = 0; i < k; i++)
		free((char *)cand[i]);
	free(cand);
}

/* Does a route have no match key: does it take every request? */
static int
matches_all(const struct mc_route *r)
{
	return r->path == NULL && r->path_exact == NULL &&
	    r->path_regex == NULL && r->method == NULL && r->header.n == 0 &&
	    r->header_regex.n == 0 && r->header_present.n == 0 &&
	    r->header_absent.n == 0;
}

/* A part of a match_key: a kind, the text if any, a newline. */
static char *
key_part(char *p, char kind, const char *text)
{
	size_t n = text != NULL ? strlen(text) : 0;

	*p++ = kind;
	if (n > 0)
		memcpy(p, text, n);
	p[n] = '\n';
	return p + n + 1;
}

/*
 * A route's service and match keys as one string, the same for two routes
 * exactly when they are for the same service with the same match keys:
 * a line for the service, one for each key ("=" and its value, or "-"
 * when absent), one for each item of each list ("+" and the item) and a
 * "." after each list. Values are lines: none has a newline. With r NULL,
 * that of a route with no match key, which takes every request.
 */
static char *
match_key(const char *service, const struct mc_route *r)
{
	static const struct mc_route none;
	const struct mc_route *k = r != NULL ? r : &none;
	const char *one[] = { k->path, k->path_exact, k->path_regex,
	    k->method };
	const struct mc_refs *list[] = { &k->header, &k->header_regex,
	    &k->header_present, &k->header_absent };
	size_t len = strlen(service) + 2, i, j;
	char *key, *p;

	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		len += (one[i] != NULL ? strlen(one[i]) : 0) + 2;
	for (i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		for (j = 0; j < list[i]->n; j++)
			len += strlen(list[i]->v[j].name) + 2;
		len += 2;
	}
	if ((key = p = malloc(len + 1)) == NULL)
		abort();
	p = key_part(p, '@', service);
	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		p = key_part(p, one[i] != NULL ? '=' : '-', one[i]);
	for (i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		for (j = 0; j < list[i]->n; j++)
			p = key_part(p, '+', list[i]->v[j].name);
		p = key_part(p, '.', NULL);
	}
	*p = '\0';
	return key;
}

/*
 * For each route, the first one before it that takes every request it
 * would, as its index in m->routes plus 1, or 0: the earlier of the first
 * catch-all of its service and the first route with its service and
 * match keys, both found in a table of the first route of each, in one
 * pass.
 */
static size_t *
find_shadows(const struct mc_mesh *m)
{
	struct msh_map first = { 0 };
	struct mc_route **same, **all;
	char *key;
	size_t *by, i;

	if ((by = calloc(m->nroutes + 1, sizeof(*by))) == NULL)
		abort();
	for (i = 0; i < m->nroutes; i++) {
		const struct mc_route *r = m->routes[i];

		if (r->service == NULL)
			continue;
		key = match_key(r->service, r);
		same = msh_map_add_copy(&first, key, strlen(key),
		    &m->routes[i]);
		free(key);
		key = match_key(r->service, NULL);
		if ((all = msh_map_find(&first, key, strlen(key))) ==
		    &m->routes[i])
			all = NULL;
		free(key);
		if (same == NULL || (all != NULL && all < same))
			same = all;
		if (same != NULL)
			by[i] = same - m->routes + 1;
	}
	msh_map_free(&first);
	return by;
}

/* A key of route r that does nothing, as the key it goes with is off. */
static void
unused_key(const struct mc_route *r, const struct mc_origin *at,
    int needed_on, const char *key, const char *needs, struct msh_diag *d)
{
	if (at->line != 0 && !needed_on)
		msh_diag_warning(d, "unused-key", at->file, at->line,
		    "route \"%s\" sets %s, but no %s: ignored", r->name, key,
		    needs);
}

static void
check_routes(const struct mc_mesh *m, struct msh_diag *d)
{
	size_t i, j, *shadow = find_shadows(m);

	for (i = 0; i < m->nservices; i++)
		check_subsets(m, m->services[i], d);
	for (i = 0; i < m->nroutes; i++) {
		const struct mc_route *r = m->routes[i];
		const struct mc_service *s;
		unsigned n;

		if (r->service == NULL) {
			msh_diag_error(d, "missing-key", r->at.file, r->at.line,
			    "route \"%s\" needs a service", r->name);
			continue;
		}
		if (r->path_regex != NULL)
			check_regex(r->path_regex, &r->path_regex_at, d);
		for (j = 0; j < r->header_regex.n; j++) {
			const char *v = strchr(r->header_regex.v[j].name, ':');

			if (v != NULL)
				check_regex(v + 1 + strspn(v + 1, " \t"),
				    &r->header_regex.v[j].at, d);
		}
		if (!!r->path_at.line + !!r->path_exact_at.line +
		    !!r->path_regex_at.line > 1)
			msh_diag_error(d, "bad-value", r->at.file, r->at.line,
			    "route \"%s\" sets more than one of path, "
			    "path_exact and path_regex", r->name);
		/* None: all the service's instances. */
		n = !!r->to + !!r->split + !!r->direct_response +
		    !!r->redirect;
		if (n > 1)
			msh_diag_error(d, "bad-value", r->at.file, r->at.line,
			    "route \"%s\" sets more than one of to, split, "
			    "direct_response and redirect", r->name);
		unused_key(r, &r->fault_delay_percent_at, r->fault_delay != 0,
		    "fault_delay_percent", "fault_delay", d);
		unused_key(r, &r->fault_abort_percent_at, r->fault_abort != 0,
		    "fault_abort_percent", "fault_abort", d);
		unused_key(r, &r->rate_limit_burst_at, r->rate_limit.n != 0,
		    "rate_limit_burst", "rate_limit", d);
		if (!known_service(m, r->service, &r->service_at, "route",
		    r->name, d))
			continue;
		s = mc_find_service(m, r->service);
		if (s->protocol != MC_HTTP)
			msh_diag_error(d, "bad-value", r->service_at.file,
			    r->service_at.line, "route \"%s\" is for service "
			    "\"%s\", which is not protocol = http", r->name,
			    s->name);
		if (r->to != NULL)
			known_subset(s, r->to, &r->to_at, r->name, d);
		if (r->split != NULL) {
			struct split_check c = { s, r, d, 0, 0, 0 };

			msh_split_list(r->split, split_word, &c);
			if (c.bad == 1 || c.want_weight)
				msh_diag_error(d, "bad-value", r->split_at.file,
				    r->split_at.line, "bad value \"%s\" for "
				    "\"split\": expected \"subset weight, ...\" "
				    "with weights 0 to 100", r->split);
			else if (c.bad == 0 && c.total != 100)
				msh_diag_error(d, "split-weights",
				    r->split_at.file, r->split_at.line,
				    "route \"%s\" splits %lu%%, not 100%%",
				    r->name, c.total);
		}
		check_mirror(m, s, r, d);
		if (shadow[i] != 0) {
			const struct mc_route *e = m->routes[shadow[i] - 1];

			msh_diag_warning(d, "route-shadowed", r->at.file,
			    r->at.line, "route \"%s\" is never reached: route "
			    "\"%s\" before it takes %s", r->name, e->name,
			    matches_all(e) ? "every request" :
			    "the same requests");
		}
	}
	free(shadow);
}

int
mc_parse_sni(const char *item, struct mc_sni *sni)
{
	char *w[3] = { sni->host, sni->cert, sni->key };
	const char *p = item;
	size_t n, i;

	for (i = 0; i < 3; i++) {
		p += strspn(p, " \t");
		if ((n = strcspn(p, " \t")) == 0 || n >= sizeof(sni->host))
			return -1;
		memcpy(w[i], p, n);
		w[i][n] = '\0';
		p += n;
	}
	return p[strspn(p, " \t")] == '\0' ? 0 : -1;
}

/* A name a client may ask for: labels of letters, digits and '-', the
 * first of them '*' for a wildcard of one label. */
static int
sni_host(const char *h)
{
	size_t n;

	if (strncmp(h, "*.", 2) == 0)
		h += 2;
	for (;;) {
		n = strspn(h, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
		if (n == 0 || n > 63)
			return 0;
		if (h[n] == '\0')
			return 1;
		if (h[n] != '.')
			return 0;
		h += n + 1;
	}
}

/* Will "key = value" fit on a line meshd reads? Said if not. */
static int
fits(const char *key, const char *value, const struct mc_origin *at,
    const char *written, struct msh_diag *d)
{
	size_t n = strlen(key) + strlen(" = ") + strlen(written);

	if (n <= MSH_INI_MAX_LINE)
		return 1;
	msh_diag_error(d, "bad-value", at->file, at->line, "bad value \"%s\" "
	    "for \"%s\": meshd.conf would have it on a line of %zu bytes, at "
	    "most %d are allowed", value, key, n, MSH_INI_MAX_LINE);
	return 0;
}

/*
 * A relative path of an edge is in tls_dir, with the files of the mesh's
 * identities: SERVICE.crt and .key, the CA's ca.crt (and ca.key, where
 * meshc certs keeps it). Another's file is an edge's by mistake: said,
 * with who has it.
 */
static int
mesh_file(const struct mc_mesh *m, const char *path, const char *key,
    const char *value, const struct mc_origin *at, struct msh_diag *d)
{
	const char *dot = strrchr(path, '.');
	char name[MSH_NAME_MAX + 1];
	size_t n;

	if (dot == NULL || (strcmp(dot, ".crt") != 0 &&
	    strcmp(dot, ".key") != 0) || (n = dot - path) > MSH_NAME_MAX)
		return 0;
	memcpy(name, path, n);
	name[n] = '\0';
	if (strcmp(name, "ca") == 0)
		msh_diag_error(d, "bad-value", at->file, at->line, "bad value "
		    "\"%s\" for \"%s\": %s in tls_dir is the mesh CA's",
		    value, key, path);
	else if (mc_find_service(m, name) != NULL)
		msh_diag_error(d, "bad-value", at->file, at->line, "bad value "
		    "\"%s\" for \"%s\": %s in tls_dir is the identity of "
		    "service \"%s\"", value, key, path, name);
	else
		return 0;
	return -1;
}

/* An edge's certificates: a pair, the SNI ones well formed, each name
 * once, none the mesh's own files, and every line short enough once in
 * tls_dir. */
static void
check_edge_tls(const struct mc_mesh *m, const struct mc_edge *e,
    struct msh_diag *d)
{
	char path[4096], line[3 * 4096 + 2];
	struct mc_sni sni, other;
	size_t i, j;

	if (!!e->tls_cert_at.line != !!e->tls_key_at.line)
		msh_diag_error(d, "missing-key", e->at.file, e->at.line,
		    "edge \"%s\" needs both tls_cert and tls_key", e->name);
	else if (e->tls_sni.n > 0 && e->tls_cert_at.line == 0)
		msh_diag_error(d, "missing-key", e->at.file, e->at.line,
		    "edge \"%s\" has tls_sni but no tls_cert and tls_key: the "
		    "certificate for clients that ask for another name or "
		    "none", e->name);
	if (e->tls_cert_at.line != 0) {
		mesh_file(m, e->tls_cert, "tls_cert", e->tls_cert,
		    &e->tls_cert_at, d);
		fits("tls_cert", e->tls_cert, &e->tls_cert_at,
		    mc_edge_path(m, e->tls_cert, path, sizeof(path)), d);
	}
	if (e->tls_key_at.line != 0) {
		mesh_file(m, e->tls_key, "tls_key", e->tls_key,
		    &e->tls_key_at, d);
		fits("tls_key", e->tls_key, &e->tls_key_at,
		    mc_edge_path(m, e->tls_key, path, sizeof(path)), d);
	}
	for (i = 0; i < e->tls_sni.n; i++) {
		const struct mc_ref *it = &e->tls_sni.v[i];

		if (mc_parse_sni(it->name, &sni) != 0 || !sni_host(sni.host)) {
			msh_diag_error(d, "bad-value", it->at.file, it->at.line,
			    "bad value \"%s\" for \"tls_sni\": expected HOST "
			    "CERT KEY, HOST a name such as api.example.com or "
			    "*.example.com", it->name);
			continue;
		}
		for (j = 0; j < i; j++)
			if (mc_parse_sni(e->tls_sni.v[j].name, &other) == 0 &&
			    strcasecmp(other.host, sni.host) == 0)
				break;
		if (j < i) {
			msh_diag_error(d, "duplicate", it->at.file, it->at.line,
			    "edge \"%s\" has a certificate for \"%s\" twice "
			    "(first at %s)", e->name, sni.host, mc_origin_ref(
			    &e->tls_sni.v[j].at, it->at.file, path,
			    sizeof(path)));
			continue;
		}
		if (mesh_file(m, sni.cert, "tls_sni", it->name, &it->at,
		    d) == 0)
			mesh_file(m, sni.key, "tls_sni", it->name, &it->at, d);
		fits("tls_sni", it->name, &it->at,
		    mc_sni_line(m, &sni, line, sizeof(line)), d);
	}
}

/* Can a client without a mesh identity make any call to s? Its rules
 * must have an allow that names no callers. */
static int
rules_allow_anyone(const struct mc_service *s)
{
	size_t i;

	for (i = 0; i < s->nrules; i++)
		if (s->rules[i]->allow && s->rules[i]->callers.n == 0)
			return 1;
	return 0;
}

/*
 * Edges: each for a known service, with a port, a name no listener of
 * that sidecar has, its certificates in order; an edge its service's
 * rules close to every client (they can allow only callers by name, and
 * clients at the edge have no mesh identity) is a mistake to catch here.
 */
static void
check_edges(struct mc_mesh *m, struct msh_diag *d)
{
	const char *err;
	size_t i, j;

	for (i = 0; i < m->nedges; i++) {
		struct mc_edge *e = m->edges[i];
		const struct mc_service *s;

		if (e->address_at.line == 0)
			msh_parse_ip("0.0.0.0", &e->address, &err);
		if (e->port_at.line == 0)
			msh_diag_error(d, "missing-key", e->at.file, e->at.line,
			    "edge \"%s\" needs a port", e->name);
		check_edge_tls(m, e, d);
		if (e->service == NULL) {
			msh_diag_error(d, "missing-key", e->at.file, e->at.line,
			    "edge \"%s\" needs a service", e->name);
			continue;
		}
		if (!known_service(m, e->service, &e->service_at, "edge",
		    e->name, d))
			continue;
		s = mc_find_service(m, e->service);
		for (j = 0; j < s->ndeps; j++)
			if (strcmp(s->deps[j].name, e->name) == 0)
				msh_diag_error(d, "bad-name", e->at.file,
				    e->at.line, "edge \"%s\" has the name of a "
				    "dependency of service \"%s\": both would "
				    "be its sidecar's listener \"%s\"", e->name,
				    s->name, e->name);
		if (s->nrules > 0 && !rules_allow_anyone(s))
			msh_diag_warning(d, "denied-edge", e->at.file,
			    e->at.line, "edge \"%s\" takes no request: the "
			    "rules of service \"%s\" allow only callers by "
			    "name, and clients at the edge have no mesh "
			    "identity", e->name, s->name);
	}
}

/*
 * With mTLS, callers' files name each service's identity, a line
 * "tls_peer = spiffe://TRUST_DOMAIN/service/NAME" (and its rules'
 * "identity = " ones as long): a long trust_domain must leave room for
 * the longest name.
 */
static void
check_identities(const struct mc_mesh *m, struct msh_diag *d)
{
	const struct mc_service *longest = NULL;
	const struct mc_origin *at = &m->trust_domain_at;
	char id[1024];
	size_t i, n;
	int mtls = 0;

	if (m->trust_domain == NULL)
		return;
	for (i = 0; i < m->nservices; i++) {
		mtls |= m->services[i]->mtls != MC_MTLS_OFF;
		if (longest == NULL || strlen(m->services[i]->name) >
		    strlen(longest->name))
			longest = m->services[i];
	}
	if (!mtls)
		return;
	mc_identity(m, longest->name, id, sizeof(id));
	if ((n = strlen("tls_peer = ") + strlen(id)) > MSH_INI_MAX_LINE)
		msh_diag_error(d, "bad-value", at->file, at->line, "bad value "
		    "\"%s\" for \"trust_domain\": the identity of service "
		    "\"%s\" would make a line of %zu bytes in meshd.conf, at "
		    "most %d are allowed", m->trust_domain, longest->name, n,
		    MSH_INI_MAX_LINE);
}

static int
set_groups(SSL_CTX *ctx, const char *list)
{
	return SSL_CTX_set1_groups_list(ctx, list);
}

/* The mesh's TLS ciphers and groups, as meshd would take them: OpenSSL
 * knows them (this machine's; meshd -t asks the one it runs with), and
 * their lines fit. */
static void
check_tls_lists(const struct mc_mesh *m, struct msh_diag *d)
{
	static const struct {
		const char	*key;
		size_t		 value, at;	/* in struct mc_mesh */
		int		(*set)(SSL_CTX *, const char *);
		const char	*why;
	} lists[] = {
		{ "tls_ciphers", offsetof(struct mc_mesh, tls_ciphers),
		    offsetof(struct mc_mesh, tls_ciphers_at),
		    SSL_CTX_set_cipher_list, "no cipher OpenSSL knows" },
		{ "tls_groups", offsetof(struct mc_mesh, tls_groups),
		    offsetof(struct mc_mesh, tls_groups_at), set_groups,
		    "a group OpenSSL does not know" },
	};
	const struct mc_origin *at;
	const char *v;
	SSL_CTX *ctx;
	size_t i;

	if (m->tls_ciphers == NULL && m->tls_groups == NULL)
		return;
	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		fputs("meshc: cannot set up OpenSSL\n", stderr);
		exit(2);
	}
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		v = *(char *const *)((const char *)m + lists[i].value);
		at = (const struct mc_origin *)((const char *)m + lists[i].at);
		if (v != NULL && fits(lists[i].key, v, at, v, d) &&
		    lists[i].set(ctx, v) != 1)
			msh_diag_error(d, "bad-value", at->file, at->line,
			    "bad value \"%s\" for \"%s\": %s", v,
			    lists[i].key, lists[i].why);
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
}

/*
 * Every service gets one local port, the same in every caller: its
 * outbound_port, or the next free port from outbound_port_base in name
 * order. Name order keeps the output independent of the file's order.
 * A free port is one no sidecar is given as an app, inbound, edge, admin
 * or outbound port.
 */
static void
assign_ports(struct mc_mesh *m, struct msh_diag *d)
{
	unsigned next = m->outbound_port_base;
	unsigned char *used;
	size_t i, j;
	char ref[4096];

	/* Ports are 1 to 65535: one flag each, set once, looked up at once. */
	if ((used = calloc(65536, 1)) == NULL)
		abort();
	used[m->admin_port] = 1;
	for (i = 0; i < m->nservices; i++) {
		const struct mc_service *s = m->services[i];

		used[s->app_port] = used[s->inbound_port] = 1;
	}
	for (i = 0; i < m->nedges; i++)
		used[m->edges[i]->port] = 1;
	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];
		const struct mc_origin *at = &s->outbound_port_at;

		if (s->outbound_port == 0)
			continue;
		s->local_port = s->outbound_port;
		/* Seen before: find which services have it (an error). */
		if (used[s->outbound_port] != 2) {
			used[s->outbound_port] = 2;
			continue;
		}
		for (j = 0; j < i; j++)
			if (m->services[j]->outbound_port == s->outbound_port)
				msh_diag_error(d, "port-clash",
				    at->file, at->line,
				    "outbound_port %u of service \"%s\" is "
				    "also the outbound_port of \"%s\" (%s)",
				    s->outbound_port, s->name,
				    m->services[j]->name, mc_origin_ref(
				    &m->services[j]->outbound_port_at, at->file,
				    ref, sizeof(ref)));
	}
	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];

		if (s->outbound_port != 0)
			continue;
		while (next <= 65535 && used[next])
			next++;
		if (next > 65535) {
			const struct mc_origin *at =
			    m->outbound_port_base_at.line != 0 ?
			    &m->outbound_port_base_at : &m->at;

			msh_diag_error(d, "port-clash", at->file, at->line,
			    "no free outbound port left for service \"%s\"",
			    s->name);
			break;
		}
		s->local_port = next++;
	}
	free(used);
}

struct port_use {
	unsigned	 port;
	const char	*what;
	const char	*name;	/* of the edge or dependency it is for */
	struct mc_origin at;
};

/* What a port is to the service, for a diagnostic: in buf. */
static const char *
port_use_name(const struct port_use *u, char *buf, size_t len)
{
	if (u->name == NULL)
		return u->what;
	snprintf(buf, len, "%s \"%s\"", u->what, u->name);
	return buf;
}

/* Which of a service's port uses took each port first: stamp says for
 * which service, so one table serves them all without clearing it. */
struct port_first {
	size_t	 stamp;
	size_t	 use;
};

/* One sidecar binds its inbound, edge, admin and outbound ports on one
 * host, and its app listens there too: they must all differ. first: 65536
 * entries, stamp: this service's, never one used before. */
static void
check_host_ports(struct mc_mesh *m, struct mc_service *s,
    struct port_first *first, size_t stamp, struct msh_diag *d)
{
	struct port_use *use;
	char one[160], other[160];
	size_t n = 0, i;

	if ((use = calloc(s->ndeps + s->nedges + 3, sizeof(*use))) == NULL)
		abort();
	/* The mesh's port first: a clash is reported at the service's line. */
	use[n++] = (struct port_use){ m->admin_port, "the mesh's admin_port",
	    NULL, m->admin_port_at };
	use[n++] = (struct port_use){ s->inbound_port, "its inbound_port",
	    NULL, s->inbound_port_at };
	use[n++] = (struct port_use){ s->app_port, "its app_port", NULL,
	    s->app_port_at };
	for (i = 0; i < s->nedges; i++) {
		const struct mc_edge *e = s->edges[i];

		if (e->port_at.line == 0)
			continue;
		use[n++] = (struct port_use){ e->port, "the port of its edge",
		    e->name, e->port_at };
	}
	for (i = 0; i < s->ndeps; i++) {
		struct mc_service *dep = mc_find_service(m, s->deps[i].name);

		if (dep == NULL || dep == s)
			continue;
		use[n++] = (struct port_use){ dep->local_port,
		    "the outbound port of dependency", dep->name,
		    s->deps[i].at };
	}
	for (i = 0; i < n; i++) {
		const struct mc_origin *at =
		    use[i].at.line != 0 ? &use[i].at : &s->at;
		struct port_first *f = &first[use[i].port];

		if (f->stamp != stamp) {
			*f = (struct port_first){ stamp, i };
			continue;
		}
		msh_diag_error(d, "port-clash", at->file, at->line,
		    "service \"%s\" uses port %u twice on its host: %s and %s",
		    s->name, use[i].port, port_use_name(&use[f->use], one,
		    sizeof(one)), port_use_name(&use[i], other, sizeof(other)));
	}
	free(use);
}

ssize_t
mc_service_index(const struct mc_mesh *m, const char *name)
{
	size_t lo = 0, hi = m->nservices;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, m->services[mid]->name);

		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Depth-first over dependencies: a dependency on a service still on the
 * path closes a cycle. */
struct walk {
	const struct mc_mesh	 *m;
	struct msh_diag		 *d;
	unsigned char		 *state;	/* 0 new, 1 on path, 2 done */
	size_t			 *path;
	size_t			  depth;
};

/* The cycle is the path from the service dep names back to dep itself. */
static void
report_cycle(struct walk *w, size_t to, const struct mc_dep *dep)
{
	const struct mc_mesh *m = w->m;
	size_t i, len = 0, start = w->depth - 1;
	char *text, *p;

	while (w->path[start] != to)
		start--;
	for (i = start; i < w->depth; i++)
		len += strlen(m->services[w->path[i]]->name) + 4;
	len += strlen(dep->name) + 1;
	if ((text = p = malloc(len)) == NULL)
		abort();
	for (i = start; i < w->depth; i++)
		p += sprintf(p, "%s -> ", m->services[w->path[i]]->name);
	strcpy(p, dep->name);
	msh_diag_warning(w->d, "dependency-cycle", dep->at.file, dep->at.line,
	    "dependency cycle: %s", text);
	free(text);
}

static void
walk_from(struct walk *w, size_t i)
{
	const struct mc_service *s = w->m->services[i];
	size_t j;

	w->state[i] = 1;
	w->path[w->depth++] = i;
	for (j = 0; j < s->ndeps; j++) {
		ssize_t k = mc_service_index(w->m, s->deps[j].name);

		if (k < 0 || (size_t)k == i)
			continue;	/* reported by check_deps */
		if (w->state[k] == 1)
			report_cycle(w, k, &s->deps[j]);
		else if (w->state[k] == 0)
			walk_from(w, k);
	}
	w->depth--;
	w->state[i] = 2;
}

static void
check_cycles(struct mc_mesh *m, struct msh_diag *d)
{
	struct walk w = { m, d, NULL, NULL, 0 };
	size_t i;

	if ((w.state = calloc(m->nservices + 1, 1)) == NULL ||
	    (w.path = calloc(m->nservices + 1, sizeof(*w.path))) == NULL)
		abort();
	for (i = 0; i < m->nservices; i++)
		if (w.state[i] == 0)
			walk_from(&w, i);
	free(w.state);
	free(w.path);
}

void
mc_check(struct mc_mesh *m, struct msh_diag *d)
{
	struct port_first *first;
	size_t i;

	check_required(m, d);
	check_deps(m, d);
	/* A service's settings come from the mesh unless it has its own;
	 * where they were set comes along. */
	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];

#define INHERIT(f) do {						\
	if (s->f##_at.line == 0) {					\
		s->f = m->f;						\
		s->f##_at = m->f##_at;					\
	}								\
} while (0)
		INHERIT(client_timeout);
		INHERIT(keepalive_timeout);
		INHERIT(idle_timeout);
		INHERIT(max_header_size);
		INHERIT(max_headers);
		INHERIT(buffer_size);
		INHERIT(mtls);
#undef INHERIT
	}
	index_by_service(m);
	check_rules(m, d);
	check_routes(m, d);
	check_edges(m, d);
	check_tls_lists(m, d);
	check_identities(m, d);
	/* What callers apply to each service, from its policies. */
	mc_resolve_policies(m, d);
	if (m->nservices > 1)
		qsort(m->services, m->nservices, sizeof(*m->services), by_name);
	check_cycles(m, d);
	mc_check_policies(m, d);
	assign_ports(m, d);
	if ((first = calloc(65536, sizeof(*first))) == NULL)
		abort();
	for (i = 0; i < m->nservices; i++)
		if (m->services[i]->app_port_at.line != 0 &&
		    m->services[i]->inbound_port_at.line != 0)
			check_host_ports(m, m->services[i], first, i + 1, d);
	free(first);
}
