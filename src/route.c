#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <netinet/in.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"
#include "value.h"

enum path_kind { PATH_ANY, PATH_PREFIX, PATH_EXACT, PATH_REGEX };
enum field_kind { FIELD_EXACT, FIELD_REGEX, FIELD_PRESENT, FIELD_ABSENT };

struct field_match {
	char		*name;
	size_t		 name_len;
	enum field_kind	 kind;
	char		*value;		/* FIELD_EXACT */
	size_t		 value_len;
	pcre2_code	*re;		/* FIELD_REGEX */
};

struct msh_route {
	enum path_kind		 path_kind;
	const char		*path;		/* the conf's */
	size_t			 path_len;
	pcre2_code		*path_re;
	char			**methods;
	size_t			 nmethods;
	struct field_match	*fields;
	size_t			 nfields;
	int			*clusters;	/* indexes in the conf */
	unsigned		*weights;
	size_t			 nclusters;
	unsigned		 total;
	int			 mirror;	/* a cluster's index, or -1 */
	unsigned		 mirror_percent;
	unsigned		 status;	/* its own answer, or 0 */
	char			*location;
	char			*body;
	const char		*rewrite;	/* the conf's: a new prefix */
	char			*added;		/* field lines */
	size_t			 added_len;
	char			**removed;
	size_t			 nremoved;
};

struct compiling {
	struct msh_conf		*conf;
	struct msh_route_conf	*rc;
	struct msh_route	*r;
	struct msh_diag		*d;
	unsigned		 line;
	const char		*key;
	const char		*value;
};

static void *
more(void *array, size_t n, size_t size)
{
	if ((array = realloc(array, (n + 1) * size)) == NULL)
		abort();
	return array;
}

static void
bad(struct compiling *c, const char *why)
{
	msh_diag_error(c->d, "bad-value", c->conf->file, c->line,
	    "bad value \"%s\" for \"%s\": %s", c->value, c->key, why);
}

static int
is_tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int
is_token(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return n > 0;
}

static pcre2_code *
compile_regex(struct compiling *c, const char *pattern)
{
	PCRE2_UCHAR msg[128];
	PCRE2_SIZE off;
	pcre2_code *re;
	char why[200];
	int err;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0,
	    &err, &off, NULL);
	if (re == NULL) {
		pcre2_get_error_message(err, msg, sizeof(msg));
		snprintf(why, sizeof(why), "regex error at offset %zu: %s",
		    (size_t)off, (char *)msg);
		bad(c, why);
	}
	return re;
}

