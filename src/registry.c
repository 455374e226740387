#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iniread.h"
#include "map.h"
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
	const char *const	*want;
	size_t			 nwant;
	struct msh_instance	*cur;	/* NULL in a bad section */
	struct msh_service_node	*node;	/* in [/services/NAME] */
	size_t			 ncap, nodecap;
	/* Names to the line they were first seen at (never 0, so never
	 * NULL as a value), copied: a registry of 10,000 instances costs no
	 * allocation per instance it does not keep. */
	struct msh_map		 paths;		/* every instance's */
	struct msh_map		 services;	/* those with instances */
	char			 last_service[MSH_NAME_MAX + 1];
	const struct msh_registry *prev;	/* its known sections */
	uint64_t		*seen;		/* this file's sections */
	size_t			 nseen, seen_cap;
	/* An instance this sidecar does not keep is read, checked and
	 * forgotten here. */
	struct msh_instance	 scratch;
	char			 scratch_service[MSH_NAME_MAX + 1];
	char			 scratch_id[MSH_INI_MAX_LINE + 1];
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

/* Add name (len bytes) to m, seen at line; if it was there, the line it
 * was first seen at, else 0. */
static unsigned
add_line(struct msh_map *m, const char *name, size_t len, unsigned line)
{
	return (uintptr_t)msh_map_add_copy(m, name, len,
	    (void *)(uintptr_t)line);
}

/*
 * "/services/NAME/instances/ID" into NAME (in buf) and ID (in path), or
 * "/services/NAME" (a service's own node) into NAME and a NULL ID.
 */
static int
split_path(const char *path, char buf[MSH_NAME_MAX + 1], const char **id)
{
	static const char prefix[] = "/services/", mid[] = "/instances/";
	const char *name = path + sizeof(prefix) - 1, *slash, *err;
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
		*id = NULL;
		return 0;
	}
	slash += sizeof(mid) - 1;
	if (*slash == '\0' || strchr(slash, '/') != NULL ||
	    strpbrk(slash, " \t") != NULL)
		return -1;
	*id = slash;
	return 0;
}

