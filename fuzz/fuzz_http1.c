/*
 * The HTTP/1.1 codec: request and response heads, then the rest of the
 * input as a body in every framing, plain and decoded. A head parsed from
 * a part of the input must say it wants more, or what the whole input
 * says: meshd parses a head in its buffer's first chunk before the rest
 * (msh_http1_parse_in), which must come to what the whole input does.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http1.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
body(const struct msh_http_msg *m, const uint8_t *data, size_t size, int decode)
{
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	struct msh_body b;
	size_t half = size / 2;

	msh_body_init(&b, m);
	b.decode = decode;
	/* In two pieces, as bytes arrive from a socket. */
	evbuffer_add(src, data, half);
	if (msh_body_forward(&b, src, dst) == 0) {
		evbuffer_add(src, data + half, size - half);
		msh_body_forward(&b, src, dst);
	}
	evbuffer_free(src);
	evbuffer_free(dst);
}

static ssize_t
parse(const uint8_t *data, size_t size, int response, struct msh_http_msg *m)
{
	return response ? msh_http1_parse_response((const char *)data, size,
	    0, m) : msh_http1_parse_request((const char *)data, size, m);
}

/* The parses of prefixes, against the whole input's: cut after each of
 * the first 64 CRs and LFs, where line ends are decided, and at a third,
 * a half and all but the last byte. */
static void
prefixes(const uint8_t *data, size_t size, int response, ssize_t whole,
    struct msh_http_msg *m)
{
	size_t cut[] = { size / 3, size / 2, size - (size > 0) };
	size_t i, ends = 0;
	ssize_t n;

	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
		if ((n = parse(data, cut[i], response, m)) != 0 && n != whole)
			abort();
	for (i = 0; i < size && ends < 64; i++) {
		if (data[i] != '\r' && data[i] != '\n')
			continue;
		ends++;
		if ((n = parse(data, i + 1, response, m)) != 0 && n != whole)
			abort();
	}
}

/* The input in three chunks of an evbuffer, parsed there. */
static void
chunked_buffer(const uint8_t *data, size_t size, int response, ssize_t whole,
    struct msh_http_msg *m)
{
	struct evbuffer *in = evbuffer_new();
	size_t a = size / 3, b = size / 2;
	const char *at;

	if (in == NULL || evbuffer_add_reference(in, data, a, NULL, NULL) != 0 ||
	    evbuffer_add_reference(in, data + a, b - a, NULL, NULL) != 0 ||
	    evbuffer_add_reference(in, data + b, size - b, NULL, NULL) != 0)
		abort();
	if (msh_http1_parse_in(in, size, response, 0, m, &at) != whole)
		abort();
	evbuffer_free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msh_http_msg m;
	static struct msh_http_header fields[100];
	ssize_t n;

	m.headers = fields;
	m.max_headers = 100;

	n = parse(data, size, 0, &m);
	prefixes(data, size, 0, n, &m);
	chunked_buffer(data, size, 0, n, &m);
	if ((n = parse(data, size, 0, &m)) > 0) {
		body(&m, data + n, size - n, 0);
		body(&m, data + n, size - n, 1);
	}
	n = parse(data, size, 1, &m);
	prefixes(data, size, 1, n, &m);
	chunked_buffer(data, size, 1, n, &m);
	if ((n = parse(data, size, 1, &m)) > 0)
		body(&m, data + n, size - n, 1);
	/* The chunked decoder on raw input too. */
	memset(&m, 0, sizeof(m));
	m.headers = fields;
	m.max_headers = 100;
	m.body = MSH_BODY_CHUNKED;
	body(&m, data, size, 0);
	return 0;
}