/* "Name: value" into a field match of the kind. */
static void
add_field(struct compiling *c, enum field_kind kind, const char *item,
    unsigned line)
{
	struct msh_route *r = c->r;
	struct field_match *f;
	const char *colon = strchr(item, ':'), *v;
	size_t n = colon != NULL ? (size_t)(colon - item) : strlen(item);

	c->line = line;
	c->value = item;
	if ((kind == FIELD_PRESENT || kind == FIELD_ABSENT) ? colon != NULL :
	    colon == NULL) {
		bad(c, kind == FIELD_PRESENT || kind == FIELD_ABSENT ?
		    "expected a field name" : "expected \"Name: value\"");
		return;
	}
	if (!is_token(item, n)) {
		bad(c, "the field name is not a token");
		return;
	}
	r->fields = more(r->fields, r->nfields, sizeof(*r->fields));
	f = &r->fields[r->nfields++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->name_len = n;
	if ((f->name = strndup(item, n)) == NULL)
		abort();
	if (colon == NULL)
		return;
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (kind == FIELD_REGEX)
		f->re = compile_regex(c, v);
	else if ((f->value = strdup(v)) == NULL)
		abort();
	f->value_len = f->value ? strlen(f->value) : 0;
}

static void
add_fields(struct compiling *c, enum field_kind kind, const char *key,
    const struct msh_text_list *l)
{
	size_t i;

	c->key = key;
	for (i = 0; i < l->n; i++)
		add_field(c, kind, l->items[i], l->lines[i]);
}

static int
add_method(void *arg, const char *word)
{
	struct compiling *c = arg;
	struct msh_route *r = c->r;

	if (!is_token(word, strlen(word))) {
		bad(c, "a method is a token, such as GET");
		return -1;
	}
	r->methods = more(r->methods, r->nmethods, sizeof(char *));
	if ((r->methods[r->nmethods++] = strdup(word)) == NULL)
		abort();
	return 0;
}

/* how: "sends to" or "mirrors to", for the diagnostic. */
static int
cluster_index(struct compiling *c, const char *name, unsigned line,
    const char *how)
{
	size_t i;

	for (i = 0; i < c->conf->nclusters; i++)
		if (strcmp(c->conf->clusters[i].name, name) == 0)
			return i;
	msh_diag_error(c->d, "unknown-cluster", c->conf->file, line,
	    "route \"%s\" %s unknown cluster \"%s\"", c->rc->name, how, name);
	return -1;
}

/* split: "name weight" pairs. */
static int
add_split(void *arg, const char *word)
{
	struct compiling *c = arg;
	struct msh_route *r = c->r;
	unsigned long w;
	const char *err;
	int i;

	if (r->nclusters > 0 && r->weights[r->nclusters - 1] == ~0U) {
		if (msh_parse_uint(word, 0, 100000, &w, &err) != 0) {
			bad(c, "expected \"cluster weight, ...\" with weights "
			    "0 to 100000");
			return -1;
		}
		r->weights[r->nclusters - 1] = w;
		r->total += w;
		return 0;
	}
	if ((i = cluster_index(c, word, c->line, "sends to")) < 0)
		return -1;
	r->clusters = more(r->clusters, r->nclusters, sizeof(int));
	r->weights = more(r->weights, r->nclusters, sizeof(unsigned));
	r->clusters[r->nclusters] = i;
	r->weights[r->nclusters++] = ~0U;	/* its weight comes next */
	return 0;
}

/* "STATUS rest": the status, and rest (maybe empty). */
static unsigned
status_and(struct compiling *c, const char *v, unsigned lo, unsigned hi,
    const char **rest)
{
	unsigned long st;
	const char *err;
	char code[4];

	if (strlen(v) < 3 || (v[3] != '\0' && v[3] != ' '))
		return 0;
	memcpy(code, v, 3);
	code[3] = '\0';
	if (msh_parse_uint(code, lo, hi, &st, &err) != 0)
		return 0;
	for (v += 3; *v == ' '; v++)
		;
	*rest = v;
	(void)c;
	return st;
}

static void
compile_action(struct compiling *c)
{
	struct msh_route_conf *rc = c->rc;
	struct msh_route *r = c->r;
	const char *rest;
	unsigned n;
	int i;

	n = !!rc->cluster_line + !!rc->split_line + !!rc->direct_response_line +
	    !!rc->redirect_line;
	if (n != 1) {
		msh_diag_error(c->d, n ? "bad-value" : "missing-key",
		    c->conf->file, rc->line, "route \"%s\" needs one of cluster, "
		    "split, direct_response and redirect", rc->name);
		return;
	}
	if (rc->cluster_line) {
		if ((i = cluster_index(c, rc->cluster, rc->cluster_line,
		    "sends to")) < 0)
			return;
		r->clusters = more(NULL, 0, sizeof(int));
		r->weights = more(NULL, 0, sizeof(unsigned));
		r->clusters[0] = i;
		r->weights[0] = r->total = 1;
		r->nclusters = 1;
	} else if (rc->split_line) {
		c->key = "split";
		c->value = rc->split;
		c->line = rc->split_line;
		if (msh_split_list(rc->split, add_split, c) != 0)
			return;
		if (r->nclusters == 0 || r->weights[r->nclusters - 1] == ~0U ||
		    r->total == 0)
			bad(c, "expected \"cluster weight, ...\" with a weight "
			    "above 0 in all");
	} else if (rc->direct_response_line) {
		c->key = "direct_response";
		c->value = rc->direct_response;
		c->line = rc->direct_response_line;
		if ((r->status = status_and(c, rc->direct_response, 200, 599,
		    &rest)) == 0)
			bad(c, "expected \"STATUS [body]\", STATUS 200 to 599");
		else if ((r->body = malloc(strlen(rest) + 2)) == NULL)
			abort();
		else
			sprintf(r->body, "%s%s", rest, *rest ? "\n" : "");
	} else {
		c->key = "redirect";
		c->value = rc->redirect;
		c->line = rc->redirect_line;
		r->status = status_and(c, rc->redirect, 301, 308, &rest);
		if ((r->status != 301 && r->status != 302 && r->status != 303 &&
		    r->status != 307 && r->status != 308) || *rest == '\0' ||
		    strpbrk(rest, " \t") != NULL) {
			r->status = 0;
			bad(c, "expected \"STATUS URL\", STATUS 301, 302, 303, "
			    "307 or 308");
		} else if ((r->location = strdup(rest)) == NULL)
			abort();
	}
}

/* A copy of the requests a route sends on, to another cluster. */
static void
compile_mirror(struct compiling *c)
{
	struct msh_route_conf *rc = c->rc;
	struct msh_route *r = c->r;

	r->mirror = -1;
	r->mirror_percent = rc->mirror_percent;
	if (rc->mirror_line == 0) {
		if (rc->mirror_percent_line)
			msh_diag_error(c->d, "missing-key", c->conf->file,
			    rc->mirror_percent_line, "route \"%s\" sets "
			    "mirror_percent but no mirror", rc->name);
		return;
	}
	if (rc->direct_response_line || rc->redirect_line)
		msh_diag_error(c->d, "bad-value", c->conf->file,
		    rc->mirror_line, "route \"%s\" answers itself: it sends "
		    "no request to mirror", rc->name);
	else
		r->mirror = cluster_index(c, rc->mirror, rc->mirror_line,
		    "mirrors to");
}

static void
compile_rewrites(struct compiling *c)
{
	struct msh_route_conf *rc = c->rc;
	struct msh_route *r = c->r;
	size_t i, n;
	char *p;

	if (rc->rewrite_prefix_line && (r->path_kind != PATH_PREFIX ||
	    rc->rewrite_prefix[0] != '/')) {
		c->key = "rewrite_prefix";
		c->value = rc->rewrite_prefix;
		c->line = rc->rewrite_prefix_line;
		bad(c, r->path_kind != PATH_PREFIX ? "a route that rewrites a "
		    "prefix matches one with path" : "expected a path");
	} else if (rc->rewrite_prefix_line)
		r->rewrite = rc->rewrite_prefix;
	/* "Name:value" grows to "Name: value\r\n": 3 bytes more. */
	for (i = 0, n = 0; i < rc->add_header.n; i++)
		n += strlen(rc->add_header.items[i]) + 3;
	if ((p = r->added = malloc(n + 1)) == NULL)
		abort();
	for (i = 0; i < rc->add_header.n; i++) {
		const char *item = rc->add_header.items[i], *v;
		const char *colon = strchr(item, ':');

		c->key = "add_header";
		c->value = item;
		c->line = rc->add_header.lines[i];
		if (colon == NULL || !is_token(item, colon - item)) {
			bad(c, "expected \"Name: value\"");
			continue;
		}
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		p += sprintf(p, "%.*s: %s\r\n", (int)(colon - item), item, v);
	}
	r->added_len = p - r->added;
	for (i = 0; i < rc->remove_header.n; i++) {
		const char *item = rc->remove_header.items[i];

		c->key = "remove_header";
		c->value = item;
		c->line = rc->remove_header.lines[i];
		if (!is_token(item, strlen(item))) {
			bad(c, "expected a field name");
			continue;
		}
		r->removed = more(r->removed, r->nremoved, sizeof(char *));
		if ((r->removed[r->nremoved++] = strdup(item)) == NULL)
			abort();
	}
}

/*
 * The listener named name (at line) a route or a rule is for: it must
 * exist, and be http unless the rule matches no request (tcp listeners
 * have none). NULL if it is no such listener, reported.
 */
static const struct msh_listener_conf *
check_listener(struct compiling *c, const char *name, unsigned line)
{
	const struct msh_route_conf *rc = c->rc;
	const char *what = rc->match_only ? "rule" : "route";
	const struct msh_listener_conf *l = NULL;
	size_t i;

	for (i = 0; i < c->conf->nlisteners; i++)
		if (strcmp(c->conf->listeners[i].name, name) == 0)
			l = &c->conf->listeners[i];
	if (l == NULL)
		msh_diag_error(c->d, "unknown-listener", c->conf->file, line,
		    "%s \"%s\" is for unknown listener \"%s\"", what,
		    rc->name, name);
	else if (l->protocol != MSH_PROTO_HTTP && (!rc->match_only ||
	    rc->path_line || rc->path_exact_line || rc->path_regex_line ||
	    rc->method_line))
		msh_diag_error(c->d, "bad-value", c->conf->file, line,
		    "%s \"%s\" is for listener \"%s\", which is not "
		    "protocol = http%s", what, rc->name, name,
		    rc->match_only ? ": it can only match identity and "
		    "source" : "");
	return l;
}

void
msh_route_compile(struct msh_conf *conf, struct msh_route_conf *rc,
    struct msh_diag *d)
{
	struct compiling c = { .conf = conf, .rc = rc, .d = d };
	const char *what = rc->match_only ? "rule" : "route";
	struct msh_route *r;

	if ((r = c.r = calloc(1, sizeof(*r))) == NULL)
		abort();
	rc->compiled = r;
	/* A rule's listeners are its own key (msh_rule_compile). */
	if (!rc->match_only && rc->listener_line == 0)
		msh_diag_error(d, "missing-key", conf->file, rc->line,
		    "route \"%s\" needs a listener", rc->name);
	else if (!rc->match_only)
		check_listener(&c, rc->listener, rc->listener_line);
	if (!!rc->path_line + !!rc->path_exact_line + !!rc->path_regex_line > 1)
		msh_diag_error(d, "bad-value", conf->file, rc->line,
		    "%s \"%s\" sets more than one of path, path_exact and "
		    "path_regex", what, rc->name);
	else if (rc->path_line || rc->path_exact_line) {
		r->path_kind = rc->path_line ? PATH_PREFIX : PATH_EXACT;
		r->path = rc->path_line ? rc->path : rc->path_exact;
		r->path_len = strlen(r->path);
		c.key = rc->path_line ? "path" : "path_exact";
		c.value = r->path;
		c.line = rc->path_line ? rc->path_line : rc->path_exact_line;
		if (r->path[0] != '/')
			bad(&c, "expected a path, starting with /");
	} else if (rc->path_regex_line) {
		r->path_kind = PATH_REGEX;
		c.key = "path_regex";
		c.value = rc->path_regex;
		c.line = rc->path_regex_line;
		r->path_re = compile_regex(&c, rc->path_regex);
	}
	if (rc->method_line) {
		c.key = "method";
		c.value = rc->method;
		c.line = rc->method_line;
		msh_split_list(rc->method, add_method, &c);
	}
	add_fields(&c, FIELD_EXACT, "header", &rc->header);
	add_fields(&c, FIELD_REGEX, "header_regex", &rc->header_regex);
	add_fields(&c, FIELD_PRESENT, "header_present", &rc->header_present);
	add_fields(&c, FIELD_ABSENT, "header_absent", &rc->header_absent);
	if (rc->match_only)
		return;
	compile_action(&c);
	compile_mirror(&c);
	compile_rewrites(&c);
}

/* A network: an address and how many of its leading bits count. */
struct net {
	struct msh_addr	 addr;
	unsigned	 bits;
};

struct msh_rule {
	const char	**listeners;	/* the conf's names */
	size_t		  nlisteners;
	char		**ids;
	size_t		  nids;
	struct net	 *nets;
	size_t		  nnets;
};

struct rule_compiling {
	struct compiling c;
	struct msh_rule	*rule;
};

static int
add_listener(void *arg, const char *word)
{
	struct rule_compiling *rc = arg;
	struct msh_rule *r = rc->rule;
	const struct msh_listener_conf *l;
	size_t i;

	if ((l = check_listener(&rc->c, word, rc->c.line)) == NULL)
		return 0;
	for (i = 0; i < r->nlisteners; i++)
		if (r->listeners[i] == l->name)
			return 0;
	r->listeners = more(r->listeners, r->nlisteners, sizeof(char *));
	r->listeners[r->nlisteners++] = l->name;
	return 0;
}

static int
add_identity(void *arg, const char *word)
{
	struct rule_compiling *rc = arg;
	struct msh_rule *r = rc->rule;

	if (strstr(word, "://") == NULL) {
		bad(&rc->c, "expected URIs such as spiffe://mesh/service/web");
		return -1;
	}
	r->ids = more(r->ids, r->nids, sizeof(char *));
	if ((r->ids[r->nids++] = strdup(word)) == NULL)
		abort();
	return 0;
}

static const unsigned char *
addr_bytes(const struct msh_addr *a, unsigned *max)
{
	if (a->ss.ss_family == AF_INET6) {
		*max = 128;
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
	}
	*max = 32;
	return (const unsigned char *)
	    &((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr;
}

static int
add_network(void *arg, const char *word)
{
	struct rule_compiling *rc = arg;
	struct msh_rule *r = rc->rule;
	char ip[64];
	const char *slash = strchr(word, '/'), *err;
	unsigned long bits;
	unsigned max;
	struct net n;
	size_t len = slash ? (size_t)(slash - word) : strlen(word);

	if (len >= sizeof(ip))
		goto bad;
	memcpy(ip, word, len);
	ip[len] = '\0';
	if (msh_parse_ip(ip, &n.addr, &err) != 0)
		goto bad;
	addr_bytes(&n.addr, &max);
	if (slash == NULL)
		bits = max;
	else if (msh_parse_uint(slash + 1, 0, max, &bits, &err) != 0)
		goto bad;
	n.bits = bits;
	r->nets = more(r->nets, r->nnets, sizeof(*r->nets));
	r->nets[r->nnets++] = n;
	return 0;
bad:
	bad(&rc->c, "expected networks such as 10.0.0.0/8 or 2001:db8::/32");
	return -1;
}

void
msh_rule_compile(struct msh_conf *conf, struct msh_rule_conf *rc,
    struct msh_diag *d)
{
	struct rule_compiling c = { .c = { .conf = conf, .rc = &rc->match,
	    .d = d } };
	size_t i;

	msh_route_compile(conf, &rc->match, d);
	if ((c.rule = rc->compiled = calloc(1, sizeof(*c.rule))) == NULL)
		abort();
	if (rc->action_line == 0)
		msh_diag_error(d, "missing-key", conf->file, rc->match.line,
		    "rule \"%s\" needs an action: allow or deny",
		    rc->match.name);
	if (rc->listeners.n == 0)
		msh_diag_error(d, "missing-key", conf->file, rc->match.line,
		    "rule \"%s\" needs a listener", rc->match.name);
	for (i = 0; i < rc->listeners.n; i++) {
		c.c.key = "listener";
		c.c.value = rc->listeners.items[i];
		c.c.line = rc->listeners.lines[i];
		msh_split_list(c.c.value, add_listener, &c);
	}
	for (i = 0; i < rc->identity.n; i++) {
		c.c.key = "identity";
		c.c.value = rc->identity.items[i];
		c.c.line = rc->identity.lines[i];
		msh_split_list(c.c.value, add_identity, &c);
	}
	for (i = 0; i < rc->source.n; i++) {
		c.c.key = "source";
		c.c.value = rc->source.items[i];
		c.c.line = rc->source.lines[i];
		msh_split_list(c.c.value, add_network, &c);
	}
}

void
msh_rule_free(struct msh_rule *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->listeners);
	for (i = 0; i < r->nids; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r->nets);
	free(r);
}

int
msh_rule_on(const struct msh_rule_conf *rc, const char *listener)
{
	const struct msh_rule *r = rc->compiled;
	size_t i;

	for (i = 0; i < r->nlisteners; i++)
		if (strcmp(r->listeners[i], listener) == 0)
			return 1;
	return 0;
}

static int
in_network(const struct net *n, const struct msh_addr *a)
{
	const unsigned char *x, *y;
	unsigned max, bits = n->bits, i;

	if (a->ss.ss_family != n->addr.ss.ss_family)
		return 0;
	x = addr_bytes(&n->addr, &max);
	y = addr_bytes(a, &max);
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (x[i] != y[i])
			return 0;
	return bits == 0 || ((x[i] ^ y[i]) & (0xff << (8 - bits))) == 0;
}

int
msh_rule_match(const struct msh_rule_conf *rc, const struct msh_http_msg *m,
    const char *peer_id, const struct msh_addr *peer)
{
	const struct msh_rule *r = rc->compiled;
	size_t i;

	if (m != NULL && !msh_route_match(rc->match.compiled, m))
		return 0;
	if (r->nids > 0) {
		for (i = 0; i < r->nids; i++)
			if (peer_id != NULL && strcmp(r->ids[i], peer_id) == 0)
				break;
		if (i == r->nids)
			return 0;
	}
	if (r->nnets > 0) {
		for (i = 0; i < r->nnets; i++)
			if (in_network(&r->nets[i], peer))
				break;
		if (i == r->nnets)
			return 0;
	}
	return 1;
}

void
msh_route_free(struct msh_route *r)
{
	size_t i;

	if (r == NULL)
		return;
	pcre2_code_free(r->path_re);
	for (i = 0; i < r->nmethods; i++)
		free(r->methods[i]);
	free(r->methods);
	for (i = 0; i < r->nfields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
		pcre2_code_free(r->fields[i].re);
	}
	free(r->fields);
	free(r->clusters);
	free(r->weights);
	free(r->location);
	free(r->body);
	free(r->added);
	for (i = 0; i < r->nremoved; i++)
		free(r->removed[i]);
	free(r->removed);
	free(r);
}

static int
regex_matches(const pcre2_code *re, const char *s, size_t n)
{
	pcre2_match_data *md;
	int rc;

	if ((md = pcre2_match_data_create(1, NULL)) == NULL)
		abort();
	rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* The path of a request target: origin-form up to the query, or that
 * part of an absolute-form target. */
const char *
msh_route_path(const struct msh_http_msg *m, size_t *len)
{
	const char *t = m->target, *end = t + m->target_len, *p, *q;

	if (m->target_len == 0 || t[0] != '/') {
		p = memchr(t, ':', m->target_len);
		if (p == NULL || end - p < 3 || p[1] != '/' || p[2] != '/') {
			*len = 0;
			return t;
		}
		for (p += 3; p < end && *p != '/' && *p != '?'; p++)
			;
		t = p;
	}
	q = memchr(t, '?', end - t);
	*len = (q != NULL ? q : end) - t;
	return t;
}

static int
field_matches(const struct field_match *f, const struct msh_http_msg *m)
{
	size_t i;
	int found = 0;

	for (i = 0; i < m->nheaders; i++) {
		const struct msh_http_header *h = &m->headers[i];

		if (h->name_len != f->name_len ||
		    strncasecmp(h->name, f->name, f->name_len) != 0)
			continue;
		found = 1;
		if (f->kind == FIELD_EXACT && h->value_len == f->value_len &&
		    memcmp(h->value, f->value, f->value_len) == 0)
			return 1;
		if (f->kind == FIELD_REGEX &&
		    regex_matches(f->re, h->value, h->value_len))
			return 1;
	}
	return f->kind == FIELD_PRESENT ? found :
	    f->kind == FIELD_ABSENT ? !found : 0;
}

int
msh_route_match(const struct msh_route *r, const struct msh_http_msg *m)
{
	const char *path;
	size_t len, i;

	path = msh_route_path(m, &len);
	switch (r->path_kind) {
	case PATH_ANY:
		break;
	case PATH_PREFIX:
		if (len < r->path_len || memcmp(path, r->path, r->path_len))
			return 0;
		break;
	case PATH_EXACT:
		if (len != r->path_len || memcmp(path, r->path, len) != 0)
			return 0;
		break;
	case PATH_REGEX:
		if (!regex_matches(r->path_re, path, len))
			return 0;
		break;
	}
	if (r->nmethods > 0) {
		for (i = 0; i < r->nmethods; i++)
			if (strlen(r->methods[i]) == m->method_len &&
			    memcmp(r->methods[i], m->method, m->method_len) == 0)
				break;
		if (i == r->nmethods)
			return 0;
	}
	for (i = 0; i < r->nfields; i++)
		if (!field_matches(&r->fields[i], m))
			return 0;
	return 1;
}

int
msh_route_cluster(const struct msh_route *r, uint64_t rnd)
{
	uint64_t n;
	size_t i;

	if (r->nclusters == 0)
		return -1;
	if (r->nclusters == 1)
		return r->clusters[0];
	n = rnd % r->total;
	for (i = 0; n >= r->weights[i]; i++)
		n -= r->weights[i];
	return r->clusters[i];
}

int
msh_route_mirror(const struct msh_route *r, unsigned *percent)
{
	*percent = r->mirror_percent;
	return r->mirror;
}

unsigned
msh_route_answer(const struct msh_route *r, const char **location,
    const char **body)
{
	*location = r->location;
	*body = r->body != NULL ? r->body : "";
	return r->status;
}

const char *
msh_route_rewrite(const struct msh_route *r, size_t *from_len)
{
	*from_len = r->path_len;
	return r->rewrite;
}

const char *
msh_route_added(const struct msh_route *r, size_t *len)
{
	*len = r->added_len;
	return r->added;
}

int
msh_route_removes(const struct msh_route *r, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < r->nremoved; i++)
		if (strlen(r->removed[i]) == len &&
		    strncasecmp(r->removed[i], name, len) == 0)
			return 1;
	return 0;
}