static char *
dup_or_abort(const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		abort();
	return d;
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
 * An instance's path (len bytes) seen at line: each must be there once;
 * and its service has instances. The line the path was first seen at if
 * it was, else 0.
 */
static unsigned
note_instance(struct reg_ctx *c, const char *path, size_t len,
    const char *service, unsigned line)
{
	unsigned first;

	if ((first = add_line(&c->paths, path, len, line)) != 0)
		msh_diag_error(c->diag, "duplicate", c->file, line,
		    "instance %.*s appears twice (first at line %u)", (int)len,
		    path, first);
	/* A service's instances mostly come together. */
	if (strcmp(service, c->last_service) != 0) {
		add_line(&c->services, service, strlen(service), line);
		strcpy(c->last_service, service);
	}
	return first;
}

/*
 * Was a section of this hash in prev's file? The known sections are a set
 * of 64-bit hashes of their own, not an msh_map: there the hash would be
 * a key of 8 bytes, kept as a copy, hashed again and compared through a
 * pointer, in slots four times as wide; here a probe reads 8 bytes.
 */
static int
known(const struct msh_registry *r, uint64_t h)
{
	size_t k;

	if (r == NULL || r->known_cap == 0)
		return 0;
	for (k = h & (r->known_cap - 1); r->known[k] != 0;
	    k = (k + 1) & (r->known_cap - 1))
		if (r->known[k] == h)
			return 1;
	return 0;
}

/* The instance just read is whole: it needs an address and a port. */
static void
end_instance(struct reg_ctx *c)
{
	struct msh_instance *i = c->cur;

	if (i == NULL)
		return;
	if (i->address_line == 0 || i->port_line == 0)
		msh_diag_error(c->diag, "missing-key", c->file, i->line,
		    "instance %s of \"%s\" needs an address and a port",
		    i->id, i->service);
	else
		msh_addr_set_port(&i->address, i->port);
	c->cur = NULL;
}

/*
 * The skipper: an instance section, byte for byte one of the good file
 * prev was read from, of a service this sidecar does not keep, is not
 * parsed again. Only its path is noted, for the checks across sections.
 * Parsing is most of what a change to a large registry costs, and most
 * of a registry is other services, unchanged.
 */
static int
skip_known(void *user, const char *path, size_t plen, const char *text,
    size_t len, unsigned line)
{
	static const char prefix[] = "/services/";
	struct reg_ctx *c = user;
	uint64_t h = msh_hash_text(text, len);
	const char *end = path + plen, *name, *slash;
	char service[MSH_NAME_MAX + 1];
	size_t n;

	c->seen = grow(c->seen, &c->seen_cap, c->nseen, sizeof(*c->seen));
	c->seen[c->nseen++] = h;
	if (!known(c->prev, h))
		return 0;
	/* It was a good instance path, or a service's node, which is always
	 * parsed. */
	name = path + sizeof(prefix) - 1;
	if (plen < sizeof(prefix) ||
	    (slash = memchr(name, '/', end - name)) == NULL ||
	    (n = slash - name) > MSH_NAME_MAX)
		return 0;
	memcpy(service, name, n);
	service[n] = '\0';
	if (wanted(service, c->want, c->nwant))
		return 0;
	end_instance(c);
	c->node = NULL;
	note_instance(c, path, plen, service, line);
	return 1;
}

static void
begin_section(struct reg_ctx *c, const char *section, unsigned line)
{
	struct msh_registry *r = c->reg;
	struct msh_instance *i;
	const char *id;
	char service[MSH_NAME_MAX + 1];
	unsigned first;

	end_instance(c);
	c->node = NULL;
	if (split_path(section, service, &id) != 0) {
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
		c->node->service = dup_or_abort(service);
		c->node->line = line;
		return;
	}
	first = note_instance(c, section, strlen(section), service, line);
	if (first == 0 && wanted(service, c->want, c->nwant)) {
		r->instances = grow(r->instances, &c->ncap, r->n, sizeof(*i));
		i = &r->instances[r->n++];
		memset(i, 0, sizeof(*i));
		i->service = dup_or_abort(service);
		i->id = dup_or_abort(id);
	} else {
		i = &c->scratch;
		memset(i, 0, sizeof(*i));
		i->service = strcpy(c->scratch_service, service);
		i->id = strcpy(c->scratch_id, id);
	}
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
		if (i != &c->scratch)
			i->zone = dup_or_abort(value);
		break;
	case REG_LABELS:
		if (msh_check_labels(value, &err) == 0 && i != &c->scratch)
			i->labels = dup_or_abort(value);
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

/*
 * What needs the whole file: services listed twice, services both said
 * empty and with instances; and the instances kept, sorted by path.
 */
static void
end_file(struct reg_ctx *c)
{
	struct msh_registry *r = c->reg;
	size_t k;
	unsigned line;

	end_instance(c);
	if (r->n > 1)
		qsort(r->instances, r->n, sizeof(*r->instances),
		    cmp_instance);
	if (r->nnodes > 1)
		qsort(r->nodes, r->nnodes, sizeof(*r->nodes), cmp_node);
	for (k = 1; k < r->nnodes; k++)
		if (strcmp(r->nodes[k].service, r->nodes[k - 1].service) == 0)
			msh_diag_error(c->diag, "duplicate", c->file,
			    r->nodes[k].line, "service /services/%s appears "
			    "twice (first at line %u)", r->nodes[k].service,
			    r->nodes[k - 1].line);
	for (k = 0; k < r->nnodes; k++) {
		const struct msh_service_node *s = &r->nodes[k];

		if (s->empty && (line = (uintptr_t)msh_map_find(&c->services,
		    s->service, strlen(s->service))) != 0)
			msh_diag_error(c->diag, "bad-value", c->file,
			    s->empty_line, "service \"%s\" is said to be empty "
			    "but lists instances (line %u)", s->service, line);
	}
}

/* Drop the nodes of what this sidecar does not route to: its memory
 * does not grow with the mesh. */
static void
keep_wanted(struct msh_registry *r, const char *const *want, size_t nwant)
{
	size_t k, n;

	for (k = 0, n = 0; k < r->nnodes; k++) {
		if (wanted(r->nodes[k].service, want, nwant))
			r->nodes[n++] = r->nodes[k];
		else
			free(r->nodes[k].service);
	}
	r->nnodes = n;
}

/* Every section of the file r was read from is good: remember them. */
static void
remember(struct msh_registry *r, const uint64_t *seen, size_t n)
{
	size_t k, j;

	for (r->known_cap = 16; r->known_cap < 2 * n; r->known_cap *= 2)
		;
	if ((r->known = calloc(r->known_cap, sizeof(*r->known))) == NULL)
		abort();
	for (k = 0; k < n; k++) {
		for (j = seen[k] & (r->known_cap - 1); r->known[j] != 0 &&
		    r->known[j] != seen[k]; j = (j + 1) & (r->known_cap - 1))
			;
		r->known[j] = seen[k];
	}
}

int
msh_registry_load(const char *file, const char *const *want, size_t nwant,
    const struct msh_registry *prev, struct msh_registry *r,
    struct msh_diag *d)
{
	struct reg_ctx c = {
		.reg = r, .diag = d, .file = file, .want = want, .nwant = nwant,
		.prev = prev,
	};
	unsigned before = d->errors;

	memset(r, 0, sizeof(*r));
	msh_ini_parse_file_skipping(file, on_value, skip_known, &c, d);
	end_file(&c);
	msh_map_free(&c.paths);
	msh_map_free(&c.services);
	if (d->errors != before) {
		free(c.seen);
		msh_registry_free(r);
		return -1;
	}
	remember(r, c.seen, c.nseen);
	free(c.seen);
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
	free(r->known);
	memset(r, 0, sizeof(*r));
}

int
msh_instance_serving(const struct msh_instance *i)
{
	return i->health == MSH_HEALTH_PASSING || i->health == MSH_HEALTH_WARNING;
}
