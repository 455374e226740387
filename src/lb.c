#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lb.h"
#include "snapshot-t.h"

uint64_t
msh_hash64(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= seed * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* The value of cookie name in a Cookie field ("a=1; b=2"), or NULL. */
static const char *
find_cookie(const char *s, size_t n, const char *name, size_t *len)
{
	size_t nlen = strlen(name), i = 0, start, eq, end;

	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ';'))
			i++;
		start = i;
		while (i < n && s[i] != ';')
			i++;
		end = i;
		for (eq = start; eq < end && s[eq] != '='; eq++)
			;
		if (eq < end && eq - start == nlen &&
		    memcmp(s + start, name, nlen) == 0) {
			while (end > eq + 1 && (s[end - 1] == ' ' ||
			    s[end - 1] == '\t'))
				end--;
			*len = end - eq - 1;
			return s + eq + 1;
		}
	}
	return NULL;
}

int
msh_lb_request_hash(const struct msh_hash_key *k, const struct msh_http_msg *m,
    const struct msh_addr *peer, uint64_t *hash)
{
	const struct msh_http_header *h;
	const char *v;
	size_t i, nlen = strlen(k->name), len;

	for (i = 0; m != NULL && k->by != MSH_HASH_SOURCE && i < m->nheaders;
	    i++) {
		h = &m->headers[i];
		if (k->by == MSH_HASH_HEADER) {
			if (h->name_len != nlen ||
			    strncasecmp(h->name, k->name, nlen) != 0)
				continue;
			if (h->value_len == 0)
				break;	/* empty: as if absent */
			*hash = msh_hash64(h->value, h->value_len, 0);
			return 1;
		}
		if (h->name_len != 6 || strncasecmp(h->name, "cookie", 6) != 0)
			continue;
		v = find_cookie(h->value, h->value_len, k->name, &len);
		if (v != NULL && len > 0) {
			*hash = msh_hash64(v, len, 0);
			return 1;
		}
	}
	/* No key in the request: its client's address, without the port,
	 * which changes with every connection. */
	if (peer->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&peer->ss;

		*hash = msh_hash64(&sin->sin_addr, sizeof(sin->sin_addr), 0);
		return 1;
	}
	if (peer->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&peer->ss;

		*hash = msh_hash64(&sin6->sin6_addr, sizeof(sin6->sin6_addr), 0);
		return 1;
	}
	return 0;
}

void
msh_lb_weights_init(struct msh_lb_weights *w, const struct msh_cluster *c)
{
	size_t i;

	w->n = c->nendpoints;
	w->total = 0;
	if ((w->upto = calloc(w->n + 1, sizeof(*w->upto))) == NULL)
		abort();
	for (i = 0; i < w->n; i++) {
		w->total += c->endpoints[i].weight;
		w->upto[i] = w->total;
	}
}

void
msh_lb_weights_free(struct msh_lb_weights *w)
{
	free(w->upto);
	w->upto = NULL;
}

/* The endpoint whose share of the total holds r (r < total). */
static size_t
find(const struct msh_lb_weights *w, uint64_t r)
{
	size_t lo = 0, hi = w->n - 1, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (w->upto[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

size_t
msh_lb_draw(const struct msh_lb_weights *w, const struct msh_pick *p)
{
	return find(w, msh_lb_below(p, w->total));
}

void
msh_lb_draw_two(const struct msh_lb_weights *w, const struct msh_pick *p,
    size_t *a, size_t *b)
{
	uint64_t from, weight, r;

	*a = msh_lb_draw(w, p);
	from = *a > 0 ? w->upto[*a - 1] : 0;
	weight = w->upto[*a] - from;
	/* A draw over the total less a's share, stepping over a's range. */
	r = msh_lb_below(p, w->total - weight);
	if (r >= from)
		r += weight;
	*b = find(w, r);
}

void *
msh_lb_weights_create(const struct msh_cluster *c, unsigned nworkers)
{
	struct msh_lb_weights *w;

	(void)nworkers;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		abort();
	msh_lb_weights_init(w, c);
	return w;
}

void
msh_lb_weights_destroy(void *state)
{
	msh_lb_weights_free(state);
	free(state);
}
