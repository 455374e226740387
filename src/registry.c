#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "iniread.h"
#include "registry.h"
#include "spell.h"

enum reg_key {
	REG_ADDRESS,
	REG_PORT,
	REG_WEIGHT,
	REG_ZONE,
	REG_LABELS,
	REG_HEALTH,
	REG_NKEYS,
};

static const char *const keys[REG_NKEYS] = {
	"address", "port", "weight", "zone", "labels", "health",
};

static const char *const health_names[] = {
	"passing", "warning", "critical", "maintenance",
};

struct reg_ctx {
	struct msh_registry	*reg;
	struct msh_diag		*diag;
	const char		*file;
	struct msh_instance	*cur;	/* NULL in a bad section */
	struct msh_service_node	*node;	/* in [/services/NAME] */
	size_t			 ncap, nodecap;
};

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	if ((p = realloc(p, *cap * size)) == NULL)
		abort();
	return p;
}

/*
 * "/services/NAME/instances/ID" into NAME and ID, or "/services/NAME"
 * (a service's own node) into NAME and a NULL ID.
 */
static int
split_path(const char *path, char **service, char **id)
{
	static const char prefix[] = "/services/", mid[] = "/instances/";
	const char *name = path + sizeof(prefix) - 1, *slash, *err;
	char buf[MSH_NAME_MAX + 1];
	size_t n;

	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	if ((slash = strchr(name, '/')) == NULL)
		slash = name + strlen(name);
	else if (strncmp(slash, mid, sizeof(mid) - 1) != 0)
		return -1;
	n = slash - name;
	if (n == 0 || n > MSH_NAME_MAX)
		return -1;
	memcpy(buf, name, n);
	buf[n] = '\0';
	if (msh_check_name(buf, &err) != 0)
		return -1;
	if (*slash == '\0') {
		*service = strdup(buf);
		*id = NULL;
		return 0;
	}
	slash += sizeof(mid) - 1;
	if (*slash == '\0' || strchr(slash, '/') != NULL ||
	    strpbrk(slash, " \t") != NULL)
		return -1;
	*service = strdup(buf);
	*id = strdup(slash);
	return 0;
}

static void
begin_section(struct reg_ctx *c, const char *section, unsigned line)
{
	struct msh_registry *r = c->reg;
	struct msh_instance *i;
	char *service, *id;

	c->cur = NULL;
	c->node = NULL;
	if (split_path(section, &service, &id) != 0) {
		msh_diag_error(c->diag, "bad-section", c->file, line,
		    "section [%s] is neither an instance path like "
		    "[/services/NAME/instances/ID] nor a service like "
		    "[/services/NAME]", section);
		return;
	}
	if (id == NULL) {
		r->nodes = grow(r->nodes, &c->nodecap, r->nnodes,
		    sizeof(*r->nodes));
		c->node = &r->nodes[r->nnodes++];
		memset(c->node, 0, sizeof(*c->node));
		c->node->service = service;
		c->node->line = line;
		return;
	}
	r->instances = grow(r->instances, &c->ncap, r->n, sizeof(*i));
	i = &r->instances[r->n++];
	memset(i, 0, sizeof(*i));
	i->service = service;
	i->id = id;
	i->line = line;
	i->weight = 1;
	c->cur = i;
}

/* The keys of a service's node: only "empty". */
static void
set_node_key(struct reg_ctx *c, const char *key, const char *value,
    unsigned line)
{
	struct msh_service_node *n = c->node;
	const char *err = NULL;
	int on;

	if (strcmp(key, "empty") != 0) {
		msh_diag_error(c->diag, "unknown-key", c->file, line,
		    "unknown key \"%s\" for a service; the only one is "
		    "\"empty\"", key);
		return;
	}
	if (n->empty_line != 0) {
		msh_diag_error(c->diag, "duplicate", c->file, line,
		    "\"empty\" is set twice for this service (first at line "
		    "%u)", n->empty_line);
		return;
	}
	if (msh_parse_flag(value, &on, &err) != 0) {
		msh_diag_error(c->diag, "bad-value", c->file, line,
		    "bad value \"%s\" for \"empty\": %s", value, err);
		return;
	}
	n->empty = on;
	n->empty_line = line;
}

