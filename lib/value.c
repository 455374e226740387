#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

int
msh_parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out, const char **err)
{
	static char phrase[80];
	unsigned long v;
	char *end;

	snprintf(phrase, sizeof(phrase),
	    "expected a whole number from %lu to %lu", min, max);
	if (!isdigit((unsigned char)s[0])) {
		*err = phrase;
		return -1;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		*err = phrase;
		return -1;
	}
	*out = v;
	return 0;
}

int
msh_parse_port(const char *s, unsigned *out, const char **err)
{
	unsigned long v;

	if (msh_parse_uint(s, 1, 65535, &v, err) != 0) {
		*err = "expected a port from 1 to 65535";
		return -1;
	}
	*out = v;
	return 0;
}

/* The digits s starts with, end after them; -1 if none or too many. */
static int
leading_number(const char *s, unsigned long long *v, char **end)
{
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno != 0 ? -1 : 0;
}

int
msh_parse_duration(const char *s, uint64_t *ms, const char **err)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	unsigned long long v;
	char *end;
	size_t i;

	*err = NULL;
	if (leading_number(s, &v, &end) != 0)
		goto bad;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ms / 1000) {
			*err = "duration too long";
			return -1;
		}
		*ms = v * units[i].ms;
		return 0;
	}
bad:
	*err = "expected a duration with a unit: ms, s, m or h (e.g. 250ms, 5s)";
	return -1;
}

const char *
msh_format_duration(uint64_t ms, char *buf, size_t len)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = { { "h", 3600000 }, { "m", 60000 }, { "s", 1000 } };
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(buf, len, "%llu%s",
			    (unsigned long long)(ms / units[i].ms), units[i].unit);
			return buf;
		}
	}
	snprintf(buf, len, "%llums", (unsigned long long)ms);
	return buf;
}

int
msh_parse_timeout(const char *s, int off, uint64_t *ms, const char **err)
{
	if (off && strcmp(s, "off") == 0) {
		*ms = 0;
		*err = NULL;
		return 0;
	}
	if (msh_parse_duration(s, ms, err) != 0) {
		if (off)
			*err = "expected a duration with a unit: ms, s, m or h "
			    "(e.g. 250ms, 5s), or off";
		return -1;
	}
	if (*ms == 0) {
		*err = off ? "a timeout must be longer than 0 (or off)" :
		    "a timeout must be longer than 0";
		return -1;
	}
	return 0;
}

int
msh_parse_limit(const char *s, unsigned long min, unsigned long max,
    unsigned *out, const char **err)
{
	static char phrase[80];
	unsigned long v;

	if (strcmp(s, "off") == 0) {
		*out = 0;
		return 0;
	}
	if (msh_parse_uint(s, min, max, &v, err) != 0) {
		snprintf(phrase, sizeof(phrase),
		    "expected a number from %lu to %lu, or off", min, max);
		*err = phrase;
		return -1;
	}
	*out = v;
	return 0;
}

static const struct {
	const char	*name;
	unsigned	 bit;
} retry_names[] = {
	{ "connect-failure", MSH_RETRY_CONNECT_FAILURE },
	{ "refused", MSH_RETRY_REFUSED },
	{ "reset", MSH_RETRY_RESET },
	{ "5xx", MSH_RETRY_5XX },
	{ "gateway-error", MSH_RETRY_GATEWAY_ERROR },
};

#define NRETRY_NAMES	(sizeof(retry_names) / sizeof(retry_names[0]))

struct retry_parse {
	struct msh_retry_on	*on;
	const char		*err;
};

static int
add_retry_on(void *arg, const char *word)
{
	struct retry_parse *r = arg;
	unsigned long code;
	const char *err;
	size_t i;

	for (i = 0; i < NRETRY_NAMES; i++)
		if (strcmp(word, retry_names[i].name) == 0) {
			r->on->bits |= retry_names[i].bit;
			return 0;
		}
	if (msh_parse_uint(word, 100, 599, &code, &err) != 0) {
		r->err = "expected connect-failure, refused, reset, 5xx, "
		    "gateway-error or status codes (100-599)";
		return -1;
	}
	if (r->on->nstatus == MSH_RETRY_STATUSES_MAX) {
		r->err = "at most 8 status codes";
		return -1;
	}
	r->on->status[r->on->nstatus++] = code;
	return 0;
}

