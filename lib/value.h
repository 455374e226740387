/*
 * Value parsers shared by meshc and meshd. Each returns 0 and stores the
 * value, or returns -1 and points *err at a phrase for the diagnostic
 * ("expected a port between 1 and 65535").
 */
#ifndef MSH_VALUE_H
#define MSH_VALUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct msh_addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

/* Longest text form of an address with port: "[ipv6]:65535". */
#define MSH_ADDR_STRLEN	56

/* Longest name of a service, listener or cluster. */
#define MSH_NAME_MAX	63

int	msh_parse_uint(const char *s, unsigned long min, unsigned long max,
	    unsigned long *out, const char **err);
int	msh_parse_port(const char *s, unsigned *out, const char **err);

/* "250ms", "5s", "2m", "1h": a unit is required, as operators of nginx
 * (seconds) and HAProxy (milliseconds) read bare numbers differently. */
int	msh_parse_duration(const char *s, uint64_t *ms, const char **err);

/* Longest text of a duration: "18446744073709551615ms". */
#define MSH_DURATION_STRLEN	24

/* ms as msh_parse_duration reads it back, in the largest unit that divides
 * it: 5000 -> "5s", 1500 -> "1500ms", 0 -> "0ms". Returns buf. */
const char *msh_format_duration(uint64_t ms, char *buf, size_t len);

/* A timeout: a duration longer than 0, or "off" (0) where off is allowed. */
int	msh_parse_timeout(const char *s, int off, uint64_t *ms,
	    const char **err);

/* A limit: a whole number from min to max, or "off" (0). */
int	msh_parse_limit(const char *s, unsigned long min, unsigned long max,
	    unsigned *out, const char **err);

/* A share of requests, in thousandths of a percent: 0 to
 * MSH_PERCENT_ALL. */
#define MSH_PERCENT_ALL	100000

/* "50", "0.1", "99.999": a percentage from 0 to 100 with at most three
 * decimals, as a share of MSH_PERCENT_ALL. */
int	msh_parse_percent(const char *s, unsigned *share, const char **err);

/* Longest text of a percentage: "100", "99.999". */
#define MSH_PERCENT_STRLEN	sizeof("99.999")

/* share as msh_parse_percent reads it back, without trailing zeros:
 * 50000 -> "50", 100 -> "0.1". Returns buf. */
const char *msh_format_percent(unsigned share, char *buf, size_t len);

/* A rate limit: n requests (or connections) a period; n 0: off. */
struct msh_rate {
	unsigned	 n;
	unsigned	 per;		/* seconds: 1 or 60 */
};

#define MSH_RATE_MAX	1000000

/* "100/s", "600/m" or "off": n from 1 to MSH_RATE_MAX a second or a
 * minute, as nginx writes r/s and r/m. */
int	msh_parse_rate(const char *s, struct msh_rate *r, const char **err);

/* Longest text of a rate: "1000000/s". */
#define MSH_RATE_STRLEN	sizeof("1000000/s")

/* r as msh_parse_rate reads it back ("off" for none). Returns buf. */
const char *msh_format_rate(const struct msh_rate *r, char *buf, size_t len);

/* What a retry is for (retry_on): failures (bits) and listed statuses. */
#define MSH_RETRY_CONNECT_FAILURE	0x01	/* refused, unreachable, timeout */
#define MSH_RETRY_REFUSED		0x02	/* connection refused only */
#define MSH_RETRY_RESET			0x04	/* closed before a response */
#define MSH_RETRY_5XX			0x08	/* 5xx, or no response at all */
#define MSH_RETRY_GATEWAY_ERROR		0x10	/* 502-504, or no response */
#define MSH_RETRY_STATUSES_MAX		8

struct msh_retry_on {
	unsigned	 bits;
	unsigned short	 status[MSH_RETRY_STATUSES_MAX];
	unsigned	 nstatus;
};

/* "connect-failure, 5xx, 409": the conditions connect-failure, refused,
 * reset, 5xx and gateway-error, and up to MSH_RETRY_STATUSES_MAX status
 * codes (100-599), as a list (msh_split_list). Replaces all of *on. */
int	msh_parse_retry_on(const char *s, struct msh_retry_on *on,
	    const char **err);

/* Longest text of a retry_on: every condition and 8 statuses. */
#define MSH_RETRY_ON_STRLEN	96

/* on as msh_parse_retry_on reads it back: the conditions in the order
 * above, then the statuses as listed, ", " between. Returns buf. */
const char *msh_format_retry_on(const struct msh_retry_on *on, char *buf,
	    size_t len);

/* Active health checks (health_check): what a check is. meshc counts on
 * the order: the keys of tcp checks serve http checks too. */
enum msh_health_kind {
	MSH_HEALTH_CHECK_OFF,
	MSH_HEALTH_CHECK_TCP,		/* a connect */
	MSH_HEALTH_CHECK_HTTP,		/* a GET of path and its status */
};

