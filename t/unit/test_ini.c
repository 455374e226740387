/*
 * The INI reader over Debian's inih: line numbers, section headers seen
 * even when empty, continuation lines, comments, and every error of a
 * file in one run, over-long lines refused rather than truncated.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iniread.h"

static char got[8192];
static char diags[4096];

static void
on_value(void *user, const char *section, const char *key, const char *value,
    unsigned line)
{
	size_t n = strlen(got);

	snprintf(got + n, sizeof(got) - n, "%u [%s] %s=%s\n", line, section,
	    key ? key : "(header)", value ? value : "");
}

static void
sink(void *arg, enum msh_severity sev, const char *line)
{
	strncat(diags, line, sizeof(diags) - strlen(diags) - 2);
	strcat(diags, "\n");
}

static struct msh_diag
parse(const char *text)
{
	struct msh_diag d = { .sink = sink };

	got[0] = diags[0] = '\0';
	msh_ini_parse_buffer("t.conf", text, strlen(text), on_value, NULL, &d);
	return d;
}

static void
test_values_and_lines(void **state)
{
	struct msh_diag d = parse(
	    "; comment\n"
	    "# comment\n"
	    "[a]\n"
	    "k = v ; inline comment\n"
	    "list = one,\n"
	    "  two\n"
	    "\n"
	    "[empty]\n"
	    "[b c]\n"
	    "x: y\n");

	assert_int_equal(d.errors, 0);
	assert_string_equal(got,
	    "3 [a] (header)=\n"
	    "4 [a] k=v\n"
	    "5 [a] list=one,\n"
	    "6 [a] list=two\n"
	    "8 [empty] (header)=\n"
	    "9 [b c] (header)=\n"
	    "10 [b c] x=y\n");
}

static void
test_long_section_names(void **state)
{
	struct msh_diag d = parse(
	    "[/services/a-rather-long-service-name/instances/i-0123456789abcdef]\n"
	    "port = 1\n");

	assert_int_equal(d.errors, 0);
	assert_string_equal(got,
	    "1 [/services/a-rather-long-service-name/instances/i-0123456789abcdef]"
	    " (header)=\n"
	    "2 [/services/a-rather-long-service-name/instances/i-0123456789abcdef]"
	    " port=1\n");
}

static void
test_every_error_reported(void **state)
{
	char text[1024], line[256];
	struct msh_diag d;

	memset(line, 'x', 199);
	line[199] = '\0';
	snprintf(text, sizeof(text),
	    "[a\n"				/* 1: no ] */
	    "no separator here\n"		/* 2 */
	    "[ok]\n"				/* 3 */
	    "k%s = 1\n"				/* 4: over-long */
	    " = v\n"				/* 5: no key */
	    "good = yes\n"			/* 6 */
	    "[x] junk\n"			/* 7 */
	    "%.55s = 1\n",			/* 8: key too long */
	    line, line);
	d = parse(text);
	assert_int_equal(d.errors, 6);
	assert_string_equal(diags,
	    "t.conf:1: error: section header is missing its closing ']'\n"
	    "t.conf:2: error: expected \"key = value\", \"[section]\" or a comment\n"
	    "t.conf:4: error: line is 204 bytes long, at most 198 are allowed "
	    "(split lists over repeated keys or continuation lines)\n"
	    "t.conf:5: error: missing key before '='\n"
	    "t.conf:7: error: unexpected text after ']'\n"
	    "t.conf:8: error: key is 55 bytes long, at most 49 are allowed\n");
	/* Parsing went on: the good key after the errors arrived. */
	assert_non_null(strstr(got, "6 [ok] good=yes\n"));
	assert_null(strstr(got, "xxxx"));
}

static void
test_limit_exactly(void **state)
{
	char text[512];
	struct msh_diag d;

	/* 198 bytes is the longest inih reads whole; 199 is refused. */
	snprintf(text, sizeof(text), "[s]\nk = %0*d\n", 198 - 4, 7);
	d = parse(text);
	assert_int_equal(d.errors, 0);
	assert_int_equal(strlen(strchr(got + 20, '=') + 1), 198 - 4 + 1);
	snprintf(text, sizeof(text), "[s]\nk = %0*d\n", 199 - 4, 7);
	d = parse(text);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(diags, "t.conf:2: error: line is 199 bytes long"));
}

static void
test_missing_file(void **state)
{
	struct msh_diag d = { .sink = sink };

	diags[0] = '\0';
	assert_int_equal(msh_ini_parse_file("/nonexistent/x.conf", on_value,
	    NULL, &d), -1);
	assert_string_equal(diags, "/nonexistent/x.conf: error: cannot open: "
	    "No such file or directory\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_and_lines),
		cmocka_unit_test(test_long_section_names),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_limit_exactly),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
