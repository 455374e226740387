/*
 * Every meshd.conf key meshd knows, its own and its modules', is
 * documented in meshd.conf(5), and every section too: the directive
 * tables drive this check as they drive the loader.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "module.h"

static char *page;

static int
setup(void **state)
{
	const char *src = getenv("MSH_SRCDIR");
	char path[1024];
	FILE *fp;
	long n;

	if (src == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/man/meshd.conf.5", src);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	page = calloc(1, n + 1);
	if (fread(page, 1, n, fp) != (size_t)n)
		return -1;
	fclose(fp);
	return 0;
}

static int
teardown(void **state)
{
	free(page);
	return 0;
}

static int
documented(const char *key)
{
	char item[128];
	const char *p;

	snprintf(item, sizeof(item), "\n.It Cm %s", key);
	for (p = page; (p = strstr(p, item)) != NULL; p++) {
		char next = p[strlen(item)];

		if (next == '\n' || next == ' ')
			return 1;
	}
	return 0;
}

static void
test_keys(void **state)
{
	const struct msh_directive *d;
	size_t i, n = 0;

	if (page == NULL)
		skip();
	for (d = msh_core_directives; d->key != NULL; d++, n++)
		if (!documented(d->key))
			fail_msg("meshd.conf(5) lacks \".It Cm %s\"", d->key);
	for (i = 0; msh_modules[i] != NULL; i++)
		for (d = msh_modules[i]->directives; d && d->key; d++, n++)
			if (!documented(d->key))
				fail_msg("meshd.conf(5) lacks \".It Cm %s\" "
				    "(module %s)", d->key, msh_modules[i]->name);
	assert_true(n >= 13);
}

static void
test_sections(void **state)
{
	char want[64];
	size_t i;

	if (page == NULL)
		skip();
	for (i = 0; i < MSH_SEC_COUNT; i++) {
		snprintf(want, sizeof(want), "[%s", msh_section_names[i]);
		if (strstr(page, want) == NULL)
			fail_msg("meshd.conf(5) lacks section %s", want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_sections),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