static void
set_key(struct reg_ctx *c, enum reg_key k, const char *value, unsigned line)
{
	struct msh_instance *i = c->cur;
	unsigned *lines[REG_NKEYS] = {
		&i->address_line, &i->port_line, &i->weight_line,
		&i->zone_line, &i->labels_line, &i->health_line,
	};
	const char *err = NULL;
	unsigned long ul;
	size_t h;

	if (*lines[k] != 0) {
		msh_diag_error(c->diag, "duplicate", c->file, line,
		    "\"%s\" is set twice for this instance (first at line %u)",
		    keys[k], *lines[k]);
		return;
	}
	switch (k) {
	case REG_ADDRESS:
		msh_parse_ip(value, &i->address, &err);
		break;
	case REG_PORT:
		msh_parse_port(value, &i->port, &err);
		break;
	case REG_WEIGHT:
		if (msh_parse_uint(value, 1, 1000, &ul, &err) == 0)
			i->weight = ul;
		break;
	case REG_ZONE:
		i->zone = strdup(value);
		break;
	case REG_LABELS:
		if (msh_check_labels(value, &err) == 0)
			i->labels = strdup(value);
		break;
	case REG_HEALTH:
		for (h = 0; h < sizeof(health_names) / sizeof(*health_names); h++)
			if (strcmp(value, health_names[h]) == 0)
				break;
		if (h == sizeof(health_names) / sizeof(*health_names))
			err = "expected passing, warning, critical or maintenance";
		else
			i->health = h;
		break;
	case REG_NKEYS:
		break;
	}
	if (err != NULL) {
		msh_diag_error(c->diag, "bad-value", c->file, line,
		    "bad value \"%s\" for \"%s\": %s", value, keys[k], err);
		return;
	}
	*lines[k] = line;
}

static void
on_value(void *user, const char *section, const char *key, const char *value,
    unsigned line)
{
	struct reg_ctx *c = user;
	const char *suggest;
	size_t k;

	if (key == NULL) {
		begin_section(c, section, line);
		return;
	}
	if (section[0] == '\0') {
		msh_diag_error(c->diag, "bad-section", c->file, line,
		    "\"%s\" is outside any instance section", key);
		return;
	}
	if (c->node != NULL) {
		set_node_key(c, key, value, line);
		return;
	}
	if (c->cur == NULL)
		return;
	for (k = 0; k < REG_NKEYS; k++)
		if (strcmp(key, keys[k]) == 0) {
			set_key(c, k, value, line);
			return;
		}
	suggest = msh_spell_suggest(key, keys, REG_NKEYS);
	msh_diag_error(c->diag, "unknown-key",
	    c->file, line, "unknown key \"%s\"%s%s%s", key,
	    suggest ? "; did you mean \"" : "", suggest ? suggest : "",
	    suggest ? "\"?" : "");
}

/* Instances by service, id, then line; a node's id is NULL and sorts
 * first. */
static int
cmp_path(const char *sa, const char *ia, unsigned la, const char *sb,
    const char *ib, unsigned lb)
{
	int r;

	if ((r = strcmp(sa, sb)) != 0)
		return r;
	if (ia == NULL || ib == NULL)
		r = (ia != NULL) - (ib != NULL);
	else
		r = strcmp(ia, ib);
	return r != 0 ? r : (la > lb) - (la < lb);
}

static int
cmp_instance(const void *a, const void *b)
{
	const struct msh_instance *x = a, *y = b;

	return cmp_path(x->service, x->id, x->line, y->service, y->id,
	    y->line);
}

static int
cmp_node(const void *a, const void *b)
{
	const struct msh_service_node *x = a, *y = b;

	return cmp_path(x->service, NULL, x->line, y->service, NULL, y->line);
}

static void
free_instance(struct msh_instance *i)
{
	free(i->service);
	free(i->id);
	free(i->zone);
	free(i->labels);
}

static int
wanted(const char *service, const char *const *want, size_t nwant)
{
	size_t k;

	if (want == NULL)
		return 1;
	for (k = 0; k < nwant; k++)
		if (strcmp(want[k], service) == 0)
			return 1;
	return 0;
}

/*
 * Whole-file checks, on everything sorted by path so that each takes one
 * pass however large the registry: paths given twice, instances without
 * an address or port, services both listed empty and with instances.
 */
static void
check_all(struct msh_registry *r, const char *file, struct msh_diag *d)
{
	size_t k, first, n;

	if (r->n > 1)
		qsort(r->instances, r->n, sizeof(*r->instances),
		    cmp_instance);
	if (r->nnodes > 1)
		qsort(r->nodes, r->nnodes, sizeof(*r->nodes), cmp_node);
	for (k = 0, first = 0; k < r->n; k++) {
		struct msh_instance *i = &r->instances[k];

		if (k > 0 && cmp_path(i->service, i->id, 0,
		    r->instances[first].service, r->instances[first].id,
		    0) == 0)
			msh_diag_error(d, "duplicate", file, i->line,
			    "instance /services/%s/instances/%s appears twice "
			    "(first at line %u)", i->service, i->id,
			    r->instances[first].line);
		else
			first = k;
		if (i->address_line == 0 || i->port_line == 0)
			msh_diag_error(d, "missing-key", file, i->line,
			    "instance %s of \"%s\" needs an address and a port",
			    i->id, i->service);
		else
			msh_addr_set_port(&i->address, i->port);
	}
	for (k = 1; k < r->nnodes; k++)
		if (strcmp(r->nodes[k].service, r->nodes[k - 1].service) == 0)
			msh_diag_error(d, "duplicate", file, r->nodes[k].line,
			    "service /services/%s appears twice (first at line "
			    "%u)", r->nodes[k].service, r->nodes[k - 1].line);
	for (k = 0, n = 0; k < r->nnodes; k++) {
		const struct msh_service_node *s = &r->nodes[k];

		if (!s->empty)
			continue;
		while (n < r->n && strcmp(r->instances[n].service, s->service) < 0)
			n++;
		if (n < r->n && strcmp(r->instances[n].service, s->service) == 0)
			msh_diag_error(d, "bad-value", file, s->empty_line,
			    "service \"%s\" is said to be empty but lists "
			    "instances (line %u)", s->service,
			    r->instances[n].line);
	}
}