#define MSH_HEALTH_PATH_MAX	192
#define MSH_HOST_MAX		255
#define MSH_STATUS_RANGES_MAX	8

struct msh_health_check {
	enum msh_health_kind	 kind;
	char			 path[MSH_HEALTH_PATH_MAX + 1];
};

/* "http /healthz", "tcp" or "off"; the path starts with '/', has no
 * space or control character, MSH_HEALTH_PATH_MAX bytes at most. Replaces
 * all of *hc. */
int	msh_parse_health_check(const char *s, struct msh_health_check *hc,
	    const char **err);

/* Longest text of a health check: "http " and the longest path. */
#define MSH_HEALTH_CHECK_STRLEN	(sizeof("http ") + MSH_HEALTH_PATH_MAX)

/* hc as msh_parse_health_check reads it back. Returns buf. */
const char *msh_format_health_check(const struct msh_health_check *hc,
	    char *buf, size_t len);

/* Statuses as ranges: "200-399, 404" is 200..399 and 404..404. */
struct msh_status_list {
	unsigned short	 lo[MSH_STATUS_RANGES_MAX];
	unsigned short	 hi[MSH_STATUS_RANGES_MAX];
	unsigned	 n;
};

/* "200-399", "200, 204, 300-399": status codes (100-599) and ranges of
 * them, at least one, at most MSH_STATUS_RANGES_MAX, as a list
 * (msh_split_list). Replaces all of *list. */
int	msh_parse_status_list(const char *s, struct msh_status_list *list,
	    const char **err);

/* Longest text of a status list: every range "100-599", ", " between. */
#define MSH_STATUS_LIST_STRLEN \
	(MSH_STATUS_RANGES_MAX * sizeof("100-599, "))

/* list as msh_parse_status_list reads it back, a range of one status as
 * that status. Returns buf. */
const char *msh_format_status_list(const struct msh_status_list *list,
	    char *buf, size_t len);

/* A Host field value: a name or an address, with a port or not (letters,
 * digits and -._:[]), 1 to MSH_HOST_MAX bytes, copied into host (of
 * MSH_HOST_MAX + 1 bytes). */
int	msh_parse_host(const char *s, char *host, const char **err);

/* A size in bytes: "16384", "16k", "1m" (as nginx reads sizes), from min
 * to max bytes. */
int	msh_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
	    const char **err);

/* A numeric IP address, no port: "127.0.0.1", "::1". */
int	msh_parse_ip(const char *s, struct msh_addr *a, const char **err);

/* "127.0.0.1:80", "[::1]:80", "0.0.0.0:80". Numeric only. */
int	msh_parse_addr(const char *s, struct msh_addr *a, const char **err);

void	msh_addr_set_port(struct msh_addr *a, unsigned port);
unsigned msh_addr_port(const struct msh_addr *a);

/* Text form with port, as msh_parse_addr reads it. */
void	msh_addr_format(const struct msh_addr *a, char *buf, size_t len);

/* 127.0.0.1, ::1, 0.0.0.0 or ::: what "this host" means in a config.
 * Other 127.x addresses stand for other hosts in tests and demos. */
int	msh_addr_is_local(const struct msh_addr *a);

int	msh_addr_equal(const struct msh_addr *a, const struct msh_addr *b);

/* "on" or "off", as nginx writes flags. */
int	msh_parse_flag(const char *s, int *on, const char **err);

/* What ring_hash and maglev hash a request by (hash_key): a header's
 * value, a cookie's value, or the client's address (the default: zero). */
enum msh_hash_by {
	MSH_HASH_SOURCE,
	MSH_HASH_HEADER,
	MSH_HASH_COOKIE,
};

struct msh_hash_key {
	enum msh_hash_by by;
	char		 name[MSH_NAME_MAX + 1];	/* header or cookie */
};

/* "source", "header:NAME" or "cookie:NAME", NAME an HTTP token of at
 * most MSH_NAME_MAX bytes. */
int	msh_parse_hash_key(const char *s, struct msh_hash_key *k,
	    const char **err);

/* The text form msh_parse_hash_key reads, at most this long. */
#define MSH_HASH_KEY_STRLEN	(sizeof("header:") + MSH_NAME_MAX)

void	msh_hash_key_format(const struct msh_hash_key *k, char *buf,
	    size_t len);

/* [a-z0-9][a-z0-9_-]*, at most MSH_NAME_MAX bytes. */
int	msh_check_name(const char *s, const char **err);

/*
 * Labels: "key=value, key=value". Keys are lowercase names (letters,
 * digits, '.', '-', '_'); values are non-empty and hold no space, comma
 * or '='. msh_check_labels: 0, or -1 with *err set.
 */
int	msh_check_labels(const char *s, const char **err);

/* Does have (labels) carry every key=value of want? */
int	msh_labels_match(const char *have, const char *want);

/*
 * Split a list value ("a, b c") into words, calling fn for each; stops
 * and returns fn's nonzero result.
 */
int	msh_split_list(const char *s, int (*fn)(void *, const char *),
	    void *arg);

#endif
