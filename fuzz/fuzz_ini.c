/*
 * The INI reader and the three file loaders on top of it: meshd.conf,
 * the registry and (through the same reader) mesh.conf.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "iniread.h"
#include "registry.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
ignore(void *arg, const struct msh_diag_msg *m)
{
}

static void
count(void *user, const char *section, const char *key, const char *value,
    unsigned line)
{
	(*(size_t *)user)++;
}

/*
 * A file read again with its first reading as the previous view skips
 * the sections of services not wanted: the view must be the same, and
 * so must the verdict.
 */
static void
registry_again(const char *path)
{
	static const char *const want[] = { "a" };
	struct msh_diag d = { .sink = ignore };
	struct msh_registry first, again;
	size_t k;
	int r;

	if (msh_registry_load(path, want, 1, NULL, &first, &d) != 0)
		return;
	r = msh_registry_load(path, want, 1, &first, &again, &d);
	if (r != 0 || again.n != first.n || again.nnodes != first.nnodes)
		abort();
	for (k = 0; k < first.n; k++)
		if (strcmp(first.instances[k].id, again.instances[k].id) != 0 ||
		    first.instances[k].port != again.instances[k].port ||
		    first.instances[k].line != again.instances[k].line)
			abort();
	msh_registry_free(&first);
	msh_registry_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msh_diag d = { .sink = ignore };
	char path[] = "/tmp/fuzz-ini-XXXXXX";
	struct msh_registry reg;
	struct msh_conf *conf;
	size_t n = 0;
	int fd;

	msh_ini_parse_buffer("fuzz", (const char *)data, size, count, &n, &d);
	if ((fd = mkstemp(path)) < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		if ((conf = msh_conf_load(path, NULL, &d)) != NULL)
			msh_conf_unref(conf);
		if (msh_registry_load(path, NULL, 0, NULL, &reg, &d) == 0)
			msh_registry_free(&reg);
		registry_again(path);
	}
	close(fd);
	unlink(path);
	return 0;
}
