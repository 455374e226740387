#include "config.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "http1.h"

#define MSH_CHUNK_LINE_MAX	1024	/* size line with extensions */
#define MSH_TRAILER_MAX		16384

/* RFC 9110 5.6.2 tchar. */
static const unsigned char tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* Field value and reason phrase bytes: VCHAR, SP, HTAB, obs-text. A
 * table: this runs for every byte of every head. */
static const unsigned char text[256] = {
	['\t'] = 1, [' '] = 1, [0x21 ... 0x7e] = 1, [0x80 ... 0xff] = 1,
};

static int
is_text(unsigned char c)
{
	return text[c];
}

/* The next line of [*p, end): its length without CRLF or LF, or -1 when
 * the line is not complete yet. */
static ssize_t
next_line(const char **p, const char *end, const char **line)
{
	const char *nl = memchr(*p, '\n', end - *p);
	ssize_t n;

	if (nl == NULL)
		return -1;
	*line = *p;
	n = nl - *p;
	if (n > 0 && nl[-1] == '\r')
		n--;
	*p = nl + 1;
	return n;
}

/* "HTTP/1.1" -> 11. -505 for another HTTP version, -400 for garbage. */
static int
parse_version(const char *s, size_t n)
{
	if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' ||
	    s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9')
		return -400;
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
		return -505;
	return s[7] == '1' ? 11 : 10;
}

static int
parse_request_line(const char *s, size_t n, struct msh_http_msg *m)
{
	size_t i = 0, t;

	while (i < n && tchar[(unsigned char)s[i]])
		i++;
	if (i == 0 || i >= n || s[i] != ' ')
		return -400;
	m->method = s;
	m->method_len = i++;
	t = i;
	while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
		i++;
	if (i == t || i >= n || s[i] != ' ')
		return -400;	/* includes HTTP/0.9's "GET /" */
	m->target = s + t;
	m->target_len = i - t;
	i++;
	return parse_version(s + i, n - i);
}

