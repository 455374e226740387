/* HTTP/1.1 messages as parsed in place: pointers into the input. */
#ifndef MSH_HTTP1_T_H
#define MSH_HTTP1_T_H

#include <stddef.h>
#include <stdint.h>

/* The most max_headers and max_header_size (meshd.conf(5)) may be. A
 * field's name and value lengths fit 16 bits below the second. */
#define MSH_HTTP_HEADERS_LIMIT	1000
#define MSH_HTTP_HEAD_LIMIT	65536	/* request or status line + fields */

/* The fields the codec and the proxy act on, told apart once, at parse. */
enum msh_field {
	MSH_F_OTHER,
	MSH_F_HOST,
	MSH_F_CONTENT_LENGTH,
	MSH_F_TRANSFER_ENCODING,
	MSH_F_X_FORWARDED_PROTO,
	MSH_F_CONNECTION,
	MSH_F_KEEP_ALIVE,		/* hop-by-hop from here on */
	MSH_F_PROXY_CONNECTION,
	MSH_F_TE,
	MSH_F_UPGRADE,
};

struct msh_http_header {
	const char	*name;
	const char	*value;
	unsigned short	 name_len;
	unsigned short	 value_len;
	unsigned char	 field;		/* enum msh_field */
	unsigned char	 listed;	/* named by a Connection field */
};

enum msh_body_kind {
	MSH_BODY_NONE,
	MSH_BODY_LENGTH,
	MSH_BODY_CHUNKED,
	MSH_BODY_UNTIL_CLOSE,	/* responses only */
};

struct msh_http_msg {
	const char		*method;	/* requests */
	const char		*target;
	size_t			 method_len;
	size_t			 target_len;
	unsigned		 status;	/* responses */
	const char		*reason;
	size_t			 reason_len;
	unsigned		 version;	/* 10 or 11 */
	size_t			 nheaders;
	size_t			 max_headers;	/* set by the caller, */
	struct msh_http_header	*headers;	/* room for max_headers */

	enum msh_body_kind	 body;
	uint64_t		 content_length;
	unsigned		 keep_alive:1;	/* by version and Connection */
	unsigned		 head_request:1;
	unsigned		 has_host:1;
	unsigned		 upgrade:1;	/* Upgrade, named in Connection */
};

/* Streaming a body through: where the framing stands. */
struct msh_body {
	enum msh_body_kind	 kind;
	uint64_t		 remaining;	/* of LENGTH, or of a chunk */
	enum {
		MSH_CHUNK_SIZE,
		MSH_CHUNK_DATA,
		MSH_CHUNK_DATA_END,
		MSH_CHUNK_TRAILER,
		MSH_CHUNK_DONE,
	}			 chunk;
	unsigned		 decode:1;	/* strip the chunked framing */
};

#endif
