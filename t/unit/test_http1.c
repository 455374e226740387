/*
 * The HTTP/1.1 codec (src/http1.h): heads that parse, heads that must be
 * refused with the right status because two parsers could read them two
 * ways, the framing and connection semantics of what parses, and bodies
 * streamed through evbuffers in every framing.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "http1.h"

#define MAX_HEADERS	100	/* meshd.conf's default max_headers */

static struct msh_http_msg m;
static struct msh_http_header fields[MAX_HEADERS];

/* Nothing left over from before: m is filled with junk, but for the room
 * for fields the caller gives. */
static void
reset(void)
{
	memset(&m, 0xa5, sizeof(m));
	m.headers = fields;
	m.max_headers = MAX_HEADERS;
}

static ssize_t
req_n(const char *s, size_t n)
{
	reset();
	return msh_http1_parse_request(s, n, &m);
}

static ssize_t
req(const char *s)
{
	return req_n(s, strlen(s));
}

static ssize_t
resp(const char *s, int head_request)
{
	reset();
	return msh_http1_parse_response(s, strlen(s), head_request, &m);
}

static void
test_complete_request(void **state)
{
	static const char head[] =
	    "GET /path?q=1 HTTP/1.1\r\n"
	    "Host: example.com\r\n"
	    "Accept:  */*  \r\n"
	    "\r\n";
	char buf[256];

	/* The head's length, not the buffer's: what follows is the body or
	 * the next request. */
	snprintf(buf, sizeof(buf), "%sGET /next HTTP/1.1\r\n", head);
	assert_int_equal(req(buf), strlen(head));
	assert_int_equal(m.method_len, 3);
	assert_memory_equal(m.method, "GET", 3);
	assert_int_equal(m.target_len, 9);
	assert_memory_equal(m.target, "/path?q=1", 9);
	assert_int_equal(m.version, 11);
	assert_int_equal(m.nheaders, 2);
	assert_int_equal(m.headers[0].field, MSH_F_HOST);
	assert_int_equal(m.headers[0].name_len, 4);
	assert_memory_equal(m.headers[0].name, "Host", 4);
	assert_int_equal(m.headers[0].value_len, 11);
	assert_memory_equal(m.headers[0].value, "example.com", 11);
	/* Surrounding whitespace is not part of the value. */
	assert_int_equal(m.headers[1].field, MSH_F_OTHER);
	assert_int_equal(m.headers[1].value_len, 3);
	assert_memory_equal(m.headers[1].value, "*/*", 3);
	assert_true(m.has_host);
	assert_false(m.head_request);
	assert_int_equal(m.body, MSH_BODY_NONE);

	/* Bare LF line ends are read too. */
	assert_int_equal(req("HEAD / HTTP/1.1\nHost: a\n\n"), 25);
	assert_true(m.head_request);
}

static void
test_incomplete_request(void **state)
{
	static const char full[] =
	    "POST /x HTTP/1.1\r\n"
	    "Host: a\r\n"
	    "Content-Length: 3\r\n"
	    "\r\n";
	size_t n;

	/* Every proper prefix needs more. */
	for (n = 0; n < sizeof(full) - 1; n++)
		if (req_n(full, n) != 0)
			fail_msg("prefix of %zu bytes did not return 0", n);
	assert_int_equal(req_n(full, sizeof(full) - 1), sizeof(full) - 1);
}

static void
test_content_length(void **state)
{
	/* With Transfer-Encoding: either could frame the body. */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), -400);
	/* Two different lengths. */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 3\r\nContent-Length: 4\r\n\r\n"), -400);
	/* Equal duplicates are one length. */
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 3\r\ncontent-length: 3\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_LENGTH);
	assert_int_equal(m.content_length, 3);
	/* Malformed. */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 1x\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: -1\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: +1\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length:\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 3, 3\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 18446744073709551616\r\n\r\n"), -400);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 18446744073709551615\r\n\r\n") > 0);
	assert_true(m.content_length == UINT64_MAX);
}

