/* Value parsers shared by meshc and meshd, and "did you mean". */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "spell.h"
#include "value.h"

static void
test_numbers(void **state)
{
	const char *err = NULL;
	unsigned long ul;
	unsigned port;

	assert_int_equal(msh_parse_uint("64", 0, 64, &ul, &err), 0);
	assert_int_equal(ul, 64);
	assert_int_equal(msh_parse_uint("65", 0, 64, &ul, &err), -1);
	assert_string_equal(err, "expected a whole number from 0 to 64");
	assert_int_equal(msh_parse_uint("-1", 0, 64, &ul, &err), -1);
	assert_int_equal(msh_parse_uint(" 1", 0, 64, &ul, &err), -1);
	assert_int_equal(msh_parse_port("80", &port, &err), 0);
	assert_int_equal(port, 80);
	assert_int_equal(msh_parse_port("0", &port, &err), -1);
	assert_int_equal(msh_parse_port("65536", &port, &err), -1);
	assert_int_equal(msh_parse_port("80x", &port, &err), -1);
	assert_string_equal(err, "expected a port from 1 to 65535");
}

static void
test_durations(void **state)
{
	const char *err = NULL;
	uint64_t ms;

	assert_int_equal(msh_parse_duration("250ms", &ms, &err), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(msh_parse_duration("5s", &ms, &err), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(msh_parse_duration("2m", &ms, &err), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(msh_parse_duration("1h", &ms, &err), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(msh_parse_duration("5", &ms, &err), -1);
	assert_non_null(strstr(err, "a unit"));
	assert_int_equal(msh_parse_duration("5x", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("s", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("99999999999999999h", &ms, &err), -1);
}

static void
test_addresses(void **state)
{
	const char *err = NULL;
	struct msh_addr a, b;
	char text[MSH_ADDR_STRLEN];

	assert_int_equal(msh_parse_addr("127.0.0.1:80", &a, &err), 0);
	msh_addr_format(&a, text, sizeof(text));
	assert_string_equal(text, "127.0.0.1:80");
	assert_int_equal(msh_addr_port(&a), 80);
	assert_int_equal(msh_parse_addr("[::1]:8080", &b, &err), 0);
	msh_addr_format(&b, text, sizeof(text));
	assert_string_equal(text, "[::1]:8080");
	assert_false(msh_addr_equal(&a, &b));
	assert_int_equal(msh_parse_addr("::1:80", &a, &err), -1);
	assert_int_equal(msh_parse_addr("1.2.3.4", &a, &err), -1);
	assert_int_equal(msh_parse_addr("[1.2.3.4]:80", &a, &err), -1);
	assert_int_equal(msh_parse_addr("host:80", &a, &err), -1);
	assert_int_equal(msh_parse_addr("1.2.3.4:0", &a, &err), -1);
	assert_int_equal(msh_parse_ip("10.1.2.3", &a, &err), 0);
	assert_int_equal(msh_parse_ip("fe80::1", &a, &err), 0);
	assert_int_equal(msh_parse_ip("10.1.2", &a, &err), -1);

	/* "This host": what meshd -a replaces. */
	msh_parse_addr("127.0.0.1:1", &a, &err);
	assert_true(msh_addr_is_local(&a));
	msh_parse_addr("0.0.0.0:1", &a, &err);
	assert_true(msh_addr_is_local(&a));
	msh_parse_addr("[::1]:1", &a, &err);
	assert_true(msh_addr_is_local(&a));
	msh_parse_addr("[::]:1", &a, &err);
	assert_true(msh_addr_is_local(&a));
	msh_parse_addr("127.0.0.2:1", &a, &err);	/* another test host */
	assert_false(msh_addr_is_local(&a));
	msh_parse_addr("10.0.0.1:1", &a, &err);
	assert_false(msh_addr_is_local(&a));
}

static void
test_flags(void **state)
{
	const char *err = NULL;
	int on = -1;

	assert_int_equal(msh_parse_flag("on", &on, &err), 0);
	assert_int_equal(on, 1);
	assert_int_equal(msh_parse_flag("off", &on, &err), 0);
	assert_int_equal(on, 0);
	assert_int_equal(msh_parse_flag("yes", &on, &err), -1);
	assert_string_equal(err, "expected on or off");
	assert_int_equal(msh_parse_flag("On", &on, &err), -1);
}

static void
test_names(void **state)
{
	const char *err = NULL;
	char long_name[70];

	assert_int_equal(msh_check_name("orders-v2_x", &err), 0);
	assert_int_equal(msh_check_name("Orders", &err), -1);
	assert_int_equal(msh_check_name("-x", &err), -1);
	assert_int_equal(msh_check_name("", &err), -1);
	assert_int_equal(msh_check_name("a b", &err), -1);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_int_equal(msh_check_name(long_name, &err), -1);
	long_name[63] = '\0';
	assert_int_equal(msh_check_name(long_name, &err), 0);
}

static int
collect(void *arg, const char *word)
{
	char *out = arg;

	strcat(out, word);
	strcat(out, "|");
	return 0;
}

static void
test_lists_and_spelling(void **state)
{
	static const char *const keys[] = {
		"app_port", "inbound_port", "outbound_port", "protocol",
	};
	char out[64] = "";

	assert_int_equal(msh_split_list("a, b c,,d", collect, out), 0);
	assert_string_equal(out, "a|b|c|d|");
	assert_string_equal(msh_spell_suggest("inbound_prot", keys, 4),
	    "inbound_port");
	assert_string_equal(msh_spell_suggest("protcol", keys, 4), "protocol");
	assert_null(msh_spell_suggest("zzz", keys, 4));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_lists_and_spelling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
