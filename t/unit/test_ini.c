/*
 * The INI reader (lib/iniread.h) over Debian's inih: every value and
 * every section header arrives with its line, continuation lines keep
 * their key, comments are skipped, and each syntax error of a file is
 * reported with its line while parsing goes on. Over-long lines are
 * refused rather than truncated, long section names arrive whole.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "iniread.h"

#define MAX_EVENTS	64
#define MAX_DIAGS	32

/* One call of the handler, copied. */
struct event {
	char		*section;
	char		*key;		/* NULL: a section header */
	char		*value;		/* NULL: a section header */
	unsigned	 line;
};

/* What one parse produced: handler calls and diagnostic lines. */
struct run {
	struct event	 ev[MAX_EVENTS];
	size_t		 nev;
	char		*diag[MAX_DIAGS];
	size_t		 ndiag;
	int		 bad_severity;	/* a warning, not an error */
	struct msh_diag	 d;
};

static char *
dup_or_null(const char *s)
{
	char *r;

	if (s == NULL)
		return NULL;
	r = strdup(s);
	assert_non_null(r);
	return r;
}

static void
on_value(void *user, const char *section, const char *key, const char *value,
    unsigned line)
{
	struct run *r = user;
	struct event *e;

	assert_non_null(section);
	/* A header has neither key nor value; a value has both. */
	assert_true((key == NULL) == (value == NULL));
	assert_true(r->nev < MAX_EVENTS);
	e = &r->ev[r->nev++];
	e->section = dup_or_null(section);
	e->key = dup_or_null(key);
	e->value = dup_or_null(value);
	e->line = line;
}

static void
sink(void *arg, const struct msh_diag_msg *m)
{
	struct run *r = arg;

	if (m->sev != MSH_ERROR)
		r->bad_severity = 1;
	if (r->ndiag < MAX_DIAGS)
		r->diag[r->ndiag++] = dup_or_null(m->text);
}

static int
setup_run(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	r->d.sink = sink;
	r->d.arg = r;
	*state = r;
	return 0;
}

static void
clear_run(struct run *r)
{
	size_t i;

	for (i = 0; i < r->nev; i++) {
		free(r->ev[i].section);
		free(r->ev[i].key);
		free(r->ev[i].value);
	}
	for (i = 0; i < r->ndiag; i++)
		free(r->diag[i]);
	memset(r, 0, sizeof(*r));
	r->d.sink = sink;
	r->d.arg = r;
}

static int
teardown_run(void **state)
{
	clear_run(*state);
	free(*state);
	return 0;
}

static void
parse(struct run *r, const char *text)
{
	clear_run(r);
	assert_int_equal(msh_ini_parse_buffer("t.conf", text, strlen(text),
	    on_value, r, &r->d), 0);
	assert_false(r->bad_severity);
	assert_int_equal(r->d.errors, r->ndiag);
}

static void
check_header(const struct run *r, size_t i, unsigned line,
    const char *section)
{
	assert_true(i < r->nev);
	assert_int_equal(r->ev[i].line, line);
	assert_string_equal(r->ev[i].section, section);
	assert_null(r->ev[i].key);
	assert_null(r->ev[i].value);
}

static void
check_value(const struct run *r, size_t i, unsigned line,
    const char *section, const char *key, const char *value)
{
	assert_true(i < r->nev);
	assert_int_equal(r->ev[i].line, line);
	assert_string_equal(r->ev[i].section, section);
	assert_non_null(r->ev[i].key);
	assert_string_equal(r->ev[i].key, key);
	assert_string_equal(r->ev[i].value, value);
}

/* A line of n bytes: "k = " and digits. */
static void
line_of(char *buf, size_t n)
{
	assert_true(n > 4);
	memcpy(buf, "k = ", 4);
	memset(buf + 4, '7', n - 4);
	buf[n] = '\0';
}

static void
test_sections_and_keys(void **state)
{
	struct run *r = *state;

	parse(r,
	    "top = 1\n"			/* 1: before any header */
	    "[a]\n"			/* 2 */
	    "k = v\n"			/* 3 */
	    "x: y\n"			/* 4 */
	    "\n"			/* 5 */
	    "[empty]\n"			/* 6 */
	    "[listener in]\n"		/* 7 */
	    "  spaced   =   out  \n"	/* 8: not after a key: a key */
	    "empty =\n");		/* 9 */
	assert_int_equal(r->d.errors, 0);
	assert_int_equal(r->nev, 8);
	check_value(r, 0, 1, "", "top", "1");
	check_header(r, 1, 2, "a");
	check_value(r, 2, 3, "a", "k", "v");
	check_value(r, 3, 4, "a", "x", "y");
	check_header(r, 4, 6, "empty");
	check_header(r, 5, 7, "listener in");
	check_value(r, 6, 8, "listener in", "spaced", "out");
	check_value(r, 7, 9, "listener in", "empty", "");
}