static int
parse_status_line(const char *s, size_t n, struct msh_http_msg *m)
{
	int v;
	size_t i;

	if (n < 12 || s[8] != ' ')
		return -400;
	if ((v = parse_version(s, 8)) < 0)
		return v;
	for (i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return -400;
	m->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (m->status < 100)
		return -400;
	if (n > 12 && s[12] != ' ')
		return -400;
	m->reason = n > 13 ? s + 13 : s + n;
	m->reason_len = n > 13 ? n - 13 : 0;
	for (i = 0; i < m->reason_len; i++)
		if (!is_text(m->reason[i]))
			return -400;
	return v;
}

/* The fields the parser acts on, told apart by length first: most names
 * are none of them, and a switch says so without a compare. */
static enum msh_field
classify(const char *name, size_t n)
{
	const char *known;
	enum msh_field field;

	switch (n) {
	case 2:
		known = "te", field = MSH_F_TE;
		break;
	case 4:
		known = "host", field = MSH_F_HOST;
		break;
	case 7:
		known = "upgrade", field = MSH_F_UPGRADE;
		break;
	case 10:
		if ((name[0] | 0x20) == 'c')
			known = "connection", field = MSH_F_CONNECTION;
		else
			known = "keep-alive", field = MSH_F_KEEP_ALIVE;
		break;
	case 14:
		known = "content-length", field = MSH_F_CONTENT_LENGTH;
		break;
	case 16:
		known = "proxy-connection", field = MSH_F_PROXY_CONNECTION;
		break;
	case 17:
		if ((name[0] | 0x20) == 't')
			known = "transfer-encoding",
			    field = MSH_F_TRANSFER_ENCODING;
		else
			known = "x-forwarded-proto",
			    field = MSH_F_X_FORWARDED_PROTO;
		break;
	default:
		return MSH_F_OTHER;
	}
	/* The first letter in either case (c | 0x20 is a lowercase letter
	 * only for that letter), then the rest: Date is not host. */
	if ((name[0] | 0x20) != known[0] || strncasecmp(name, known, n) != 0)
		return MSH_F_OTHER;
	return field;
}

static int
parse_field(const char *s, size_t n, struct msh_http_msg *m)
{
	struct msh_http_header *h;
	size_t i = 0, v, e, colon;

	if (n > 0 && (s[0] == ' ' || s[0] == '\t'))
		return -400;	/* obs-fold */
	while (i < n && tchar[(unsigned char)s[i]])
		i++;
	if (i == 0 || i >= n || s[i] != ':')
		return -400;	/* also whitespace before the colon */
	colon = i;
	for (v = i + 1; v < n && (s[v] == ' ' || s[v] == '\t'); v++)
		;
	for (e = n; e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
		;
	for (i = v; i < e; i++)
		if (!is_text(s[i]))
			return -400;	/* NUL, CR, other controls */
	if (m->nheaders == m->max_headers)
		return -431;
	h = &m->headers[m->nheaders++];
	h->name = s;
	h->name_len = (unsigned short)colon;
	h->value = s + v;
	h->value_len = (unsigned short)(e - v);
	h->field = classify(h->name, h->name_len);
	h->listed = 0;
	return 0;
}

/* Call fn for each element of a comma-separated list, trimmed; -1 on an
 * empty element. */
static int
each_token(const struct msh_http_header *h,
    int (*fn)(void *, const char *, size_t), void *arg)
{
	const char *p = h->value, *end = h->value + h->value_len, *e;
	int r;

	while (p <= end) {
		const char *comma = memchr(p, ',', end - p);

		e = comma ? comma : end;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == p)
			return -1;
		if ((r = fn(arg, p, e - p)) != 0)
			return r;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

/* Connection: a, b names fields a and b as hop-by-hop: mark them. */
static void
mark_listed(struct msh_http_msg *m, const char *t, size_t n)
{
	size_t i;

	/* Only plain fields: "Connection: Content-Length" must not make a
	 * proxy strip the framing (a smuggling trick). */
	for (i = 0; i < m->nheaders; i++)
		if (m->headers[i].field == MSH_F_OTHER &&
		    m->headers[i].name_len == n &&
		    strncasecmp(m->headers[i].name, t, n) == 0)
			m->headers[i].listed = 1;
}

/* What a Connection field says, all its tokens in one pass. */
struct connection_tokens {
	struct msh_http_msg	*m;
	int			 close;
	int			 keep_alive;
	int			 upgrade;
};

static int
connection_token(void *arg, const char *t, size_t n)
{
	struct connection_tokens *c = arg;

	if (n == 5 && strncasecmp(t, "close", 5) == 0)
		c->close = 1;
	else if (n == 10 && strncasecmp(t, "keep-alive", 10) == 0)
		c->keep_alive = 1;
	else if (n == 7 && strncasecmp(t, "upgrade", 7) == 0)
		c->upgrade = 1;
	mark_listed(c->m, t, n);
	return 0;
}

struct te_state {
	int	chunked;	/* seen */
	int	last_chunked;
	int	unknown;
};

static int
te_token(void *arg, const char *t, size_t n)
{
	static const char *const known[] = {
		"gzip", "x-gzip", "deflate", "compress", "x-compress",
	};
	struct te_state *te = arg;
	size_t i;

	if (n == 7 && strncasecmp(t, "chunked", 7) == 0) {
		if (te->chunked)
			return -400;
		te->chunked = te->last_chunked = 1;
		return 0;
	}
	te->last_chunked = 0;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i]) == n && strncasecmp(t, known[i], n) == 0)
			return 0;
	te->unknown = 1;
	return 0;
}

