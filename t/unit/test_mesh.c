/*
 * meshc's parser from memory (mc_parse_buffer): includes are followed
 * relative to the name the buffer is given, and refused, without a file
 * being touched, under MC_PARSE_NO_INCLUDE (what the fuzz target uses).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mesh.h"

/* The last diagnostic, kept. */
struct seen {
	unsigned	n;
	char		code[32];
	char		text[512];
};

static void
keep(void *arg, const struct msh_diag_msg *m)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->code, sizeof(s->code), "%s", m->code);
	snprintf(s->text, sizeof(s->text), "%s", m->text);
}

static const char mesh[] =
    "[mesh]\nname = m\nregistry = r.conf\ninclude = part.conf\n";

/* A directory with part.conf, which defines one service; its path in
 * dir. */
static void
make_part(char *dir, size_t len)
{
	char path[4096];
	FILE *fp;

	snprintf(dir, len, "%s/test_mesh.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/part.conf", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("[service a]\napp_port = 8080\ninbound_port = 7000\n", fp);
	assert_int_equal(fclose(fp), 0);
}

static void
remove_part(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/part.conf", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_include_followed(void **state)
{
	struct seen seen = { 0 };
	struct msh_diag d = { .sink = keep, .arg = &seen };
	struct mc_mesh m;
	char dir[4096], name[4096 + 16];

	make_part(dir, sizeof(dir));
	snprintf(name, sizeof(name), "%s/mesh.conf", dir);
	assert_int_equal(mc_parse_buffer(&m, name, mesh, strlen(mesh), 0, &d),
	    0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(m.nservices, 1);
	assert_string_equal(m.services[0]->name, "a");
	assert_int_equal(m.nfiles, 2);
	mc_free(&m);
	remove_part(dir);
}

static void
test_include_refused(void **state)
{
	struct seen seen = { 0 };
	struct msh_diag d = { .sink = keep, .arg = &seen };
	struct mc_mesh m;
	char dir[4096], name[4096 + 16];

	make_part(dir, sizeof(dir));
	snprintf(name, sizeof(name), "%s/mesh.conf", dir);
	assert_int_equal(mc_parse_buffer(&m, name, mesh, strlen(mesh),
	    MC_PARSE_NO_INCLUDE, &d), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.code, "include");
	assert_non_null(strstr(seen.text, "mesh.conf:4: error: include is "
	    "not allowed here"));
	/* Nothing was read: no service, no second file. */
	assert_int_equal(m.nservices, 0);
	assert_int_equal(m.nfiles, 1);
	mc_free(&m);
	remove_part(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_include_followed),
		cmocka_unit_test(test_include_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