/* Drop what this sidecar does not route to: its memory does not grow
 * with the mesh. */
static void
keep_wanted(struct msh_registry *r, const char *const *want, size_t nwant)
{
	size_t k, n;

	for (k = 0, n = 0; k < r->n; k++) {
		if (wanted(r->instances[k].service, want, nwant))
			r->instances[n++] = r->instances[k];
		else
			free_instance(&r->instances[k]);
	}
	r->n = n;
	for (k = 0, n = 0; k < r->nnodes; k++) {
		if (wanted(r->nodes[k].service, want, nwant))
			r->nodes[n++] = r->nodes[k];
		else
			free(r->nodes[k].service);
	}
	r->nnodes = n;
}

int
msh_registry_load(const char *file, const char *const *want, size_t nwant,
    struct msh_registry *r, struct msh_diag *d)
{
	struct reg_ctx c = { .reg = r, .diag = d, .file = file };
	unsigned before = d->errors;

	memset(r, 0, sizeof(*r));
	msh_ini_parse_file(file, on_value, &c, d);
	check_all(r, file, d);
	if (d->errors != before) {
		msh_registry_free(r);
		return -1;
	}
	keep_wanted(r, want, nwant);
	return 0;
}

static size_t
count_of(const struct msh_registry *r, const char *service)
{
	size_t k, n = 0;

	for (k = 0; k < r->n; k++)
		n += strcmp(r->instances[k].service, service) == 0;
	return n;
}

static int
said_empty(const struct msh_registry *r, const char *service)
{
	size_t k;

	for (k = 0; k < r->nnodes; k++)
		if (r->nodes[k].empty &&
		    strcmp(r->nodes[k].service, service) == 0)
			return 1;
	return 0;
}

size_t
msh_registry_keep_vanished(struct msh_registry *r,
    const struct msh_registry *old, const char *file, struct msh_diag *d)
{
	size_t k, j, kept = 0, n0 = r->n;
	size_t cap = r->n;

	for (k = 0; k < old->n; k++) {
		const struct msh_instance *o = &old->instances[k];
		struct msh_instance *i;

		/* Sorted: a service's instances are together. */
		if (k > 0 && strcmp(o->service, old->instances[k - 1].service)
		    == 0)
			continue;
		for (j = 0; j < n0; j++)
			if (strcmp(r->instances[j].service, o->service) == 0)
				break;
		if (j < n0 || said_empty(r, o->service))
			continue;
		msh_diag_warning(d, "vanished", file, 0,
		    "service \"%s\" has no instances any more; keeping its "
		    "last %zu (say [/services/%s] empty = on if it is "
		    "meant)", o->service, count_of(old, o->service),
		    o->service);
		kept++;
		for (j = k; j < old->n &&
		    strcmp(old->instances[j].service, o->service) == 0; j++) {
			r->instances = grow(r->instances, &cap, r->n,
			    sizeof(*i));
			i = &r->instances[r->n++];
			*i = old->instances[j];
			i->service = strdup(i->service);
			i->id = strdup(i->id);
			i->zone = i->zone ? strdup(i->zone) : NULL;
			i->labels = i->labels ? strdup(i->labels) : NULL;
			if (i->service == NULL || i->id == NULL)
				abort();
		}
	}
	if (kept > 0)
		qsort(r->instances, r->n, sizeof(*r->instances), cmp_instance);
	return kept;
}

void
msh_registry_free(struct msh_registry *r)
{
	size_t k;

	for (k = 0; k < r->n; k++)
		free_instance(&r->instances[k]);
	for (k = 0; k < r->nnodes; k++)
		free(r->nodes[k].service);
	free(r->instances);
	free(r->nodes);
	memset(r, 0, sizeof(*r));
}

int
msh_instance_serving(const struct msh_instance *i)
{
	return i->health == MSH_HEALTH_PASSING || i->health == MSH_HEALTH_WARNING;
}