int
msh_parse_retry_on(const char *s, struct msh_retry_on *on, const char **err)
{
	struct retry_parse r = { .on = on };

	memset(on, 0, sizeof(*on));
	if (msh_split_list(s, add_retry_on, &r) != 0 || r.err != NULL) {
		*err = r.err != NULL ? r.err : "expected a list";
		return -1;
	}
	return 0;
}

const char *
msh_format_retry_on(const struct msh_retry_on *on, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < NRETRY_NAMES; i++)
		if (on->bits & retry_names[i].bit)
			used += snprintf(buf + used, used < len ? len - used : 0,
			    "%s%s", used ? ", " : "", retry_names[i].name);
	for (i = 0; i < on->nstatus; i++)
		used += snprintf(buf + used, used < len ? len - used : 0,
		    "%s%u", used ? ", " : "", on->status[i]);
	return buf;
}

int
msh_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **err)
{
	static char msg[96];
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	*err = NULL;
	if (leading_number(s, &v, &end) != 0)
		goto bad;
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	if (*end != '\0')
		goto bad;
	if (v > max / mult || v * mult < min)
		goto bad;
	*out = v * mult;
	return 0;
bad:
	/* The range goes into the message: built here, so not thread-safe
	 * (configs are read by one thread). */
	snprintf(msg, sizeof(msg), "expected a size from %llu%s to %llu%s "
	    "(bytes, or with k or m)",
	    (unsigned long long)(min % 1024 ? min : min / 1024),
	    min % 1024 ? "" : "k",
	    (unsigned long long)(max % (1024 * 1024) ? max / 1024 :
	    max / 1024 / 1024), max % (1024 * 1024) ? "k" : "m");
	*err = msg;
	return -1;
}

int
msh_parse_ip(const char *s, struct msh_addr *a, const char **err)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		a->len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		a->len = sizeof(*in6);
		return 0;
	}
	*err = "expected a numeric IPv4 or IPv6 address";
	return -1;
}

int
msh_parse_addr(const char *s, struct msh_addr *a, const char **err)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *hs = s;
	size_t hlen;
	unsigned port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		hs = s + 1;
		hlen = close - hs;
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', colon - s) != NULL)
			goto bad;
		hlen = colon - s;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (msh_parse_ip(host, a, err) != 0)
		return -1;
	if (s[0] == '[' && a->ss.ss_family != AF_INET6) {
		*err = "only IPv6 addresses go in brackets";
		return -1;
	}
	if (msh_parse_port(colon + 1, &port, err) != 0)
		return -1;
	msh_addr_set_port(a, port);
	return 0;
bad:
	*err = "expected ADDRESS:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";
	return -1;
}

void
msh_addr_set_port(struct msh_addr *a, unsigned port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

unsigned
msh_addr_port(const struct msh_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

void
msh_addr_format(const struct msh_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr,
		    host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, msh_addr_port(a));
	} else {
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, host,
		    sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, msh_addr_port(a));
	}
}

int
msh_addr_is_local(const struct msh_addr *a)
{
	if (a->ss.ss_family == AF_INET) {
		uint32_t ip = ntohl(
		    ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr);

		return ip == INADDR_ANY || ip == INADDR_LOOPBACK;
	}
	const struct in6_addr *ip6 =
	    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	return IN6_IS_ADDR_UNSPECIFIED(ip6) || IN6_IS_ADDR_LOOPBACK(ip6);
}