static int
parse_length(const struct msh_http_header *h, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (h->value_len == 0)
		return -1;
	for (i = 0; i < h->value_len; i++) {
		unsigned d = (unsigned char)h->value[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Framing and connection semantics from the fields (RFC 9112 6, 9.3). */
static int
semantics(struct msh_http_msg *m, int request)
{
	struct te_state te = { 0 };
	struct connection_tokens conn = { m, 0, 0, 0 };
	int hosts = 0, have_cl = 0, have_te = 0, r, upgrade_field = 0;
	uint64_t cl = 0, v;
	size_t i;

	for (i = 0; i < m->nheaders; i++) {
		const struct msh_http_header *h = &m->headers[i];

		switch (h->field) {
		case MSH_F_HOST:
			hosts++;
			break;
		case MSH_F_CONTENT_LENGTH:
			if (parse_length(h, &v) != 0 || (have_cl && v != cl))
				return -400;
			cl = v;
			have_cl = 1;
			break;
		case MSH_F_TRANSFER_ENCODING:
			have_te = 1;
			if ((r = each_token(h, te_token, &te)) != 0)
				return -400;
			break;
		case MSH_F_CONNECTION:
			if (each_token(h, connection_token, &conn) != 0)
				return -400;
			break;
		case MSH_F_UPGRADE:
			upgrade_field = 1;
			break;
		default:
			break;
		}
	}
	m->has_host = hosts > 0;
	m->upgrade = upgrade_field && conn.upgrade && m->version == 11;
	m->keep_alive = !conn.close && (m->version == 11 || conn.keep_alive);
	if (have_te && (m->version == 10 || have_cl))
		return -400;
	if (request) {
		if ((m->version == 11 && hosts != 1) || hosts > 1)
			return -400;
		if (have_te) {
			if (te.unknown)
				return -501;
			if (!te.last_chunked)
				return -400;
			m->body = MSH_BODY_CHUNKED;
		} else if (have_cl && cl > 0) {
			m->body = MSH_BODY_LENGTH;
			m->content_length = cl;
		} else
			m->body = MSH_BODY_NONE;
		return 0;
	}
	if (m->head_request || m->status < 200 || m->status == 204 ||
	    m->status == 304) {
		m->body = MSH_BODY_NONE;
	} else if (have_te) {
		m->body = te.last_chunked ? MSH_BODY_CHUNKED :
		    MSH_BODY_UNTIL_CLOSE;
	} else if (have_cl) {
		m->body = cl > 0 ? MSH_BODY_LENGTH : MSH_BODY_NONE;
		m->content_length = cl;
	} else
		m->body = MSH_BODY_UNTIL_CLOSE;
	if (m->body == MSH_BODY_UNTIL_CLOSE)
		m->keep_alive = 0;
	return 0;
}

static ssize_t
parse_head(const char *buf, size_t len, struct msh_http_msg *m, int request)
{
	const char *p = buf, *end = buf + len, *line;
	ssize_t n;
	int r;

	m->nheaders = 0;
	m->body = MSH_BODY_NONE;
	m->content_length = 0;
	/* RFC 9112 2.2: a server ignores empty lines before a request. */
	while (request && p < end && (*p == '\r' || *p == '\n')) {
		if (*p == '\r' && p + 1 < end && p[1] != '\n')
			return -400;
		p++;
	}
	if ((n = next_line(&p, end, &line)) < 0)
		return 0;
	r = request ? parse_request_line(line, n, m) :
	    parse_status_line(line, n, m);
	if (r < 0)
		return r;
	m->version = r;
	for (;;) {
		if ((n = next_line(&p, end, &line)) < 0)
			return 0;
		if (n == 0)
			break;
		if ((r = parse_field(line, n, m)) < 0)
			return r;
	}
	if ((r = semantics(m, request)) < 0)
		return r;
	return p - buf;
}

ssize_t
msh_http1_parse_request(const char *buf, size_t len, struct msh_http_msg *m)
{
	ssize_t r;

	m->status = 0;
	r = parse_head(buf, len, m, 1);
	m->head_request = r > 0 && m->method_len == 4 &&
	    memcmp(m->method, "HEAD", 4) == 0;
	return r;
}

ssize_t
msh_http1_parse_response(const char *buf, size_t len, int head_request,
    struct msh_http_msg *m)
{
	m->method = m->target = NULL;
	m->method_len = m->target_len = 0;
	m->head_request = head_request;
	return parse_head(buf, len, m, 0);
}

ssize_t
msh_http1_parse_in(struct evbuffer *in, size_t len, int response,
    int head_request, struct msh_http_msg *m, const char **at)
{
	size_t n = evbuffer_get_contiguous_space(in);
	const char *p = "";
	ssize_t r = 0;

	/* A parse of part of a head says only that it wants more, as when
	 * the head arrives in parts (fuzz_http1 holds it to that). */
	if (n == 0 || n > len)
		n = len;
	while (len > 0) {	/* none: nothing to make contiguous */
		p = (const char *)evbuffer_pullup(in, n);
		r = response ? msh_http1_parse_response(p, n, head_request, m) :
		    msh_http1_parse_request(p, n, m);
		if (r != 0 || n == len)
			break;
		n = len;
	}
	if (at != NULL)
		*at = p;
	return r;
}

void
msh_body_init(struct msh_body *b, const struct msh_http_msg *m)
{
	b->kind = m->body;
	b->remaining = m->body == MSH_BODY_LENGTH ? m->content_length : 0;
	b->chunk = MSH_CHUNK_SIZE;
	b->decode = 0;
}

/* Move or drop n bytes of framing. */
static void
pass(struct msh_body *b, struct evbuffer *src, struct evbuffer *dst, size_t n)
{
	if (b->decode)
		evbuffer_drain(src, n);
	else
		evbuffer_remove_buffer(src, dst, n);
}

/* Length of the next line in src including its LF; 0 if incomplete,
 * -1 if longer than max. */
static ssize_t
line_length(struct evbuffer *src, size_t max)
{
	struct evbuffer_ptr eol;
	size_t eol_len;

	eol = evbuffer_search_eol(src, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos < 0)
		return evbuffer_get_length(src) > max ? -1 : 0;
	if ((size_t)eol.pos + 1 > max)
		return -1;
	return eol.pos + 1;
}

/* "1a;ext=v\r\n" -> 26. */
static int
chunk_size(const char *s, size_t n, uint64_t *size)
{
	uint64_t v = 0;
	size_t i = 0;
	int d;

	if (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	for (; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (v >> 60)
			return -1;	/* would overflow */
		v = v << 4 | d;
	}
	if (i == 0)
		return -1;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < n) {
		if (s[i] != ';')
			return -1;
		for (; i < n; i++)
			if (!is_text(s[i]))
				return -1;
	}
	*size = v;
	return 0;
}

static int
chunked_forward(struct msh_body *b, struct evbuffer *src, struct evbuffer *dst)
{
	char line[MSH_CHUNK_LINE_MAX];
	ssize_t n;
	size_t have;

	for (;;) {
		switch (b->chunk) {
		case MSH_CHUNK_SIZE:
			if ((n = line_length(src, sizeof(line))) <= 0)
				return n;
			evbuffer_copyout(src, line, n);
			if (chunk_size(line, n, &b->remaining) != 0)
				return -1;
			pass(b, src, dst, n);
			b->chunk = b->remaining > 0 ? MSH_CHUNK_DATA :
			    MSH_CHUNK_TRAILER;
			break;
		case MSH_CHUNK_DATA:
			have = evbuffer_get_length(src);
			if (have == 0)
				return 0;
			if (have > b->remaining)
				have = b->remaining;
			evbuffer_remove_buffer(src, dst, have);
			b->remaining -= have;
			if (b->remaining > 0)
				return 0;
			b->chunk = MSH_CHUNK_DATA_END;
			break;
		case MSH_CHUNK_DATA_END:
			have = evbuffer_get_length(src);
			if (have == 0)
				return 0;
			evbuffer_copyout(src, line, have < 2 ? have : 2);
			if (line[0] == '\n') {
				pass(b, src, dst, 1);
			} else if (line[0] == '\r') {
				if (have < 2)
					return 0;
				if (line[1] != '\n')
					return -1;
				pass(b, src, dst, 2);
			} else
				return -1;
			b->chunk = MSH_CHUNK_SIZE;
			break;
		case MSH_CHUNK_TRAILER:
			if ((n = line_length(src, sizeof(line))) <= 0)
				return n;
			evbuffer_copyout(src, line, n);
			if (b->remaining + n > MSH_TRAILER_MAX)
				return -1;
			b->remaining += n;
			if (n == 1 || (n == 2 && line[0] == '\r')) {
				pass(b, src, dst, n);
				b->chunk = MSH_CHUNK_DONE;
				return 1;
			}
			for (ssize_t i = 0; i < n - 1; i++)
				if (!is_text(line[i]) &&
				    !(line[i] == '\r' && i == n - 2))
					return -1;
			pass(b, src, dst, n);
			break;
		case MSH_CHUNK_DONE:
			return 1;
		}
	}
}

int
msh_body_forward(struct msh_body *b, struct evbuffer *src, struct evbuffer *dst)
{
	size_t have;

	switch (b->kind) {
	case MSH_BODY_NONE:
		return 1;
	case MSH_BODY_UNTIL_CLOSE:
		evbuffer_add_buffer(dst, src);
		return 0;
	case MSH_BODY_LENGTH:
		have = evbuffer_get_length(src);
		if (have > b->remaining)
			have = b->remaining;
		evbuffer_remove_buffer(src, dst, have);
		b->remaining -= have;
		return b->remaining == 0;
	case MSH_BODY_CHUNKED:
		return chunked_forward(b, src, dst);
	}
	return -1;
}
