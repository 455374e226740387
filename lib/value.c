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
	static __thread char phrase[80];
	unsigned long v;
	char *end;

	errno = 0;
	if (isdigit((unsigned char)s[0]) && ((v = strtoul(s, &end, 10)),
	    errno == 0) && *end == '\0' && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	/* Said only when wrong: a registry has tens of thousands. */
	snprintf(phrase, sizeof(phrase),
	    "expected a whole number from %lu to %lu", min, max);
	*err = phrase;
	return -1;
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

int
msh_parse_percent(const char *s, unsigned *share, const char **err)
{
	unsigned whole = 0, frac = 0, n;
	const char *p = s;

	for (n = 0; isdigit((unsigned char)*p) && n < 4; p++, n++)
		whole = whole * 10 + (*p - '0');
	if (n == 0)
		goto bad;
	if (*p == '.') {
		for (p++, n = 0; isdigit((unsigned char)*p) && n < 3; p++, n++)
			frac = frac * 10 + (*p - '0');
		if (n == 0)
			goto bad;
		for (; n < 3; n++)
			frac *= 10;
	}
	if (*p != '\0' || whole > 100 || (whole == 100 && frac > 0))
		goto bad;
	*share = whole * 1000 + frac;
	return 0;
bad:
	*err = "expected a percentage from 0 to 100, with at most three "
	    "decimals (e.g. 5, 0.1)";
	return -1;
}

const char *
msh_format_percent(unsigned share, char *buf, size_t len)
{
	unsigned frac = share % 1000, digits = 3;

	if (frac == 0) {
		snprintf(buf, len, "%u", share / 1000);
		return buf;
	}
	for (; frac % 10 == 0; frac /= 10)
		digits--;
	snprintf(buf, len, "%u.%0*u", share / 1000, (int)digits, frac);
	return buf;
}

int
msh_parse_rate(const char *s, struct msh_rate *r, const char **err)
{
	const char *slash = strchr(s, '/');
	unsigned long n;
	char num[16];

	if (strcmp(s, "off") == 0) {
		r->n = 0;
		r->per = 1;
		return 0;
	}
	if (slash == NULL || (size_t)(slash - s) >= sizeof(num))
		goto bad;
	memcpy(num, s, slash - s);
	num[slash - s] = '\0';
	if (msh_parse_uint(num, 1, MSH_RATE_MAX, &n, err) != 0)
		goto bad;
	if (strcmp(slash + 1, "s") == 0)
		r->per = 1;
	else if (strcmp(slash + 1, "m") == 0)
		r->per = 60;
	else
		goto bad;
	r->n = n;
	return 0;
bad:
	*err = "expected a rate such as 100/s or 600/m (1 to 1000000 a second "
	    "or a minute), or off";
	return -1;
}

const char *
msh_format_rate(const struct msh_rate *r, char *buf, size_t len)
{
	if (r->n == 0)
		snprintf(buf, len, "off");
	else
		snprintf(buf, len, "%u/%s", r->n, r->per == 60 ? "m" : "s");
	return buf;
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
msh_parse_health_check(const char *s, struct msh_health_check *hc,
    const char **err)
{
	const char *p;

	memset(hc, 0, sizeof(*hc));
	if (strcmp(s, "off") == 0)
		return 0;
	if (strcmp(s, "tcp") == 0) {
		hc->kind = MSH_HEALTH_CHECK_TCP;
		return 0;
	}
	*err = "expected http PATH, tcp or off";
	if (strncmp(s, "http", 4) != 0 || (s[4] != ' ' && s[4] != '\t'))
		return -1;
	for (p = s + 4; *p == ' ' || *p == '\t'; p++)
		continue;
	if (*p != '/') {
		*err = "expected a path that starts with /, as in http /healthz";
		return -1;
	}
	if (strlen(p) > MSH_HEALTH_PATH_MAX) {
		*err = "the path is longer than 192 bytes";
		return -1;
	}
	/* It goes into a request line as it is. */
	for (s = p; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~') {
			*err = "the path has a space or a control character";
			return -1;
		}
	hc->kind = MSH_HEALTH_CHECK_HTTP;
	snprintf(hc->path, sizeof(hc->path), "%s", s);
	*err = NULL;
	return 0;
}

const char *
msh_format_health_check(const struct msh_health_check *hc, char *buf,
    size_t len)
{
	switch (hc->kind) {
	case MSH_HEALTH_CHECK_OFF:
		snprintf(buf, len, "off");
		break;
	case MSH_HEALTH_CHECK_TCP:
		snprintf(buf, len, "tcp");
		break;
	case MSH_HEALTH_CHECK_HTTP:
		snprintf(buf, len, "http %s", hc->path);
		break;
	}
	return buf;
}

struct status_parse {
	struct msh_status_list	*list;
	const char		*err;
};

static int
add_status(void *arg, const char *word)
{
	struct status_parse *r = arg;
	unsigned long lo, hi;
	const char *dash = strchr(word, '-'), *err;
	char first[16];

	r->err = "expected status codes (100-599) or ranges such as 200-399";
	if (dash != NULL) {
		if ((size_t)(dash - word) >= sizeof(first))
			return -1;
		memcpy(first, word, dash - word);
		first[dash - word] = '\0';
		if (msh_parse_uint(first, 100, 599, &lo, &err) != 0 ||
		    msh_parse_uint(dash + 1, 100, 599, &hi, &err) != 0)
			return -1;
		if (lo > hi) {
			r->err = "a range goes from the lower status to the "
			    "higher";
			return -1;
		}
	} else if (msh_parse_uint(word, 100, 599, &lo, &err) != 0)
		return -1;
	else
		hi = lo;
	if (r->list->n == MSH_STATUS_RANGES_MAX) {
		r->err = "at most 8 statuses or ranges";
		return -1;
	}
	r->list->lo[r->list->n] = lo;
	r->list->hi[r->list->n++] = hi;
	r->err = NULL;
	return 0;
}

int
msh_parse_status_list(const char *s, struct msh_status_list *list,
    const char **err)
{
	struct status_parse r = { .list = list };

	memset(list, 0, sizeof(*list));
	if (msh_split_list(s, add_status, &r) != 0 || r.err != NULL ||
	    list->n == 0) {
		*err = r.err != NULL ? r.err :
		    "expected status codes (100-599) or ranges such as 200-399";
		return -1;
	}
	return 0;
}

const char *
msh_format_status_list(const struct msh_status_list *list, char *buf,
    size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < list->n; i++) {
		if (list->lo[i] == list->hi[i])
			used += snprintf(buf + used, used < len ? len - used :
			    0, "%s%u", i ? ", " : "", list->lo[i]);
		else
			used += snprintf(buf + used, used < len ? len - used :
			    0, "%s%u-%u", i ? ", " : "", list->lo[i],
			    list->hi[i]);
	}
	return buf;
}

int
msh_parse_host(const char *s, char *host, const char **err)
{
	const char *p;

	if (s[0] == '\0' || strlen(s) > MSH_HOST_MAX) {
		*err = "expected a host name of 1 to 255 bytes";
		return -1;
	}
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._:[]", *p) != NULL)) {
			*err = "expected a host name, an address, and a port "
			    "or not (letters, digits and -._:[])";
			return -1;
		}
	snprintf(host, MSH_HOST_MAX + 1, "%s", s);
	return 0;
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
	(*(int *)arg)++;	/* pairs seen */
	return 0;
}

int
msh_check_labels(const char *s, const char **err)
{
	int n = 0;

	if (msh_split_list(s, check_label, &n) != 0 || n == 0) {
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
