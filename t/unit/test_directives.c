/*
 * The man-page coverage test: every meshd.conf key meshd knows, its own
 * (msh_core_directives) and each compiled-in module's, has an
 * ".It Cm KEY" entry in man/meshd.conf.5, and every section kind appears
 * there too. The directive tables drive this as they drive the loader, so
 * a key added without its documentation fails here.
 *
 * The page is found under $MSH_SRCDIR (t/run sets it); without it the
 * tests are skipped.
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

struct page {
	char	 *text;		/* the whole file */
	char	**lines;	/* into text, NUL-terminated */
	size_t	  nlines;
};

static int
group_setup(void **state)
{
	const char *src = getenv("MSH_SRCDIR");
	struct page *p;
	char path[1024], *s;
	FILE *fp;
	long n;
	size_t i;

	*state = NULL;
	if (src == NULL || src[0] == '\0')
		return 0;
	snprintf(path, sizeof(path), "%s/man/meshd.conf.5", src);
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "# cannot open %s\n", path);
		return -1;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) <= 0 ||
	    fseek(fp, 0, SEEK_SET) != 0 ||
	    (p->text = malloc(n + 1)) == NULL ||
	    fread(p->text, 1, n, fp) != (size_t)n) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	p->text[n] = '\0';
	for (s = p->text; *s != '\0'; s++)
		if (*s == '\n')
			p->nlines++;
	if ((p->lines = calloc(p->nlines + 1, sizeof(*p->lines))) == NULL)
		return -1;
	/* Split in place: each line its own string. */
	for (i = 0, s = p->text; *s != '\0' && i <= p->nlines; i++) {
		char *nl = strchr(s, '\n');

		p->lines[i] = s;
		if (nl == NULL) {
			i++;
			break;
		}
		*nl = '\0';
		s = nl + 1;
	}
	p->nlines = i;
	*state = p;
	return 0;
}

static int
group_teardown(void **state)
{
	struct page *p = *state;

	if (p != NULL) {
		free(p->lines);
		free(p->text);
		free(p);
	}
	return 0;
}

static struct page *
page_or_skip(void **state)
{
	if (*state == NULL)
		skip();		/* MSH_SRCDIR unset: no page to check */
	return *state;
}

/* A line starting ".It Cm KEY", KEY a whole word. */
static int
documented(const struct page *p, const char *key)
{
	static const char prefix[] = ".It Cm ";
	size_t i, klen = strlen(key);
	const char *l;

	for (i = 0; i < p->nlines; i++) {
		l = p->lines[i];
		if (strncmp(l, prefix, sizeof(prefix) - 1) != 0)
			continue;
		l += sizeof(prefix) - 1;
		if (strncmp(l, key, klen) == 0 &&
		    (l[klen] == '\0' || l[klen] == ' '))
			return 1;
	}
	return 0;
}

static void
test_core_keys(void **state)
{
	const struct page *p = page_or_skip(state);
	const struct msh_directive *d;
	size_t n = 0, missing = 0;

	for (d = msh_core_directives; d->key != NULL; d++, n++) {
		if (!documented(p, d->key)) {
			print_error("meshd.conf(5) lacks \".It Cm %s\" "
			    "(section [%s])\n", d->key,
			    msh_section_names[d->section]);
			missing++;
		}
	}
	/* The table is there and was walked. */
	assert_true(n > 0);
	assert_int_equal(missing, 0);
}

static void
test_module_keys(void **state)
{
	const struct page *p = page_or_skip(state);
	const struct msh_directive *d;
	size_t i, nmodules = 0, missing = 0;

	for (i = 0; msh_modules[i] != NULL; i++, nmodules++) {
		assert_non_null(msh_modules[i]->name);
		for (d = msh_modules[i]->directives; d != NULL &&
		    d->key != NULL; d++) {
			if (!documented(p, d->key)) {
				print_error("meshd.conf(5) lacks \".It Cm %s\" "
				    "(module %s)\n", d->key,
				    msh_modules[i]->name);
				missing++;
			}
		}
	}
	/* configure always builds at least one load balancer. */
	assert_true(nmodules > 0);
	assert_int_equal(missing, 0);
}

/* "[NAME]" or "[NAME " somewhere in the page. */
static int
section_documented(const struct page *p, const char *name)
{
	size_t i, nlen = strlen(name);
	const char *s;

	for (i = 0; i < p->nlines; i++)
		for (s = p->lines[i]; (s = strchr(s, '[')) != NULL; s++)
			if (strncmp(s + 1, name, nlen) == 0 &&
			    (s[1 + nlen] == ']' || s[1 + nlen] == ' '))
				return 1;
	return 0;
}

static void
test_sections(void **state)
{
	const struct page *p = page_or_skip(state);
	size_t i, missing = 0;

	for (i = 0; i < MSH_SEC_COUNT; i++) {
		assert_non_null(msh_section_names[i]);
		if (!section_documented(p, msh_section_names[i])) {
			print_error("meshd.conf(5) lacks section [%s]\n",
			    msh_section_names[i]);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* The matcher itself: it must not take a prefix or a mention for an
 * entry, or the tests above could not fail. */
static void
test_matcher(void **state)
{
	char text[] = ".It Cm address Ns = Ns Ar address\n"
	    ".It Cm via\n"
	    "The service key.\n"
	    ".Ss [listener NAME]\n";
	char *lines[] = { text, NULL, NULL, NULL };
	struct page p = { .text = text, .lines = lines, .nlines = 4 };
	char *s;
	size_t i;

	for (i = 1, s = text; (s = strchr(s, '\n')) != NULL && i <= 4; i++) {
		*s++ = '\0';
		if (i < 4)
			lines[i] = s;
	}
	assert_true(documented(&p, "address"));
	assert_true(documented(&p, "via"));
	assert_false(documented(&p, "addr"));
	assert_false(documented(&p, "service"));
	assert_false(documented(&p, "Ns"));
	assert_true(section_documented(&p, "listener"));
	assert_false(section_documented(&p, "list"));
	assert_false(section_documented(&p, "cluster"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matcher),
		cmocka_unit_test(test_core_keys),
		cmocka_unit_test(test_module_keys),
		cmocka_unit_test(test_sections),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
