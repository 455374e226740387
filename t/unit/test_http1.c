/*
 * The HTTP/1.1 codec: what it accepts, the status for what it refuses
 * (every ambiguity a smuggling attack needs), the framing it derives, and
 * bodies streamed through evbuffers.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "http1.h"

static struct msh_http_msg m;

static ssize_t
req(const char *s)
{
	return msh_http1_parse_request(s, strlen(s), &m);
}

static ssize_t
resp(const char *s, int head)
{
	return msh_http1_parse_response(s, strlen(s), head, &m);
}

static void
test_accepts(void **state)
{
	const char *r = "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-A:  v  \r\n\r\nrest";

	assert_int_equal(req(r), strlen(r) - 4);
	assert_int_equal(m.method_len, 3);
	assert_memory_equal(m.method, "GET", 3);
	assert_int_equal(m.target_len, 6);
	assert_int_equal(m.version, 11);
	assert_int_equal(m.nheaders, 2);
	assert_int_equal(m.headers[1].value_len, 1);	/* OWS trimmed */
	assert_memory_equal(m.headers[1].value, "v", 1);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(m.keep_alive);
	/* LF alone ends lines too (RFC 9112 2.2). */
	assert_true(req("GET / HTTP/1.1\nHost: x\n\n") > 0);
	/* An empty line before the request is ignored. */
	assert_true(req("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n") > 0);
	/* Not complete yet. */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: x\r\n"), 0);
	assert_int_equal(req("GET / HT"), 0);
}

