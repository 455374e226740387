/*
 * The value parsers meshc and meshd share (lib/value.h) and the "did you
 * mean" speller (lib/spell.h): every bound, every rejected form, and the
 * phrase a rejection leaves for the diagnostic.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spell.h"
#include "value.h"

static void
test_uint(void **state)
{
	unsigned long v = 99;
	const char *err = NULL;

	assert_int_equal(msh_parse_uint("0", 0, 64, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(msh_parse_uint("64", 0, 64, &v, &err), 0);
	assert_int_equal(v, 64);
	assert_int_equal(msh_parse_uint("1", 1, 1, &v, &err), 0);
	assert_int_equal(v, 1);

	v = 99;
	assert_int_equal(msh_parse_uint("65", 0, 64, &v, &err), -1);
	assert_string_equal(err, "expected a whole number from 0 to 64");
	assert_int_equal(v, 99);	/* untouched on failure */
	err = NULL;
	assert_int_equal(msh_parse_uint("0", 1, 1000, &v, &err), -1);
	assert_string_equal(err, "expected a whole number from 1 to 1000");
	assert_int_equal(msh_parse_uint("", 0, 64, &v, &err), -1);
	assert_int_equal(msh_parse_uint("-1", 0, 64, &v, &err), -1);
	assert_int_equal(msh_parse_uint("+1", 0, 64, &v, &err), -1);
	assert_int_equal(msh_parse_uint(" 1", 0, 64, &v, &err), -1);
	assert_int_equal(msh_parse_uint("1 ", 0, 64, &v, &err), -1);
	assert_int_equal(msh_parse_uint("1x", 0, 64, &v, &err), -1);
	assert_int_equal(msh_parse_uint("0x10", 0, 64, &v, &err), -1);
	/* Past ULONG_MAX: strtoul's ERANGE, not a wrapped value. */
	assert_int_equal(msh_parse_uint("99999999999999999999999", 0,
	    (unsigned long)-1, &v, &err), -1);
	assert_int_equal(v, 99);
}

static void
test_port(void **state)
{
	unsigned p = 7;
	const char *err = NULL;

	assert_int_equal(msh_parse_port("1", &p, &err), 0);
	assert_int_equal(p, 1);
	assert_int_equal(msh_parse_port("80", &p, &err), 0);
	assert_int_equal(p, 80);
	assert_int_equal(msh_parse_port("65535", &p, &err), 0);
	assert_int_equal(p, 65535);

	p = 7;
	assert_int_equal(msh_parse_port("0", &p, &err), -1);
	assert_string_equal(err, "expected a port from 1 to 65535");
	err = NULL;
	assert_int_equal(msh_parse_port("65536", &p, &err), -1);
	assert_non_null(err);
	assert_int_equal(msh_parse_port("80x", &p, &err), -1);
	assert_int_equal(msh_parse_port("", &p, &err), -1);
	assert_int_equal(msh_parse_port("http", &p, &err), -1);
	assert_int_equal(p, 7);
}