static void
test_crlf_and_no_final_newline(void **state)
{
	struct run *r = *state;

	parse(r, "[s]\r\nk = v\r\nlast = 1");
	assert_int_equal(r->d.errors, 0);
	assert_int_equal(r->nev, 3);
	check_header(r, 0, 1, "s");
	check_value(r, 1, 2, "s", "k", "v");
	check_value(r, 2, 3, "s", "last", "1");
}

/* A UTF-8 byte order mark, as some editors save, is not line 1's text. */
static void
test_bom(void **state)
{
	struct run *r = *state;

	parse(r, "\xef\xbb\xbf[s]\nk = v\n");
	assert_int_equal(r->d.errors, 0);
	assert_int_equal(r->nev, 2);
	check_header(r, 0, 1, "s");
	check_value(r, 1, 2, "s", "k", "v");
}

static void
test_continuation_lines(void **state)
{
	struct run *r = *state;

	parse(r,
	    "[s]\n"			/* 1 */
	    "list = a,\n"		/* 2 */
	    "  b,\n"			/* 3 */
	    "\tc ; why\n"		/* 4 */
	    "next = 1\n"		/* 5 */
	    "[t]\n"			/* 6 */
	    "  after = header\n");	/* 7: no key yet: a key */
	assert_int_equal(r->d.errors, 0);
	assert_int_equal(r->nev, 7);
	check_header(r, 0, 1, "s");
	check_value(r, 1, 2, "s", "list", "a,");
	check_value(r, 2, 3, "s", "list", "b,");
	check_value(r, 3, 4, "s", "list", "c");
	check_value(r, 4, 5, "s", "next", "1");
	check_header(r, 5, 6, "t");
	check_value(r, 6, 7, "t", "after", "header");
}

static void
test_comments(void **state)
{
	struct run *r = *state;

	parse(r,
	    "; a comment\n"		/* 1 */
	    "# another\n"		/* 2 */
	    "[s] ; header comment\n"	/* 3 */
	    "k = v ; inline\n"		/* 4 */
	    "semi = a;b\n"		/* 5: no blank before ';' */
	    "hash = a # b\n"		/* 6: '#' only starts a line */
	    "   ; indented comment\n"	/* 7 */
	    "# k = not a value\n"	/* 8 */
	    "[t] # header comment\n");	/* 9 */
	assert_int_equal(r->d.errors, 0);
	assert_int_equal(r->nev, 5);
	check_header(r, 0, 3, "s");
	check_value(r, 1, 4, "s", "k", "v");
	check_value(r, 2, 5, "s", "semi", "a;b");
	check_value(r, 3, 6, "s", "hash", "a # b");
	check_header(r, 4, 9, "t");
}

static void
test_line_limit(void **state)
{
	struct run *r = *state;
	char text[1024], ok[256], bad[256];

	line_of(ok, MSH_INI_MAX_LINE);
	line_of(bad, MSH_INI_MAX_LINE + 1);
	assert_int_equal(strlen(bad), 199);
	snprintf(text, sizeof(text), "[s]\n%s\n%s\nafter = yes\n", ok, bad);
	parse(r, text);
	assert_int_equal(r->d.errors, 1);
	assert_int_equal(r->ndiag, 1);
	assert_string_equal(r->diag[0],
	    "t.conf:3: error: line is 199 bytes long, at most 198 are allowed "
	    "(split lists over repeated keys or continuation lines) [too-long]");
	/* The 198-byte line arrived whole, the 199-byte one not at all, and
	 * parsing went on after it. */
	assert_int_equal(r->nev, 3);
	check_header(r, 0, 1, "s");
	check_value(r, 1, 2, "s", "k", ok + 4);
	assert_int_equal(strlen(r->ev[1].value), MSH_INI_MAX_LINE - 4);
	check_value(r, 2, 4, "s", "after", "yes");
}

static void
test_long_section_name(void **state)
{
	struct run *r = *state;
	const char *name = "/services/a-rather-long-service-name/instances/"
	    "i-0123456789abcdef0123";
	char text[512];

	assert_true(strlen(name) > 49);
	snprintf(text, sizeof(text), "[%s]\nport = 1\n[short]\n[%s]\nx = 2\n",
	    name, name);
	parse(r, text);
	assert_int_equal(r->d.errors, 0);
	assert_int_equal(r->nev, 5);
	check_header(r, 0, 1, name);
	check_value(r, 1, 2, name, "port", "1");
	check_header(r, 2, 3, "short");
	check_header(r, 3, 4, name);
	check_value(r, 4, 5, name, "x", "2");
}

static void
test_no_separator(void **state)
{
	struct run *r = *state;

	parse(r, "[s]\nthis line has no equals sign\nk = 1\n");
	assert_int_equal(r->d.errors, 1);
	assert_string_equal(r->diag[0], "t.conf:2: error: expected \"key = "
	    "value\", \"[section]\" or a comment [syntax]");
	assert_int_equal(r->nev, 2);
	check_header(r, 0, 1, "s");
	check_value(r, 1, 3, "s", "k", "1");
}

