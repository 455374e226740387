#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "http1-t.h"
#include "iniread.h"
#include "mesh.h"
#include "spell.h"

/*
 * mesh.conf keys are table rows: the section they go in, the value kind,
 * and where the value and its line are stored.
 */
enum mc_section {
	MC_SEC_MESH,
	MC_SEC_SERVICE,
};

enum mc_kind {
	MC_V_STRING,
	MC_V_NAME,
	MC_V_PORT,
	MC_V_WORKERS,
	MC_V_PROTOCOL,
	MC_V_IP,
	MC_V_DEPS,
	MC_V_DURATION,
	MC_V_DURATION_OFF,	/* or off: 0 */
	MC_V_SIZE,		/* uint64_t bytes, min to max */
	MC_V_COUNT,		/* unsigned, min to max */
	MC_V_FLAG,
};

struct mc_directive {
	enum mc_section	 section;
	const char	*key;
	enum mc_kind	 kind;
	size_t		 offset;	/* of the value in its struct */
	size_t		 line_offset;	/* of its line; 0: repeatable */
	uint64_t	 min, max;	/* MC_V_SIZE, MC_V_COUNT */
};

#define MESH_R(k, kind, f, lo, hi) \
	{ MC_SEC_MESH, k, kind, offsetof(struct mc_mesh, f), \
	    offsetof(struct mc_mesh, f##_line), lo, hi }
#define SERVICE_R(k, kind, f, lo, hi) \
	{ MC_SEC_SERVICE, k, kind, offsetof(struct mc_service, f), \
	    offsetof(struct mc_service, f##_line), lo, hi }
#define MESH(k, kind, f)	MESH_R(k, kind, f, 0, 0)
#define SERVICE(k, kind, f)	SERVICE_R(k, kind, f, 0, 0)
/* Keys of [mesh] a [service] may set for itself. */
#define BOTH(k, kind, f)	MESH(k, kind, f), SERVICE(k, kind, f)
#define BOTH_R(k, kind, f, lo, hi) \
	MESH_R(k, kind, f, lo, hi), SERVICE_R(k, kind, f, lo, hi)

static const struct mc_directive directives[] = {
	MESH("name", MC_V_NAME, name),
	MESH("registry", MC_V_STRING, registry),
	MESH("admin_port", MC_V_PORT, admin_port),
	MESH("outbound_port_base", MC_V_PORT, outbound_port_base),
	MESH("workers", MC_V_WORKERS, workers),
	MESH("connect_timeout", MC_V_DURATION, connect_timeout),
	MESH("response_timeout", MC_V_DURATION, response_timeout),
	BOTH("client_timeout", MC_V_DURATION, client_timeout),
	BOTH("keepalive_timeout", MC_V_DURATION, keepalive_timeout),
	BOTH("idle_timeout", MC_V_DURATION, idle_timeout),
	BOTH_R("max_header_size", MC_V_SIZE, max_header_size, 1024,
	    MSH_HTTP_HEAD_LIMIT),
	BOTH_R("max_headers", MC_V_COUNT, max_headers, 1,
	    MSH_HTTP_HEADERS_LIMIT),
	BOTH_R("buffer_size", MC_V_SIZE, buffer_size, 16384, 64 * 1024 * 1024),
	BOTH("request_timeout", MC_V_DURATION_OFF, request_timeout),
	MESH("via", MC_V_FLAG, via),
	MESH("drain_timeout", MC_V_DURATION, drain_timeout),
	MESH("log_dir", MC_V_STRING, log_dir),
	SERVICE("protocol", MC_V_PROTOCOL, protocol),
	SERVICE("app_address", MC_V_IP, app_address),
	SERVICE("app_port", MC_V_PORT, app_port),
	SERVICE("inbound_port", MC_V_PORT, inbound_port),
	SERVICE("outbound_port", MC_V_PORT, outbound_port),
	SERVICE("connect_timeout", MC_V_DURATION, connect_timeout),
	SERVICE("response_timeout", MC_V_DURATION, response_timeout),
	SERVICE("forwarded_for", MC_V_FLAG, forwarded_for),
	{ MC_SEC_SERVICE, "depends", MC_V_DEPS,
	    offsetof(struct mc_service, deps), 0, 0, 0 },
};

#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))

static const char *const section_names[] = { "mesh", "service" };

struct parse_ctx {
	struct mc_mesh		*mesh;
	struct msh_diag		*diag;
	enum mc_section		 section;
	struct mc_service	*service;
	int			 skip;	/* in a bad section: say nothing more */
	unsigned		 line;	/* of the value being read */
};

struct mc_service *
mc_find_service(const struct mc_mesh *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nservices; i++)
		if (strcmp(m->services[i]->name, name) == 0)
			return m->services[i];
	return NULL;
}

static void
begin_service(struct parse_ctx *c, const char *name, unsigned line)
{
	struct mc_mesh *m = c->mesh;
	struct mc_service *s, **grown;
	const char *err;

	if (msh_check_name(name, &err) != 0) {
		msh_diag_error(c->diag, "bad-name", m->file, line,
		    "bad service name \"%s\": %s", name, err);
		c->skip = 1;
		return;
	}
	if (strcmp(name, "inbound") == 0 || strcmp(name, "local") == 0) {
		msh_diag_error(c->diag, "bad-name", m->file, line,
		    "service name \"%s\" is reserved", name);
		c->skip = 1;
		return;
	}
	if ((s = mc_find_service(m, name)) != NULL) {
		msh_diag_error(c->diag, "duplicate", m->file, line,
		    "service \"%s\" is defined twice (first at line %u)", name,
		    s->line);
		c->skip = 1;
		return;
	}
	grown = realloc(m->services, (m->nservices + 1) * sizeof(*grown));
	if (grown == NULL || (s = calloc(1, sizeof(*s))) == NULL ||
	    (s->name = strdup(name)) == NULL) {
		perror("meshc");
		exit(2);
	}
	m->services = grown;
	m->services[m->nservices++] = s;
	s->line = line;
	s->protocol = MC_HTTP;
	msh_parse_ip("127.0.0.1", &s->app_address, &err);
	c->service = s;
}

static void
begin_section(struct parse_ctx *c, const char *section, unsigned line)
{
	struct mc_mesh *m = c->mesh;
	const char *suggest, *arg;
	char kind[64];

	c->skip = 0;
	c->service = NULL;
	arg = msh_ini_section_name(section, kind, sizeof(kind));
	if (strcmp(kind, "mesh") == 0) {
		c->section = MC_SEC_MESH;
		if (*arg != '\0') {
			msh_diag_error(c->diag, "bad-section", m->file, line,
			    "[mesh] takes no name");
			c->skip = 1;
		} else if (m->line != 0) {
			msh_diag_error(c->diag, "duplicate", m->file, line,
			    "[mesh] appears twice (first at line %u)", m->line);
			c->skip = 1;
		} else
			m->line = line;
		return;
	}
	if (strcmp(kind, "service") == 0) {
		c->section = MC_SEC_SERVICE;
		if (*arg == '\0') {
			msh_diag_error(c->diag, "bad-section", m->file, line,
			    "[service] needs a name: [service NAME]");
			c->skip = 1;
		} else
			begin_service(c, arg, line);
		return;
	}
	suggest = msh_spell_suggest(kind, section_names,
	    sizeof(section_names) / sizeof(section_names[0]));
	if (suggest != NULL)
		msh_diag_error(c->diag, "unknown-section", m->file, line,
		    "unknown section [%s]; did you mean [%s%s%s]?", section,
		    suggest, *arg ? " " : "", arg);
	else
		msh_diag_error(c->diag, "unknown-section", m->file, line,
		    "unknown section [%s]", section);
	c->skip = 1;
}

static int
add_dep(void *arg, const char *name)
{
	struct parse_ctx *c = arg;
	struct mc_service *s = c->service;
	struct mc_dep *grown;

	grown = realloc(s->deps, (s->ndeps + 1) * sizeof(*grown));
	if (grown == NULL) {
		perror("meshc");
		exit(2);
	}
	s->deps = grown;
	s->deps[s->ndeps].name = strdup(name);
	s->deps[s->ndeps].line = c->line;
	s->ndeps++;
	return 0;
}

static void
unknown_key(struct parse_ctx *c, const char *section, const char *key,
    unsigned line)
{
	const char *cand[NDIRECTIVES], *suggest;
	size_t i, n = 0;

	for (i = 0; i < NDIRECTIVES; i++)
		if (directives[i].section == c->section)
			cand[n++] = directives[i].key;
	suggest = msh_spell_suggest(key, cand, n);
	if (suggest != NULL)
		msh_diag_error(c->diag, "unknown-key", c->mesh->file, line,
		    "unknown key \"%s\" in [%s]; did you mean \"%s\"?", key,
		    section, suggest);
	else
		msh_diag_error(c->diag, "unknown-key", c->mesh->file, line,
		    "unknown key \"%s\" in [%s]", key, section);
}

static void
set_value(struct parse_ctx *c, const struct mc_directive *dir,
    const char *section, const char *value, unsigned line)
{
	char *base = dir->section == MC_SEC_MESH ?
	    (char *)c->mesh : (char *)c->service;
	void *field = base + dir->offset;
	unsigned *seen = (unsigned *)(base + dir->line_offset);
	const char *err = NULL;
	unsigned long ul;

	if (dir->line_offset != 0 && *seen != 0) {
		msh_diag_error(c->diag, "duplicate", c->mesh->file, line,
		    "\"%s\" is set twice in [%s] (first at line %u)", dir->key,
		    section, *seen);
		return;
	}
	switch (dir->kind) {
	case MC_V_NAME:
		if (msh_check_name(value, &err) != 0)
			break;
		/* FALLTHROUGH */
	case MC_V_STRING:
		if (value[0] == '\0') {
			err = "expected a value";
			break;
		}
		free(*(char **)field);
		*(char **)field = strdup(value);
		break;
	case MC_V_PORT:
		msh_parse_port(value, (unsigned *)field, &err);
		break;
	case MC_V_WORKERS:
		if (msh_parse_uint(value, 0, 64, &ul, &err) == 0)
			*(unsigned *)field = ul;
		break;
	case MC_V_PROTOCOL:
		if (strcmp(value, "http") == 0)
			*(enum mc_protocol *)field = MC_HTTP;
		else if (strcmp(value, "tcp") == 0)
			*(enum mc_protocol *)field = MC_TCP;
		else
			err = "expected http or tcp";
		break;
	case MC_V_IP:
		msh_parse_ip(value, (struct msh_addr *)field, &err);
		break;
	case MC_V_FLAG:
		msh_parse_flag(value, (int *)field, &err);
		break;
	case MC_V_DURATION:
	case MC_V_DURATION_OFF:
		msh_parse_timeout(value, dir->kind == MC_V_DURATION_OFF,
		    (uint64_t *)field, &err);
		break;
	case MC_V_SIZE:
		msh_parse_size(value, dir->min, dir->max, (uint64_t *)field,
		    &err);
		break;
	case MC_V_COUNT:
		if (msh_parse_uint(value, dir->min, dir->max, &ul, &err) == 0)
			*(unsigned *)field = ul;
		break;
	case MC_V_DEPS:
		c->line = line;
		msh_split_list(value, add_dep, c);
		return;
	}
	if (err != NULL) {
		msh_diag_error(c->diag, "bad-value", c->mesh->file, line,
		    "bad value \"%s\" for \"%s\": %s", value, dir->key, err);
		return;
	}
	if (dir->line_offset != 0)
		*seen = line;
}

static void
on_value(void *user, const char *section, const char *key, const char *value,
    unsigned line)
{
	struct parse_ctx *c = user;
	size_t i;

	if (key == NULL) {
		begin_section(c, section, line);
		return;
	}
	if (section[0] == '\0') {
		msh_diag_error(c->diag, "bad-section", c->mesh->file, line,
		    "\"%s\" is outside any section", key);
		return;
	}
	if (c->skip)
		return;
	for (i = 0; i < NDIRECTIVES; i++) {
		if (directives[i].section == c->section &&
		    strcmp(directives[i].key, key) == 0) {
			set_value(c, &directives[i], section, value, line);
			return;
		}
	}
	unknown_key(c, section, key, line);
}

static int
read_whole(const char *file, char **buf, size_t *len, struct msh_diag *d)
{
	FILE *fp;
	size_t cap = 0, n;

	*buf = NULL;
	*len = 0;
	if ((fp = fopen(file, "r")) == NULL) {
		msh_diag_error(d, "io",
		    file, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	do {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((*buf = realloc(*buf, cap)) == NULL) {
				perror("meshc");
				exit(2);
			}
		}
		n = fread(*buf + *len, 1, cap - *len, fp);
		*len += n;
	} while (n > 0);
	if (ferror(fp)) {
		msh_diag_error(d, "io",
		    file, 0, "read error: %s", strerror(errno));
		fclose(fp);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	fclose(fp);
	return 0;
}

/* An empty mesh with the defaults every key starts from. */
static void
init_mesh(struct mc_mesh *m, const char *file)
{
	memset(m, 0, sizeof(*m));
	m->file = file;
	m->admin_port = 15000;
	m->outbound_port_base = 15001;
	m->workers = 1;
	m->connect_timeout = 5000;
	m->response_timeout = 60000;
	/* meshd's own defaults (meshd.conf(5)), written out in full. */
	m->client_timeout = 60000;
	m->keepalive_timeout = 60000;
	m->idle_timeout = 3600000;
	m->max_header_size = 16384;
	m->max_headers = 100;
	m->buffer_size = 256 * 1024;
	m->drain_timeout = 30000;
}

int
mc_parse_buffer(struct mc_mesh *m, const char *file, const char *buf,
    size_t len, struct msh_diag *d)
{
	struct parse_ctx c = { .mesh = m, .diag = d };

	init_mesh(m, file);
	EVP_Digest(buf, len, m->digest, NULL, EVP_sha256(), NULL);
	return msh_ini_parse_buffer(file, buf, len, on_value, &c, d);
}

int
mc_parse(struct mc_mesh *m, const char *file, struct msh_diag *d)
{
	char *buf;
	size_t len;
	int r;

	if (read_whole(file, &buf, &len, d) != 0) {
		init_mesh(m, file);
		return -1;
	}
	r = mc_parse_buffer(m, file, buf, len, d);
	free(buf);
	return r;
}

void
mc_free(struct mc_mesh *m)
{
	size_t i, j;

	for (i = 0; i < m->nservices; i++) {
		struct mc_service *s = m->services[i];

		for (j = 0; j < s->ndeps; j++)
			free(s->deps[j].name);
		free(s->deps);
		free(s->name);
		free(s);
	}
	free(m->services);
	free(m->name);
	free(m->registry);
	free(m->log_dir);
}