static void
test_duration(void **state)
{
	uint64_t ms = 1;
	const char *err = NULL;

	assert_int_equal(msh_parse_duration("250ms", &ms, &err), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(msh_parse_duration("5s", &ms, &err), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(msh_parse_duration("2m", &ms, &err), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(msh_parse_duration("1h", &ms, &err), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(msh_parse_duration("0s", &ms, &err), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(msh_parse_duration("36h", &ms, &err), 0);
	assert_int_equal(ms, 129600000);

	ms = 1;
	/* A unit is required. */
	assert_int_equal(msh_parse_duration("5", &ms, &err), -1);
	assert_string_equal(err,
	    "expected a duration with a unit: ms, s, m or h (e.g. 250ms, 5s)");
	assert_int_equal(msh_parse_duration("5x", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("5 s", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("5S", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("5sec", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("s", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("-5s", &ms, &err), -1);
	assert_int_equal(msh_parse_duration("1.5s", &ms, &err), -1);
	/* Overflow, in the number and in the product. */
	assert_int_equal(msh_parse_duration("99999999999999999999999ms", &ms,
	    &err), -1);
	assert_non_null(err);
	err = NULL;
	assert_int_equal(msh_parse_duration("18446744073709551615h", &ms,
	    &err), -1);
	assert_non_null(err);
	err = NULL;
	assert_int_equal(msh_parse_duration("5124095576030432h", &ms, &err),
	    -1);	/* 2^64 / 3600000 + 1: the product would wrap */
	assert_non_null(err);
	assert_int_equal(ms, 1);
}

/* Formatted durations read back as the same ms, in the largest unit. */
static void
format_round_trip(uint64_t ms, const char *text)
{
	char buf[MSH_DURATION_STRLEN];
	const char *err = NULL;
	uint64_t back = 1;

	msh_format_duration(ms, buf, sizeof(buf));
	assert_string_equal(buf, text);
	assert_int_equal(msh_parse_duration(buf, &back, &err), 0);
	assert_int_equal(back, ms);
}

static void
test_format_duration(void **state)
{
	format_round_trip(0, "0ms");
	format_round_trip(1, "1ms");
	format_round_trip(250, "250ms");
	format_round_trip(1500, "1500ms");
	format_round_trip(5000, "5s");
	format_round_trip(90000, "90s");
	format_round_trip(120000, "2m");
	format_round_trip(3600000, "1h");
	format_round_trip(129600000, "36h");
	format_round_trip(3660000, "61m");
	/* The longest text fits MSH_DURATION_STRLEN. */
	format_round_trip(UINT64_MAX / 1000, "18446744073709551ms");
	{
		char buf[MSH_DURATION_STRLEN];

		msh_format_duration(UINT64_MAX, buf, sizeof(buf));
		assert_string_equal(buf, "18446744073709551615ms");
	}
}

static void
test_limit(void **state)
{
	const char *err = NULL;
	unsigned v = 99;

	assert_int_equal(msh_parse_limit("off", 1, 1000000, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(msh_parse_limit("1", 1, 1000000, &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(msh_parse_limit("1000000", 1, 1000000, &v, &err), 0);
	assert_int_equal(v, 1000000);
	v = 7;
	assert_int_equal(msh_parse_limit("0", 1, 1000000, &v, &err), -1);
	assert_string_equal(err, "expected a number from 1 to 1000000, or off");
	assert_int_equal(v, 7);
	assert_int_equal(msh_parse_limit("1000001", 1, 1000000, &v, &err), -1);
	assert_int_equal(msh_parse_limit("Off", 1, 1000000, &v, &err), -1);
	assert_int_equal(msh_parse_limit("", 1, 10, &v, &err), -1);
	assert_string_equal(err, "expected a number from 1 to 10, or off");
}

static void
test_percent(void **state)
{
	const char *err = NULL;
	unsigned v = 7;
	char buf[MSH_PERCENT_STRLEN];

	assert_int_equal(msh_parse_percent("0", &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(msh_parse_percent("100", &v, &err), 0);
	assert_int_equal(v, MSH_PERCENT_ALL);
	assert_int_equal(msh_parse_percent("50", &v, &err), 0);
	assert_int_equal(v, 50000);
	assert_int_equal(msh_parse_percent("0.1", &v, &err), 0);
	assert_int_equal(v, 100);
	assert_int_equal(msh_parse_percent("99.999", &v, &err), 0);
	assert_int_equal(v, 99999);
	assert_int_equal(msh_parse_percent("100.000", &v, &err), 0);
	assert_int_equal(v, MSH_PERCENT_ALL);
	assert_int_equal(msh_parse_percent("012.50", &v, &err), 0);
	assert_int_equal(v, 12500);
	v = 7;
	assert_int_equal(msh_parse_percent("100.001", &v, &err), -1);
	assert_string_equal(err, "expected a percentage from 0 to 100, with "
	    "at most three decimals (e.g. 5, 0.1)");
	assert_int_equal(v, 7);		/* untouched on failure */
	assert_int_equal(msh_parse_percent("101", &v, &err), -1);
	assert_int_equal(msh_parse_percent("0.0001", &v, &err), -1);
	assert_int_equal(msh_parse_percent("10000", &v, &err), -1);
	assert_int_equal(msh_parse_percent("5%", &v, &err), -1);
	assert_int_equal(msh_parse_percent(".5", &v, &err), -1);
	assert_int_equal(msh_parse_percent("5.", &v, &err), -1);
	assert_int_equal(msh_parse_percent("-1", &v, &err), -1);
	assert_int_equal(msh_parse_percent("", &v, &err), -1);
	assert_int_equal(v, 7);

	assert_string_equal(msh_format_percent(0, buf, sizeof(buf)), "0");
	assert_string_equal(msh_format_percent(MSH_PERCENT_ALL, buf,
	    sizeof(buf)), "100");
	assert_string_equal(msh_format_percent(100, buf, sizeof(buf)), "0.1");
	assert_string_equal(msh_format_percent(12500, buf, sizeof(buf)),
	    "12.5");
	assert_string_equal(msh_format_percent(99999, buf, sizeof(buf)),
	    "99.999");
	assert_string_equal(msh_format_percent(1, buf, sizeof(buf)), "0.001");
}

static void
test_rate(void **state)
{
	struct msh_rate r = { 7, 7 };
	const char *err = NULL;
	char buf[MSH_RATE_STRLEN];

	assert_int_equal(msh_parse_rate("100/s", &r, &err), 0);
	assert_int_equal(r.n, 100);
	assert_int_equal(r.per, 1);
	assert_string_equal(msh_format_rate(&r, buf, sizeof(buf)), "100/s");
	assert_int_equal(msh_parse_rate("1000000/m", &r, &err), 0);
	assert_int_equal(r.n, 1000000);
	assert_int_equal(r.per, 60);
	assert_string_equal(msh_format_rate(&r, buf, sizeof(buf)),
	    "1000000/m");
	assert_int_equal(msh_parse_rate("off", &r, &err), 0);
	assert_int_equal(r.n, 0);
	assert_string_equal(msh_format_rate(&r, buf, sizeof(buf)), "off");
	r.n = r.per = 7;
	assert_int_equal(msh_parse_rate("0/s", &r, &err), -1);
	assert_string_equal(err, "expected a rate such as 100/s or 600/m (1 to "
	    "1000000 a second or a minute), or off");
	assert_int_equal(msh_parse_rate("1000001/s", &r, &err), -1);
	assert_int_equal(msh_parse_rate("100/h", &r, &err), -1);
	assert_int_equal(msh_parse_rate("100/sec", &r, &err), -1);
	assert_int_equal(msh_parse_rate("100", &r, &err), -1);
	assert_int_equal(msh_parse_rate("/s", &r, &err), -1);
	assert_int_equal(msh_parse_rate("100 /s", &r, &err), -1);
	assert_int_equal(msh_parse_rate("12345678901234567890/s", &r, &err),
	    -1);
	assert_int_equal(r.n, 7);	/* untouched on failure */
	assert_int_equal(r.per, 7);
}

/* A retry_on reads back from its text as the same value. */
static void
retry_on_round_trip(const char *in, const char *text)
{
	struct msh_retry_on on, back;
	char buf[MSH_RETRY_ON_STRLEN];
	const char *err = NULL;

	assert_int_equal(msh_parse_retry_on(in, &on, &err), 0);
	assert_string_equal(msh_format_retry_on(&on, buf, sizeof(buf)), text);
	assert_int_equal(msh_parse_retry_on(buf, &back, &err), 0);
	assert_memory_equal(&on, &back, sizeof(on));
}

static void
test_retry_on(void **state)
{
	struct msh_retry_on on;
	const char *err = NULL;

	retry_on_round_trip("connect-failure", "connect-failure");
	retry_on_round_trip("5xx connect-failure, 409",
	    "connect-failure, 5xx, 409");
	retry_on_round_trip("gateway-error,reset,refused",
	    "refused, reset, gateway-error");
	/* The longest text fits MSH_RETRY_ON_STRLEN. */
	retry_on_round_trip("599 598 597 596 595 594 593 592 gateway-error "
	    "5xx reset refused connect-failure", "connect-failure, refused, "
	    "reset, 5xx, gateway-error, 599, 598, 597, 596, 595, 594, 593, "
	    "592");
	assert_int_equal(msh_parse_retry_on("5xx, timeout", &on, &err), -1);
	assert_string_equal(err, "expected connect-failure, refused, reset, "
	    "5xx, gateway-error or status codes (100-599)");
	assert_int_equal(msh_parse_retry_on("600", &on, &err), -1);
	assert_int_equal(msh_parse_retry_on("500 501 502 503 504 505 506 507 "
	    "508", &on, &err), -1);
	assert_string_equal(err, "at most 8 status codes");
	assert_int_equal(msh_parse_retry_on("", &on, &err), 0);
	assert_int_equal(on.bits, 0);
	assert_int_equal(on.nstatus, 0);
}

/* A health check reads back from its text as the same value. */
static void
health_check_round_trip(const char *in, const char *text)
{
	struct msh_health_check hc, back;
	char buf[MSH_HEALTH_CHECK_STRLEN];
	const char *err = NULL;

	assert_int_equal(msh_parse_health_check(in, &hc, &err), 0);
	assert_string_equal(msh_format_health_check(&hc, buf, sizeof(buf)),
	    text);
	assert_int_equal(msh_parse_health_check(buf, &back, &err), 0);
	assert_memory_equal(&hc, &back, sizeof(hc));
}

static void
test_health_check(void **state)
{
	struct msh_health_check hc;
	char path[MSH_HEALTH_PATH_MAX + 16];
	const char *err = NULL;

	health_check_round_trip("off", "off");
	health_check_round_trip("tcp", "tcp");
	health_check_round_trip("http /healthz", "http /healthz");
	health_check_round_trip("http \t /ready?deep=1", "http /ready?deep=1");
	/* The longest path fits MSH_HEALTH_CHECK_STRLEN. */
	memset(path, 'p', sizeof(path));
	memcpy(path, "http /", 6);
	path[5 + MSH_HEALTH_PATH_MAX] = '\0';
	health_check_round_trip(path, path);
	path[5 + MSH_HEALTH_PATH_MAX] = 'p';
	path[6 + MSH_HEALTH_PATH_MAX] = '\0';
	assert_int_equal(msh_parse_health_check(path, &hc, &err), -1);
	assert_string_equal(err, "the path is longer than 192 bytes");
	assert_int_equal(hc.kind, MSH_HEALTH_CHECK_OFF);
	assert_int_equal(msh_parse_health_check("http", &hc, &err), -1);
	assert_string_equal(err, "expected http PATH, tcp or off");
	assert_int_equal(msh_parse_health_check("https /x", &hc, &err), -1);
	assert_int_equal(msh_parse_health_check("http healthz", &hc, &err),
	    -1);
	assert_string_equal(err, "expected a path that starts with /, as in "
	    "http /healthz");
	assert_int_equal(msh_parse_health_check("http /a b", &hc, &err), -1);
	assert_string_equal(err, "the path has a space or a control "
	    "character");
}

/* A status list reads back from its text as the same value. */
static void
status_list_round_trip(const char *in, const char *text)
{
	struct msh_status_list list, back;
	char buf[MSH_STATUS_LIST_STRLEN];
	const char *err = NULL;

	assert_int_equal(msh_parse_status_list(in, &list, &err), 0);
	assert_string_equal(msh_format_status_list(&list, buf, sizeof(buf)),
	    text);
	assert_int_equal(msh_parse_status_list(buf, &back, &err), 0);
	assert_memory_equal(&list, &back, sizeof(list));
}

static void
test_status_list(void **state)
{
	struct msh_status_list list;
	const char *err = NULL;

	status_list_round_trip("200-399", "200-399");
	status_list_round_trip("200 204,300-399", "200, 204, 300-399");
	status_list_round_trip("404-404", "404");
	/* The longest text fits MSH_STATUS_LIST_STRLEN. */
	status_list_round_trip("100-599 100-599 100-599 100-599 100-599 "
	    "100-599 100-599 100-599", "100-599, 100-599, 100-599, 100-599, "
	    "100-599, 100-599, 100-599, 100-599");
	assert_int_equal(msh_parse_status_list("", &list, &err), -1);
	assert_string_equal(err, "expected status codes (100-599) or ranges "
	    "such as 200-399");
	assert_int_equal(msh_parse_status_list("99", &list, &err), -1);
	assert_int_equal(msh_parse_status_list("200-", &list, &err), -1);
	assert_int_equal(msh_parse_status_list("300-200", &list, &err), -1);
	assert_string_equal(err, "a range goes from the lower status to the "
	    "higher");
	assert_int_equal(msh_parse_status_list("200 201 202 203 204 205 206 "
	    "207 208", &list, &err), -1);
	assert_string_equal(err, "at most 8 statuses or ranges");
}

static void
test_host(void **state)
{
	char host[MSH_HOST_MAX + 1], longest[MSH_HOST_MAX + 2];
	const char *err = NULL;

	assert_int_equal(msh_parse_host("orders.internal", host, &err), 0);
	assert_string_equal(host, "orders.internal");
	assert_int_equal(msh_parse_host("[::1]:8080", host, &err), 0);
	assert_string_equal(host, "[::1]:8080");
	memset(longest, 'h', sizeof(longest));
	longest[MSH_HOST_MAX] = '\0';
	assert_int_equal(msh_parse_host(longest, host, &err), 0);
	assert_string_equal(host, longest);
	longest[MSH_HOST_MAX] = 'h';
	longest[MSH_HOST_MAX + 1] = '\0';
	assert_int_equal(msh_parse_host(longest, host, &err), -1);
	assert_string_equal(err, "expected a host name of 1 to 255 bytes");
	assert_int_equal(msh_parse_host("", host, &err), -1);
	assert_int_equal(msh_parse_host("a b", host, &err), -1);
	assert_string_equal(err, "expected a host name, an address, and a "
	    "port or not (letters, digits and -._:[])");
}

static void
test_ip(void **state)
{
	struct msh_addr a;
	const char *err = NULL;
	struct in6_addr loop6 = IN6ADDR_LOOPBACK_INIT;

	assert_int_equal(msh_parse_ip("10.1.2.3", &a, &err), 0);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohl(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr),
	    0x0a010203);
	assert_int_equal(msh_addr_port(&a), 0);

	assert_int_equal(msh_parse_ip("::1", &a, &err), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_memory_equal(&((struct sockaddr_in6 *)&a.ss)->sin6_addr,
	    &loop6, sizeof(loop6));

	assert_int_equal(msh_parse_ip("fe80::1:2", &a, &err), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);

	assert_int_equal(msh_parse_ip("garbage", &a, &err), -1);
	assert_string_equal(err, "expected a numeric IPv4 or IPv6 address");
	assert_int_equal(msh_parse_ip("", &a, &err), -1);
	assert_int_equal(msh_parse_ip("1.2.3", &a, &err), -1);
	assert_int_equal(msh_parse_ip("256.1.1.1", &a, &err), -1);
	assert_int_equal(msh_parse_ip("1.2.3.4:80", &a, &err), -1);
	assert_int_equal(msh_parse_ip("[::1]", &a, &err), -1);
	assert_int_equal(msh_parse_ip("localhost", &a, &err), -1);
}

static void
test_addr(void **state)
{
	struct msh_addr a;
	const char *err = NULL;

	assert_int_equal(msh_parse_addr("127.0.0.1:80", &a, &err), 0);
	assert_int_equal(a.ss.ss_family, AF_INET);
	assert_int_equal(msh_addr_port(&a), 80);
	assert_int_equal(ntohl(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr),
	    INADDR_LOOPBACK);

	assert_int_equal(msh_parse_addr("[::1]:8080", &a, &err), 0);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_int_equal(msh_addr_port(&a), 8080);

	assert_int_equal(msh_parse_addr("0.0.0.0:65535", &a, &err), 0);
	assert_int_equal(msh_addr_port(&a), 65535);

	/* An unbracketed IPv6 address is ambiguous with its port. */
	err = NULL;
	assert_int_equal(msh_parse_addr("::1:80", &a, &err), -1);
	assert_string_equal(err,
	    "expected ADDRESS:PORT, e.g. 127.0.0.1:8080 or [::1]:8080");
	assert_int_equal(msh_parse_addr("1.2.3.4", &a, &err), -1);
	assert_int_equal(msh_parse_addr("[::1]", &a, &err), -1);
	assert_int_equal(msh_parse_addr("[::1]80", &a, &err), -1);
	assert_int_equal(msh_parse_addr("[::1:80", &a, &err), -1);
	assert_int_equal(msh_parse_addr(":80", &a, &err), -1);
	assert_int_equal(msh_parse_addr("[]:80", &a, &err), -1);
	err = NULL;
	assert_int_equal(msh_parse_addr("[1.2.3.4]:80", &a, &err), -1);
	assert_string_equal(err, "only IPv6 addresses go in brackets");
	err = NULL;
	assert_int_equal(msh_parse_addr("1.2.3.4:0", &a, &err), -1);
	assert_string_equal(err, "expected a port from 1 to 65535");
	assert_int_equal(msh_parse_addr("1.2.3.4:65536", &a, &err), -1);
	assert_int_equal(msh_parse_addr("1.2.3.4:", &a, &err), -1);
	assert_int_equal(msh_parse_addr("1.2.3.4:80x", &a, &err), -1);
	assert_int_equal(msh_parse_addr("example.com:80", &a, &err), -1);
}

static void
round_trip(const char *text)
{
	struct msh_addr a, b;
	char buf[MSH_ADDR_STRLEN];
	const char *err = NULL;

	assert_int_equal(msh_parse_addr(text, &a, &err), 0);
	msh_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, text);
	assert_int_equal(msh_parse_addr(buf, &b, &err), 0);
	assert_true(msh_addr_equal(&a, &b));
}

static void
test_addr_format(void **state)
{
	struct msh_addr a, b;
	char buf[MSH_ADDR_STRLEN];
	const char *err = NULL;

	round_trip("127.0.0.1:80");
	round_trip("0.0.0.0:1");
	round_trip("[::1]:8080");
	round_trip("[::]:65535");
	round_trip("[2001:db8::1]:443");
	round_trip("[::ffff:10.1.2.3]:80");
	/* The longest forms fit MSH_ADDR_STRLEN. */
	round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	round_trip("255.255.255.255:65535");
	/* Formatting normalises. */
	assert_int_equal(msh_parse_addr("[0:0::1]:80", &a, &err), 0);
	msh_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:80");

	assert_int_equal(msh_parse_addr("127.0.0.1:80", &a, &err), 0);
	msh_addr_set_port(&a, 81);
	assert_int_equal(msh_addr_port(&a), 81);
	msh_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:81");
	assert_int_equal(msh_parse_addr("127.0.0.1:80", &b, &err), 0);
	assert_false(msh_addr_equal(&a, &b));
	assert_int_equal(msh_parse_addr("[::1]:80", &b, &err), 0);
	msh_addr_set_port(&b, 81);
	assert_int_equal(msh_addr_port(&b), 81);
	assert_false(msh_addr_equal(&a, &b));
}

static int
local(const char *text)
{
	struct msh_addr a;
	const char *err = NULL;

	assert_int_equal(msh_parse_ip(text, &a, &err), 0);
	return msh_addr_is_local(&a);
}

static void
test_addr_is_local(void **state)
{
	assert_true(local("127.0.0.1"));
	assert_true(local("0.0.0.0"));
	assert_true(local("::1"));
	assert_true(local("::"));
	assert_false(local("10.0.0.1"));
	assert_false(local("192.168.1.1"));
	assert_false(local("2001:db8::1"));
	/* value.h: other 127.x addresses stand for other hosts. */
	assert_false(local("127.0.0.2"));
	assert_false(local("127.0.10.1"));
}

static void
test_check_name(void **state)
{
	const char *err = NULL;
	char name[80];

	assert_int_equal(msh_check_name("orders", &err), 0);
	assert_int_equal(msh_check_name("a", &err), 0);
	assert_int_equal(msh_check_name("0day", &err), 0);
	assert_int_equal(msh_check_name("svc-1_b", &err), 0);

	assert_int_equal(msh_check_name("", &err), -1);
	assert_non_null(strstr(err, "at most 63 bytes"));
	assert_int_equal(msh_check_name("-x", &err), -1);
	assert_int_equal(msh_check_name("_x", &err), -1);
	assert_int_equal(msh_check_name("Orders", &err), -1);
	assert_int_equal(msh_check_name("a b", &err), -1);
	assert_int_equal(msh_check_name("a.b", &err), -1);
	assert_int_equal(msh_check_name("a/b", &err), -1);

	memset(name, 'n', MSH_NAME_MAX);
	name[MSH_NAME_MAX] = '\0';
	assert_int_equal(msh_check_name(name, &err), 0);
	name[MSH_NAME_MAX] = 'n';
	name[MSH_NAME_MAX + 1] = '\0';
	assert_int_equal(msh_check_name(name, &err), -1);
}

struct words {
	char	w[8][32];
	size_t	n;
	size_t	stop_at;	/* fn stops at this word; 0: never */
};

static int
collect_word(void *arg, const char *word)
{
	struct words *ws = arg;

	assert_true(ws->n < 8);
	snprintf(ws->w[ws->n], sizeof(ws->w[0]), "%s", word);
	ws->n++;
	return ws->n == ws->stop_at ? 42 : 0;
}

static void
test_split_list(void **state)
{
	struct words ws = { .n = 0 };

	assert_int_equal(msh_split_list("a, b c,,d", collect_word, &ws), 0);
	assert_int_equal(ws.n, 4);
	assert_string_equal(ws.w[0], "a");
	assert_string_equal(ws.w[1], "b");
	assert_string_equal(ws.w[2], "c");
	assert_string_equal(ws.w[3], "d");

	memset(&ws, 0, sizeof(ws));
	assert_int_equal(msh_split_list(" ,\t, ", collect_word, &ws), 0);
	assert_int_equal(ws.n, 0);

	memset(&ws, 0, sizeof(ws));
	assert_int_equal(msh_split_list("\torders,payments ", collect_word,
	    &ws), 0);
	assert_int_equal(ws.n, 2);
	assert_string_equal(ws.w[0], "orders");
	assert_string_equal(ws.w[1], "payments");

	/* fn's nonzero result stops the walk and is returned. */
	memset(&ws, 0, sizeof(ws));
	ws.stop_at = 2;
	assert_int_equal(msh_split_list("x y z", collect_word, &ws), 42);
	assert_int_equal(ws.n, 2);
	assert_string_equal(ws.w[1], "y");
}

static void
test_labels(void **state)
{
	static const char *const good[] = {
		"version=v2", "version=v2, track=stable", "a.b-c_d=X:1/y",
		"k=v,k2=v2",
	};
	static const char *const bad[] = {
		"", "version", "=v2", "version=", "Version=v2", "a=b=c",
		"version=v2, track", " , ",
	};
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(msh_check_labels(good[i], &err), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(msh_check_labels(bad[i], &err), -1);
		assert_non_null(err);
	}
	assert_true(msh_labels_match("version=v2,track=stable", "version=v2"));
	assert_true(msh_labels_match("version=v2, track=stable",
	    "track=stable version=v2"));
	assert_false(msh_labels_match("version=v2", "version=v2, track=a"));
	/* Whole pairs only: v2 is not v22, nor xversion. */
	assert_false(msh_labels_match("version=v22", "version=v2"));
	assert_false(msh_labels_match("xversion=v2", "version=v2"));
	assert_false(msh_labels_match(NULL, "version=v2"));
}

static void
test_flag(void **state)
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
test_spell_suggest(void **state)
{
	static const char *const keys[] = {
		"app_port", "inbound_port", "outbound_port", "protocol",
		"depends",
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	const char *s;

	s = msh_spell_suggest("inbound_prot", keys, n);
	assert_non_null(s);
	assert_string_equal(s, "inbound_port");
	s = msh_spell_suggest("outbound_pot", keys, n);
	assert_non_null(s);
	assert_string_equal(s, "outbound_port");
	s = msh_spell_suggest("depend", keys, n);
	assert_non_null(s);
	assert_string_equal(s, "depends");
	assert_null(msh_spell_suggest("zzz", keys, n));
	assert_null(msh_spell_suggest("weight", keys, n));
	assert_null(msh_spell_suggest("inbound_prot", keys, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_port),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_retry_on),
		cmocka_unit_test(test_health_check),
		cmocka_unit_test(test_status_list),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_addr_format),
		cmocka_unit_test(test_addr_is_local),
		cmocka_unit_test(test_check_name),
		cmocka_unit_test(test_split_list),
		cmocka_unit_test(test_flag),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_spell_suggest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
