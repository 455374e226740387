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
};

/* "/services/NAME/instances/ID" into NAME and ID. */
static int
split_path(const char *path, char **service, char **id)
{
	static const char prefix[] = "/services/", mid[] = "/instances/";
	const char *name = path + sizeof(prefix) - 1, *slash, *err;
	char buf[MSH_NAME_MAX + 1];
	size_t n;

	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	if ((slash = strchr(name, '/')) == NULL ||
	    strncmp(slash, mid, sizeof(mid) - 1) != 0)
		return -1;
	n = slash - name;
	if (n == 0 || n > MSH_NAME_MAX)
		return -1;
	memcpy(buf, name, n);
	buf[n] = '\0';
	if (msh_check_name(buf, &err) != 0)
		return -1;
	slash += sizeof(mid) - 1;
	if (*slash == '\0' || strchr(slash, '/') != NULL ||
	    strpbrk(slash, " \t") != NULL)
		return -1;
	*service = strdup(buf);
	*id = strdup(slash);
	return 0;
}

static void
begin_instance(struct reg_ctx *c, const char *section, unsigned line)
{
	struct msh_registry *r = c->reg;
	struct msh_instance *i, *grown;
	char *service, *id;
	size_t k;

	c->cur = NULL;
	if (split_path(section, &service, &id) != 0) {
		msh_diag_error(c->diag, "bad-section", c->file, line,
		    "section [%s] is not an instance path like "
		    "[/services/NAME/instances/ID]", section);
		return;
	}
	for (k = 0; k < r->n; k++) {
		if (strcmp(r->instances[k].service, service) == 0 &&
		    strcmp(r->instances[k].id, id) == 0) {
			msh_diag_error(c->diag, "duplicate", c->file, line,
			    "instance [%s] appears twice (first at line %u)",
			    section, r->instances[k].line);
			free(service);
			free(id);
			return;
		}
	}
	grown = realloc(r->instances, (r->n + 1) * sizeof(*grown));
	if (grown == NULL)
		abort();
	r->instances = grown;
	i = &r->instances[r->n++];
	memset(i, 0, sizeof(*i));
	i->service = service;
	i->id = id;
	i->line = line;
	i->weight = 1;
	c->cur = i;
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
		begin_instance(c, section, line);
		return;
	}
	if (section[0] == '\0') {
		msh_diag_error(c->diag, "bad-section", c->file, line,
		    "\"%s\" is outside any instance section", key);
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

int
msh_registry_load(const char *file, struct msh_registry *r,
    struct msh_diag *d)
{
	struct reg_ctx c = { .reg = r, .diag = d, .file = file };
	unsigned before = d->errors;
	size_t k;

	memset(r, 0, sizeof(*r));
	msh_ini_parse_file(file, on_value, &c, d);
	for (k = 0; k < r->n; k++) {
		struct msh_instance *i = &r->instances[k];

		if (i->address_line == 0 || i->port_line == 0) {
			msh_diag_error(d, "missing-key", file, i->line,
			    "instance %s of \"%s\" needs an address and a port",
			    i->id, i->service);
			continue;
		}
		msh_addr_set_port(&i->address, i->port);
	}
	if (d->errors != before) {
		msh_registry_free(r);
		return -1;
	}
	return 0;
}

void
msh_registry_free(struct msh_registry *r)
{
	size_t k;

	for (k = 0; k < r->n; k++) {
		free(r->instances[k].service);
		free(r->instances[k].id);
		free(r->instances[k].zone);
		free(r->instances[k].labels);
	}
	free(r->instances);
	memset(r, 0, sizeof(*r));
}

int
msh_instance_serving(const struct msh_instance *i)
{
	return i->health == MSH_HEALTH_PASSING || i->health == MSH_HEALTH_WARNING;
}