static void
test_transfer_encoding(void **state)
{
	/* chunked must be the last coding of a request. */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, gzip\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, chunked\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked,\r\n\r\n"), -400);
	/* A coding we do not know. */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: foo, chunked\r\n\r\n"), -501);
	/* HTTP/1.0 has no Transfer-Encoding. */
	assert_int_equal(req("POST / HTTP/1.0\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), -400);
	/* Known codings before chunked, across fields, in any case. */
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n")
	    > 0);
	assert_int_equal(m.body, MSH_BODY_CHUNKED);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_CHUNKED);
	assert_int_equal(m.headers[1].field, MSH_F_TRANSFER_ENCODING);
}

static void
test_malformed_fields(void **state)
{
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: a\0b\r\n\r\n";

	/* Whitespace between name and colon. */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length\t: 0\r\n\r\n"), -400);
	/* obs-fold. */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
	    -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: a\r\n\tb\r\n\r\n"),
	    -400);
	/* NUL and bare CR in a value. */
	assert_int_equal(req_n(nul, sizeof(nul) - 1), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
	    -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n"),
	    -400);
	/* Not a token. */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX@Y: a\r\n\r\n"),
	    -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX\"Y: a\r\n\r\n"),
	    -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n"),
	    -400);
	/* obs-text is allowed in values. */
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n")
	    > 0);
}

/* The fields the parser acts on, known in any case; names as long as one
 * of them but another are not. */
static void
test_field_names(void **state)
{
	static const struct {
		const char	*name;
		int		 field;
	} cases[] = {
		{ "TE", MSH_F_TE }, { "tf", MSH_F_OTHER },
		{ "hOST", MSH_F_HOST }, { "Date", MSH_F_OTHER },
		{ "ETag", MSH_F_OTHER }, { "hosu", MSH_F_OTHER },
		{ "UPGRADE", MSH_F_UPGRADE }, { "Upgradx", MSH_F_OTHER },
		{ "CoNnEcTiOn", MSH_F_CONNECTION },
		{ "Connectiox", MSH_F_OTHER },
		{ "KEEP-alive", MSH_F_KEEP_ALIVE },
		{ "Keep-alivf", MSH_F_OTHER },
		{ "content-LENGTH", MSH_F_CONTENT_LENGTH },
		{ "Content-Lengtx", MSH_F_OTHER },
		{ "Proxy-Connection", MSH_F_PROXY_CONNECTION },
		{ "Proxy-Connectiox", MSH_F_OTHER },
		{ "TRANSFER-encoding", MSH_F_TRANSFER_ENCODING },
		{ "Transfer-Encodinx", MSH_F_OTHER },
		{ "x-FORWARDED-proto", MSH_F_X_FORWARDED_PROTO },
		{ "X-Forwarded-Prott", MSH_F_OTHER },
		{ "X-Forwarded-Host", MSH_F_OTHER },
		{ "Y-Forwarded-Proto", MSH_F_OTHER },
	};
	char buf[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Values each field takes; an answer to HEAD has no body. */
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n%s: %s\r\n\r\n",
		    cases[i].name, cases[i].field == MSH_F_CONTENT_LENGTH ?
		    "0" : cases[i].field == MSH_F_TRANSFER_ENCODING ?
		    "chunked" : "x");
		if (resp(buf, 1) <= 0)
			fail_msg("%s: not parsed", cases[i].name);
		if (m.headers[0].field != cases[i].field)
			fail_msg("%s: field %d, not %d", cases[i].name,
			    m.headers[0].field, cases[i].field);
	}
}

/* Every byte value at every place of a 40-byte field value and reason
 * phrase: controls but HTAB (and LF, which ends the line) are refused,
 * all else (obs-text too) is taken. */