static void
test_missing_bracket(void **state)
{
	struct run *r = *state;

	parse(r, "[s]\n[broken\n[t]\nk = 1\n");
	assert_int_equal(r->d.errors, 1);
	assert_string_equal(r->diag[0],
	    "t.conf:2: error: section header is missing its closing ']' [syntax]");
	assert_int_equal(r->nev, 3);
	check_header(r, 0, 1, "s");
	check_header(r, 1, 3, "t");
	check_value(r, 2, 4, "t", "k", "1");
}

static void
test_key_length(void **state)
{
	struct run *r = *state;
	char k49[64], k50[64], text[256];

	memset(k49, 'a', 49);
	k49[49] = '\0';
	memset(k50, 'b', 50);
	k50[50] = '\0';
	snprintf(text, sizeof(text), "[s]\n%s = 1\n%s = 2\n", k49, k50);
	parse(r, text);
	assert_int_equal(r->d.errors, 1);
	assert_string_equal(r->diag[0],
	    "t.conf:3: error: key is 50 bytes long, at most 49 are allowed [too-long]");
	assert_int_equal(r->nev, 2);
	check_value(r, 1, 2, "s", k49, "1");
}

/* One run reports every error of the buffer, each at its line. */
static void
test_every_error_reported(void **state)
{
	struct run *r = *state;
	char text[2048], bad[256], key[64];

	line_of(bad, 250);
	memset(key, 'k', 55);
	key[55] = '\0';
	snprintf(text, sizeof(text),
	    "[a\n"			/* 1: no ']' */
	    "no separator\n"		/* 2 */
	    "[ok]\n"			/* 3 */
	    "%s\n"			/* 4: over-long */
	    " = v\n"			/* 5: no key */
	    "good = yes\n"		/* 6 */
	    "[x] junk\n"		/* 7: text after ']' */
	    "%s = 1\n"			/* 8: key too long */
	    "[]\n"			/* 9: empty name */
	    "also = fine\n",		/* 10 */
	    bad, key);
	parse(r, text);
	assert_int_equal(r->d.errors, 7);
	assert_int_equal(r->ndiag, 7);
	assert_string_equal(r->diag[0],
	    "t.conf:1: error: section header is missing its closing ']' [syntax]");
	assert_string_equal(r->diag[1], "t.conf:2: error: expected \"key = "
	    "value\", \"[section]\" or a comment [syntax]");
	assert_string_equal(r->diag[2],
	    "t.conf:4: error: line is 250 bytes long, at most 198 are allowed "
	    "(split lists over repeated keys or continuation lines) [too-long]");
	assert_string_equal(r->diag[3],
	    "t.conf:5: error: missing key before '=' [syntax]");
	assert_string_equal(r->diag[4],
	    "t.conf:7: error: unexpected text after ']' [syntax]");
	assert_string_equal(r->diag[5],
	    "t.conf:8: error: key is 55 bytes long, at most 49 are allowed [too-long]");
	assert_string_equal(r->diag[6], "t.conf:9: error: empty section name [syntax]");
	/* The good value in a good section arrived; "also" (line 10), under
	 * the broken "[]", is not handed over as if it were in [ok]. */
	assert_int_equal(r->nev, 2);
	check_header(r, 0, 3, "ok");
	check_value(r, 1, 6, "ok", "good", "yes");
}

static void
test_parse_file(void **state)
{
	struct run *r = *state;
	char path[] = "/tmp/msh-test-ini-XXXXXX";
	static const char text[] = "[s]\nk = v\n  w\n";
	int fd;

	clear_run(r);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	assert_int_equal(msh_ini_parse_file(path, on_value, r, &r->d), 0);
	unlink(path);
	assert_int_equal(r->d.errors, 0);
	assert_int_equal(r->nev, 3);
	check_header(r, 0, 1, "s");
	check_value(r, 1, 2, "s", "k", "v");
	check_value(r, 2, 3, "s", "k", "w");

	/* A file that cannot be read is reported, without a line. */
	clear_run(r);
	assert_int_equal(msh_ini_parse_file(path, on_value, r, &r->d), -1);
	assert_int_equal(r->d.errors, 1);
	assert_int_equal(r->nev, 0);
	assert_non_null(strstr(r->diag[0], ": error: cannot open: "
	    "No such file or directory"));
	assert_memory_equal(r->diag[0], path, strlen(path));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sections_and_keys),
		cmocka_unit_test(test_crlf_and_no_final_newline),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_continuation_lines),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_long_section_name),
		cmocka_unit_test(test_no_separator),
		cmocka_unit_test(test_missing_bracket),
		cmocka_unit_test(test_key_length),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_parse_file),
	};

	return cmocka_run_group_tests(tests, setup_run, teardown_run);
}