int
msh_addr_equal(const struct msh_addr *a, const struct msh_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

int
msh_parse_flag(const char *s, int *on, const char **err)
{
	if (strcmp(s, "on") == 0 || strcmp(s, "off") == 0) {
		*on = s[1] == 'n';
		return 0;
	}
	*err = "expected on or off";
	return -1;
}

int
msh_check_name(const char *s, const char **err)
{
	static const char phrase[] = "expected a name of lowercase letters, "
	    "digits, '-' and '_', starting with a letter or digit, at most 63 "
	    "bytes";
	size_t i;

	if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
		goto bad;
	for (i = 0; s[i] != '\0'; i++) {
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			goto bad;
	}
	if (i <= MSH_NAME_MAX)
		return 0;
bad:
	*err = phrase;
	return -1;
}

static int
count_word(void *arg, const char *word)
{
	(void)word;
	(*(int *)arg)++;
	return 0;
}

static int
check_label(void *arg, const char *word)
{
	const char *eq = strchr(word, '='), *p;

	if (eq == NULL || eq == word || eq[1] == '\0' ||
	    strchr(eq + 1, '=') != NULL)
		return -1;
	for (p = word; p < eq; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '-' || *p == '_'))
			return -1;
	(void)arg;
	return 0;
}

int
msh_check_labels(const char *s, const char **err)
{
	int n = 0;

	if (msh_split_list(s, check_label, NULL) != 0 ||
	    msh_split_list(s, count_word, &n) != 0 || n == 0) {
		*err = "expected key=value[, key=value...] with lowercase keys";
		return -1;
	}
	return 0;
}

struct label_match {
	const char	*have;
	int		 missing;
};

static int
find_label(void *arg, const char *pair)
{
	struct label_match *m = arg;
	const char *p = m->have;
	size_t n = strlen(pair);

	/* A whole word of have: at its start or after a separator, ended
	 * by one or the end. */
	while ((p = strstr(p, pair)) != NULL) {
		if ((p == m->have || strchr(", \t", p[-1]) != NULL) &&
		    (p[n] == '\0' || strchr(", \t", p[n]) != NULL))
			return 0;
		p++;
	}
	m->missing = 1;
	return 1;
}

int
msh_labels_match(const char *have, const char *want)
{
	struct label_match m = { have != NULL ? have : "", 0 };

	msh_split_list(want, find_label, &m);
	return !m.missing;
}

int
msh_split_list(const char *s, int (*fn)(void *, const char *), void *arg)
{
	char word[256];
	size_t n;
	int r;

	for (;;) {
		while (*s == ',' || *s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return 0;
		n = strcspn(s, ", \t");
		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, s, n);
		word[n] = '\0';
		s += strcspn(s, ", \t");
		if ((r = fn(arg, word)) != 0)
			return r;
	}
}

/* An HTTP token character (RFC 9110 5.6.2): what field and cookie names
 * are made of. */
static int
tchar(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

int
msh_parse_hash_key(const char *s, struct msh_hash_key *k, const char **err)
{
	static const char phrase[] = "expected source, header:NAME or "
	    "cookie:NAME";
	const char *name;
	size_t i;

	memset(k, 0, sizeof(*k));
	if (strcmp(s, "source") == 0)
		return 0;
	if (strncmp(s, "header:", 7) == 0) {
		k->by = MSH_HASH_HEADER;
		name = s + 7;
	} else if (strncmp(s, "cookie:", 7) == 0) {
		k->by = MSH_HASH_COOKIE;
		name = s + 7;
	} else {
		*err = phrase;
		return -1;
	}
	for (i = 0; name[i] != '\0'; i++)
		if (!tchar(name[i]))
			break;
	if (i == 0 || name[i] != '\0' || i > MSH_NAME_MAX) {
		*err = k->by == MSH_HASH_HEADER ?
		    "expected a header field name after header: (at most 63 "
		    "bytes)" : "expected a cookie name after cookie: (at most "
		    "63 bytes)";
		memset(k, 0, sizeof(*k));
		return -1;
	}
	memcpy(k->name, name, i + 1);
	return 0;
}

void
msh_hash_key_format(const struct msh_hash_key *k, char *buf, size_t len)
{
	switch (k->by) {
	case MSH_HASH_SOURCE:
		snprintf(buf, len, "source");
		break;
	case MSH_HASH_HEADER:
		snprintf(buf, len, "header:%s", k->name);
		break;
	case MSH_HASH_COOKIE:
		snprintf(buf, len, "cookie:%s", k->name);
		break;
	}
}