static void
test_field_bytes(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	static const char resp_head[] = "HTTP/1.1 200 ";
	static const char resp_tail[] = "\r\nContent-Length: 0\r\n\r\n";
	char buf[128], value[40];
	size_t h = sizeof(head) - 1, rh = sizeof(resp_head) - 1;
	size_t rt = sizeof(resp_tail) - 1;
	ssize_t got, want;
	unsigned c;
	int at;

	memset(value, 'v', 40);
	for (c = 0; c < 256; c++) {
		if (c == '\n')
			continue;
		want = (c < 0x20 && c != '\t') || c == 0x7f ? -400 : 1;
		for (at = 0; at < 40; at++) {
			memcpy(buf, head, h);
			memcpy(buf + h, value, 40);
			buf[h + at] = (char)c;
			memcpy(buf + h + 40, "\r\n\r\n", 4);
			got = req_n(buf, h + 44);
			if ((want < 0 ? got != want : got <= 0))
				fail_msg("byte 0x%02x at %d of a value: %zd", c,
				    at, got);
			memcpy(buf, resp_head, rh);
			memcpy(buf + rh, value, 40);
			buf[rh + at] = (char)c;
			memcpy(buf + rh + 40, resp_tail, rt);
			reset();
			got = msh_http1_parse_response(buf, rh + 40 + rt, 0, &m);
			if ((want < 0 ? got != want : got <= 0))
				fail_msg("byte 0x%02x at %d of a reason: %zd", c,
				    at, got);
		}
	}
}