static void
test_refuses(void **state)
{
#define C(text, status) { text, sizeof(text) - 1, status }
	static const struct {
		const char	*text;
		size_t		 len;
		int		 status;
	} cases[] = {
		C("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", 400),
		C("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		  "Content-Length: 2\r\n\r\n", 400),
		C("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
		C("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
		C("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
		  "99999999999999999999999\r\n\r\n", 400),
		C("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		  400),
		C("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip"
		  "\r\n\r\n", 400),
		C("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
		  "chunked\r\n\r\n", 400),
		C("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked"
		  "\r\n\r\n", 501),
		C("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
		C("GET /\r\n\r\n", 400),
		C("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
		C("GET / FTP/1.1\r\nHost: x\r\n\r\n", 400),
		C("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
		C("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
		C("GET / HTTP/1.1\r\nHost: x\r\nConnection: ,\r\n\r\n", 400),
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ssize_t got = msh_http1_parse_request(cases[i].text,
		    cases[i].len, &m);

		if (got != -cases[i].status)
			fail_msg("case %zu: got %zd, want -%d", i, got,
			    cases[i].status);
	}
#undef C
}

static void
test_too_many_fields(void **state)
{
	char buf[8192];
	size_t n, i;

	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < MSH_HTTP_MAX_HEADERS; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "X-%zu: v\r\n", i);
	n += snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(msh_http1_parse_request(buf, n, &m), -431);
}

static void
test_framing(void **state)
{
	assert_true(req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_LENGTH);
	assert_int_equal(m.content_length, 5);
	assert_true(req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_LENGTH);
	assert_true(req("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, "
	    "Chunked\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_CHUNKED);
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") > 0);
	assert_false(m.keep_alive);
	assert_true(req("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_false(m.keep_alive);
	assert_int_equal(m.version, 10);
	assert_true(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
	assert_true(m.keep_alive);
	assert_true(req("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n") > 0);
	assert_true(m.head_request);
	/* An upgrade needs both the field and the Connection token. */
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\n\r\n") > 0);
	assert_true(m.upgrade);
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "\r\n") > 0);
	assert_false(m.upgrade);
	assert_true(req("GET / HTTP/1.0\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\n\r\n") > 0);
	assert_false(m.upgrade);
}

static void
test_hop_by_hop(void **state)
{
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Connection: Content-Length, X-A, host\r\nX-A: 1\r\nX-B: 2\r\n"
	    "Content-Length: 0\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
	    "Upgrade: h2c\r\n\r\n") > 0);
	assert_int_equal(m.nheaders, 8);
	assert_false(msh_http1_hop_by_hop(&m.headers[0]));	/* Host */
	assert_true(msh_http1_hop_by_hop(&m.headers[1]));	/* Connection */
	assert_true(msh_http1_hop_by_hop(&m.headers[2]));	/* X-A, listed */
	assert_false(msh_http1_hop_by_hop(&m.headers[3]));	/* X-B */
	/* Listing a framing field must not strip it (smuggling). */
	assert_false(msh_http1_hop_by_hop(&m.headers[4]));
	assert_true(msh_http1_hop_by_hop(&m.headers[5]));	/* Keep-Alive */
	assert_true(msh_http1_hop_by_hop(&m.headers[6]));	/* TE */
	assert_true(msh_http1_hop_by_hop(&m.headers[7]));	/* Upgrade */
	assert_int_equal(m.headers[4].field, MSH_F_CONTENT_LENGTH);
}

static void
test_responses(void **state)
{
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 0) > 0);
	assert_int_equal(m.status, 200);
	assert_int_equal(m.body, MSH_BODY_LENGTH);
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 1) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);	/* HEAD */
	assert_true(resp("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(resp("HTTP/1.1 304 Not Modified\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(resp("HTTP/1.1 100 Continue\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_CHUNKED);
	assert_true(resp("HTTP/1.1 200 OK\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_UNTIL_CLOSE);
	assert_false(m.keep_alive);
	assert_true(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0) > 0);
	assert_int_equal(m.reason_len, 0);
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 0) < 0);
	assert_true(resp("HTTP/1.1 2000 OK\r\n\r\n", 0) < 0);
	assert_true(resp("HTTP/1.1 099 OK\r\n\r\n", 0) < 0);
	assert_true(resp("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", 0) < 0);
}

/* Feed body bytes in two pieces; return what came out and the result. */
static int
forward(enum msh_body_kind kind, uint64_t len, int decode, const char *a,
    const char *b, char *out, size_t outlen)
{
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	struct msh_http_msg msg = { .body = kind, .content_length = len };
	struct msh_body body;
	size_t n;
	int r;

	msh_body_init(&body, &msg);
	body.decode = decode;
	evbuffer_add(src, a, strlen(a));
	r = msh_body_forward(&body, src, dst);
	if (r == 0 && b != NULL) {
		evbuffer_add(src, b, strlen(b));
		r = msh_body_forward(&body, src, dst);
	}
	n = evbuffer_remove(dst, out, outlen - 1);
	out[n] = '\0';
	evbuffer_free(src);
	evbuffer_free(dst);
	return r;
}

static void
test_bodies(void **state)
{
	const char *chunked = "5;ext=1\r\nhello\r\n3\r\n, w\r\n0\r\nT: v\r\n\r\n";
	char out[256];

	assert_int_equal(forward(MSH_BODY_LENGTH, 5, 0, "he", "lloNEXT", out,
	    sizeof(out)), 1);
	assert_string_equal(out, "hello");
	assert_int_equal(forward(MSH_BODY_LENGTH, 5, 0, "he", NULL, out,
	    sizeof(out)), 0);
	/* Chunked framing passes byte for byte, split anywhere. */
	assert_int_equal(forward(MSH_BODY_CHUNKED, 0, 0, "5;ext=1\r\nhel",
	    "lo\r\n3\r\n, w\r\n0\r\nT: v\r\n\r\nNEXT", out, sizeof(out)), 1);
	assert_string_equal(out, chunked);
	/* Decoded: only the data. */
	assert_int_equal(forward(MSH_BODY_CHUNKED, 0, 1, chunked, NULL, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "hello, w");
	assert_int_equal(forward(MSH_BODY_CHUNKED, 0, 0, "zz\r\n", NULL, out,
	    sizeof(out)), -1);
	assert_int_equal(forward(MSH_BODY_CHUNKED, 0, 0,
	    "10000000000000000\r\n", NULL, out, sizeof(out)), -1);
	assert_int_equal(forward(MSH_BODY_CHUNKED, 0, 0, "2\r\nabXY", NULL, out,
	    sizeof(out)), -1);
	assert_int_equal(forward(MSH_BODY_CHUNKED, 0, 0, "2 x\r\nab\r\n", NULL,
	    out, sizeof(out)), -1);
	assert_int_equal(forward(MSH_BODY_UNTIL_CLOSE, 0, 0, "all of it", NULL,
	    out, sizeof(out)), 0);
	assert_string_equal(out, "all of it");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_hop_by_hop),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
