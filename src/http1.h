/*
 * The HTTP/1.1 codec (RFC 9112). Strict: whatever could be read two ways
 * by two parsers is refused, never forwarded.
 */
#ifndef MSH_HTTP1_H
#define MSH_HTTP1_H

#include <sys/types.h>

#include "http1-t.h"

struct evbuffer;

/*
 * Parse a request head from buf. Returns the head's length once the blank
 * line that ends it is in buf, 0 if more is needed, or minus the status
 * to answer: -400 malformed, -501 unknown transfer coding, -505 version,
 * -431 too many fields. Header pointers point into buf.
 */
ssize_t	msh_http1_parse_request(const char *buf, size_t len,
	    struct msh_http_msg *m);

/* The same for a response to a request; head_request: it was HEAD.
 * Any error means 502 to the client. */
ssize_t	msh_http1_parse_response(const char *buf, size_t len,
	    int head_request, struct msh_http_msg *m);

/*
 * Parse the request (response: the response to a request, HEAD or not)
 * head at the start of in, of at most len bytes (no more than in holds),
 * as the two above; *at is where it starts, made contiguous. The head is
 * looked for in in's first chunk first, where one read put it as a rule:
 * making len bytes contiguous would copy the body that came with the
 * head too (most of a 16 KiB response). Only a head the first chunk does
 * not end is made contiguous and parsed again. When it wants more, *at
 * holds len bytes. at may be NULL.
 */
ssize_t	msh_http1_parse_in(struct evbuffer *in, size_t len, int response,
	    int head_request, struct msh_http_msg *m, const char **at);

/* Hop-by-hop (RFC 9110 7.6.1): Connection and the fields it names,
 * Keep-Alive, Proxy-Connection, TE, Upgrade. Not forwarded. */
static inline int
msh_http1_hop_by_hop(const struct msh_http_header *h)
{
	return h->field >= MSH_F_CONNECTION || h->listed;
}

/* Set b up for m's body. */
void	msh_body_init(struct msh_body *b, const struct msh_http_msg *m);

/*
 * Move what src holds of the body to dst (framing and all, unless
 * b->decode). Returns 1 once the body is complete, 0 if more is needed,
 * -1 if the framing is malformed.
 */
int	msh_body_forward(struct msh_body *b, struct evbuffer *src,
	    struct evbuffer *dst);

#endif