static void
test_host(void **state)
{
	assert_int_equal(req("GET / HTTP/1.1\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
	    -400);
	assert_int_equal(req("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
	    -400);
	/* HTTP/1.0 needs none. */
	assert_true(req("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_false(m.has_host);
}

static void
test_request_line(void **state)
{
	/* HTTP/0.9 */
	assert_int_equal(req("GET /\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505);
	assert_int_equal(req("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), -505);
	assert_int_equal(req("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("GET / http/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	/* Blank lines before a request are skipped. */
	assert_int_equal(req("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 31);
	assert_int_equal(m.version, 11);
}

static void
test_too_many_fields(void **state)
{
	char buf[4096];
	size_t n;
	int i;

	/* Host and 99 more: 100 fields, the most there may be. */
	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < MAX_HEADERS - 1; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
	assert_true(n + 2 < sizeof(buf));
	memcpy(buf + n, "\r\n", 3);
	assert_int_equal(req(buf), n + 2);
	assert_int_equal(m.nheaders, MAX_HEADERS);

	/* One more is too many. */
	n += snprintf(buf + n, sizeof(buf) - n, "X-last: v\r\n\r\n");
	assert_true(n < sizeof(buf) - 1);
	assert_int_equal(req(buf), -431);
}

static void
test_keep_alive(void **state)
{
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
	assert_true(m.keep_alive);
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: Close\r\n\r\n") > 0);
	assert_false(m.keep_alive);
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: te, close\r\n\r\n") > 0);
	assert_false(m.keep_alive);
	assert_true(req("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_false(m.keep_alive);
	assert_int_equal(m.version, 10);
	assert_true(req("GET / HTTP/1.0\r\n"
	    "Connection: keep-alive\r\n\r\n") > 0);
	assert_true(m.keep_alive);
}

static void
test_hop_by_hop(void **state)
{
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: x-secret, content-length\r\nX-Secret: 1\r\n"
	    "Content-Length: 0\r\nX-Kept: 2\r\n\r\n") > 0);
	assert_int_equal(m.nheaders, 5);
	assert_false(msh_http1_hop_by_hop(&m.headers[0]));	/* Host */
	/* Connection itself, and the field it lists. */
	assert_true(msh_http1_hop_by_hop(&m.headers[1]));
	assert_true(msh_http1_hop_by_hop(&m.headers[2]));
	/* A listed framing field is not stripped (smuggling). */
	assert_false(msh_http1_hop_by_hop(&m.headers[3]));
	assert_false(msh_http1_hop_by_hop(&m.headers[4]));
}

static void
test_upgrade(void **state)
{
	/* An upgrade needs the field, the Connection token and HTTP/1.1. */
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\n\r\n") > 0);
	assert_true(m.upgrade);
	assert_true(msh_http1_hop_by_hop(&m.headers[1]));	/* Upgrade */
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "\r\n") > 0);
	assert_false(m.upgrade);
	assert_true(req("GET / HTTP/1.0\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\n\r\n") > 0);
	assert_false(m.upgrade);
	/* Keep-Alive, Proxy-Connection, TE are hop-by-hop by name. */
	assert_true(req("GET / HTTP/1.1\r\nHost: x\r\nKeep-Alive: 5\r\n"
	    "Proxy-Connection: close\r\nTE: trailers\r\n\r\n") > 0);
	assert_true(msh_http1_hop_by_hop(&m.headers[1]));
	assert_true(msh_http1_hop_by_hop(&m.headers[2]));
	assert_true(msh_http1_hop_by_hop(&m.headers[3]));
}

static void
test_request_framing(void **state)
{
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 12\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_LENGTH);
	assert_int_equal(m.content_length, 12);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 0\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_int_equal(m.content_length, 0);
}

static void
test_response(void **state)
{
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\n\r\n", 0), 38);
	assert_int_equal(m.status, 200);
	assert_int_equal(m.reason_len, 2);
	assert_memory_equal(m.reason, "OK", 2);
	assert_int_equal(m.body, MSH_BODY_LENGTH);
	assert_int_equal(m.content_length, 5);
	assert_true(m.keep_alive);

	/* No body, whatever the fields say. */
	assert_true(resp("HTTP/1.1 204 No Content\r\n"
	    "Content-Length: 5\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(resp("HTTP/1.1 304 Not Modified\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(resp("HTTP/1.1 100 Continue\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_int_equal(m.status, 100);
	assert_true(resp("HTTP/1.1 101 Switching Protocols\r\n"
	    "Content-Length: 5\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(resp("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\n\r\n", 1) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	assert_true(resp("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 1) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);

	assert_true(resp("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_CHUNKED);
	assert_true(m.keep_alive);
	assert_true(resp("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 0\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_NONE);
	/* Neither: the body runs to the close. */
	assert_true(resp("HTTP/1.1 200 OK\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_UNTIL_CLOSE);
	assert_false(m.keep_alive);
	/* A non-chunked coding too (a response may do that). */
	assert_true(resp("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n", 0) > 0);
	assert_int_equal(m.body, MSH_BODY_UNTIL_CLOSE);
	assert_false(m.keep_alive);
	assert_true(resp("HTTP/1.0 200 OK\r\n"
	    "Content-Length: 1\r\n\r\n", 0) > 0);
	assert_false(m.keep_alive);
	/* A reason is optional. */
	assert_int_equal(resp("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", 0),
	    35);
	assert_int_equal(m.status, 404);
	assert_int_equal(m.reason_len, 0);

	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 0), -400);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Content-Length: 6\r\n\r\n", 0), -400);
	assert_int_equal(resp("HTTP/1.1 2000 OK\r\n\r\n", 0), -400);
	assert_int_equal(resp("HTTP/1.1 099 Odd\r\n\r\n", 0), -400);
	assert_int_equal(resp("HTTP/2.0 200 OK\r\n\r\n", 0), -505);
	/* Incomplete. */
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\n", 0), 0);
}

/* Body tests: a message framed by head, fed through in pieces. */
static struct evbuffer *src, *dst;

static int
setup_buffers(void **state)
{
	src = evbuffer_new();
	dst = evbuffer_new();
	return src != NULL && dst != NULL ? 0 : -1;
}

static int
teardown_buffers(void **state)
{
	evbuffer_free(src);
	evbuffer_free(dst);
	return 0;
}

static void
body_for(struct msh_body *b, const char *head, int decode)
{
	assert_true(req(head) > 0);
	msh_body_init(b, &m);
	b->decode = decode;
	evbuffer_drain(src, evbuffer_get_length(src));
	evbuffer_drain(dst, evbuffer_get_length(dst));
}

static int
feed(struct msh_body *b, const char *data, size_t n)
{
	assert_int_equal(evbuffer_add(src, data, n), 0);
	return msh_body_forward(b, src, dst);
}

static void
expect_buffer(struct evbuffer *buf, const char *want, size_t n)
{
	size_t len = evbuffer_get_length(buf);

	if (len != n || memcmp(evbuffer_pullup(buf, -1), want, n) != 0)
		fail_msg("buffer holds %zu bytes \"%.*s\", wanted %zu \"%.*s\"",
		    len, (int)len, (const char *)evbuffer_pullup(buf, -1),
		    n, (int)n, want);
}

#define EXPECT(buf, lit)	expect_buffer((buf), (lit), sizeof(lit) - 1)
#define FEED(b, lit)		feed((b), (lit), sizeof(lit) - 1)

static const char post_chunked[] =
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

static const char chunked_body[] =
    "5;name=\"v\" ; x=1\r\n"
    "hello\r\n"
    "B\r\n"
    ", the world\r\n"
    "0\r\n"
    "Trailer-One: 1\r\n"
    "Trailer-Two: 2\r\n"
    "\r\n";

static void
test_body_length(void **state)
{
	struct msh_body b;

	body_for(&b, "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 10\r\n\r\n", 0);
	assert_int_equal(b.kind, MSH_BODY_LENGTH);
	assert_int_equal(FEED(&b, "hello"), 0);
	EXPECT(dst, "hello");
	assert_int_equal(b.remaining, 5);
	/* The next request stays in src. */
	assert_int_equal(FEED(&b, "worldGET /"), 1);
	EXPECT(dst, "helloworld");
	EXPECT(src, "GET /");
	/* Complete stays complete. */
	assert_int_equal(msh_body_forward(&b, src, dst), 1);
	EXPECT(src, "GET /");

	body_for(&b, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(FEED(&b, "GET /"), 1);
	assert_int_equal(evbuffer_get_length(dst), 0);
}

static void
test_body_chunked(void **state)
{
	struct msh_body b;
	char all[256];

	/* All at once, with the next request behind it. */
	body_for(&b, post_chunked, 0);
	assert_int_equal(b.kind, MSH_BODY_CHUNKED);
	snprintf(all, sizeof(all), "%sNEXT", chunked_body);
	assert_int_equal(feed(&b, all, strlen(all)), 1);
	EXPECT(dst, chunked_body);
	EXPECT(src, "NEXT");
}

static void
test_body_chunked_bytewise(void **state)
{
	struct msh_body b;
	size_t i, n = sizeof(chunked_body) - 1;
	int r;

	/* One byte at a time: every split point of every line. */
	body_for(&b, post_chunked, 0);
	for (i = 0; i < n; i++) {
		r = feed(&b, chunked_body + i, 1);
		if (r != (i == n - 1 ? 1 : 0))
			fail_msg("byte %zu: msh_body_forward returned %d", i,
			    r);
	}
	EXPECT(dst, chunked_body);
	assert_int_equal(evbuffer_get_length(src), 0);
}

static void
test_body_chunked_decode(void **state)
{
	struct msh_body b;

	body_for(&b, post_chunked, 1);
	assert_int_equal(feed(&b, chunked_body, 20), 0);
	assert_int_equal(feed(&b, chunked_body + 20,
	    sizeof(chunked_body) - 1 - 20), 1);
	EXPECT(dst, "hello, the world");
	assert_int_equal(evbuffer_get_length(src), 0);

	/* Bare LF line ends, and no trailer. */
	body_for(&b, post_chunked, 1);
	assert_int_equal(FEED(&b, "3\nabc\n0\n\n"), 1);
	EXPECT(dst, "abc");
}

static void
test_body_chunked_errors(void **state)
{
	struct msh_body b;

	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "zz\r\n"), -1);

	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "\r\n"), -1);

	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "5x\r\nhello\r\n"), -1);

	/* 16 hex digits fit 64 bits: the chunk's data is awaited. */
	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "ffffffffffffffff\r\n"), 0);
	assert_true(b.remaining == UINT64_MAX);

	/* 17 overflow. */
	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "10000000000000000\r\n"), -1);

	/* The chunk's data must be followed by CRLF. */
	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "3\r\nabcX\r\n0\r\n\r\n"), -1);
	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "3\r\nabc\r"), 0);
	assert_int_equal(FEED(&b, "X"), -1);

	/* A control byte in a trailer. */
	body_for(&b, post_chunked, 0);
	assert_int_equal(FEED(&b, "0\r\nT: a\x01\r\n\r\n"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_request),
		cmocka_unit_test(test_incomplete_request),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_malformed_fields),
		cmocka_unit_test(test_field_names),
		cmocka_unit_test(test_field_bytes),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_hop_by_hop),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_request_framing),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_body_length),
		cmocka_unit_test(test_body_chunked),
		cmocka_unit_test(test_body_chunked_bytewise),
		cmocka_unit_test(test_body_chunked_decode),
		cmocka_unit_test(test_body_chunked_errors),
	};

	return cmocka_run_group_tests(tests, setup_buffers, teardown_buffers);
}
