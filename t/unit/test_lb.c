/*
 * The load balancer modules through their vtables, on clusters made up
 * here: weighted shares for random, the power of two choices of
 * least_request and peak_ewma, and for ring_hash and maglev a key that
 * stays put, the share of keys that moves when an endpoint joins or
 * leaves, independence from the endpoints' order, and retries that move
 * on to other endpoints. Also the request key (header, cookie, source)
 * and the hash_key parser. Each balancer the build left out is skipped.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lb.h"
#include "module.h"
#include "snapshot-t.h"
#include "stats.h"

#define MAXEP	8

struct fake {
	struct msh_cluster	 c;
	struct msh_endpoint	 e[MAXEP];
	const struct msh_lb_ops	*ops;
	void			*state;
};

/* A cluster of endpoints 10.0.0.N:80 for each N in ids, weights as given
 * (NULL: all 1), with the balancer called lb; skips if not built. */
static void
fake_init(struct fake *f, const char *lb, const unsigned *ids,
    const unsigned *weights, size_t n)
{
	const struct msh_module *m = msh_module_lb(lb);
	size_t i;

	if (m == NULL)
		skip();
	memset(f, 0, sizeof(*f));
	assert_true(n <= MAXEP);
	for (i = 0; i < n; i++) {
		snprintf(f->e[i].name, sizeof(f->e[i].name), "10.0.0.%u:80",
		    ids[i]);
		f->e[i].weight = weights ? weights[i] : 1;
		f->e[i].stats = msh_stats_get(MSH_STATS_ENDPOINT, lb,
		    f->e[i].name);
		f->e[i].stats->lines[0].active = 0;
		f->e[i].stats->lines[0].latency_us = 0;
	}
	f->c.endpoints = f->e;
	f->c.nendpoints = n;
	f->ops = m->lb;
	f->state = f->ops->create(&f->c, 1);
}

static void
fake_free(struct fake *f)
{
	f->ops->destroy(f->state);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* Microseconds of CLOCK_MONOTONIC, the clock of latency_at_us. */
static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The index of the endpoint picked for hash h (attempt a). */
static size_t
pick(struct fake *f, uint64_t h, unsigned a)
{
	struct msh_pick p = { .worker = 0, .attempt = a, .hash = h,
	    .has_hash = 1, .rng = &rng };
	const struct msh_endpoint *e = f->ops->pick(f->state, &f->c, &p);

	assert_non_null(e);
	return e - f->e;
}

/* Picks per endpoint over n picks without a key. */
static void
count(struct fake *f, size_t n, size_t *seen)
{
	size_t i;

	memset(seen, 0, MAXEP * sizeof(*seen));
	for (i = 0; i < n; i++)
		seen[pick(f, 0, 0)]++;
}

static const unsigned ids3[] = { 1, 2, 3 }, ids4[] = { 1, 2, 3, 4 };

/* The hash is part of the contract: keys must land where they did
 * before an upgrade. */
static void
test_hash_stable(void **state)
{
	assert_true(msh_hash64("", 0, 0) == msh_hash64("", 0, 0));
	assert_true(msh_hash64("a", 1, 0) != msh_hash64("a", 1, 1));
	assert_true(msh_hash64("a", 1, 0) != msh_hash64("b", 1, 0));
	assert_true(msh_hash64("user-42", 7, 0) == 0xa39532c7ab051e8dULL);
}

static void
test_random_weights(void **state)
{
	static const unsigned w[] = { 1, 2, 7 };
	struct fake f;
	size_t seen[MAXEP], n = 100000, i;

	fake_init(&f, "random", ids3, w, 3);
	count(&f, n, seen);
	/* Each share within 1 point of weight / 10 (sd ~ 0.15 points). */
	for (i = 0; i < 3; i++)
		assert_in_range(seen[i], n * w[i] / 10 - n / 100,
		    n * w[i] / 10 + n / 100);
	fake_free(&f);
}

static void
test_least_request(void **state)
{
	static const unsigned w[] = { 1, 1, 2 };
	struct fake f;
	size_t seen[MAXEP], n = 40000;

	fake_init(&f, "least_request", ids3, w, 3);
	/* Even load: the first draw wins ties, so weights hold. */
	count(&f, n, seen);
	assert_in_range(seen[2], n / 2 - n / 50, n / 2 + n / 50);
	/* Endpoint 2 holds requests: it loses every pair. */
	f.e[2].stats->lines[0].active = 3;
	f.e[1].stats->lines[0].active = 1;
	count(&f, n, seen);
	assert_int_equal(seen[2], 0);
	/* 0 wins the pairs it is in (7/12 of them), 1 only {1,2}. */
	assert_true(seen[0] > seen[1]);
	fake_free(&f);
}

static void
test_peak_ewma(void **state)
{
	struct fake f;
	size_t seen[MAXEP], n = 30000;
	uint64_t now = now_us();

	fake_init(&f, "peak_ewma", ids3, NULL, 3);
	/* 0 is slow, measured just now: it loses every pair. */
	f.e[0].stats->lines[0].latency_us = 50000;
	f.e[0].stats->lines[0].latency_at_us = now;
	f.e[1].stats->lines[0].latency_us = 1000;
	f.e[1].stats->lines[0].latency_at_us = now;
	f.e[2].stats->lines[0].latency_us = 1000;
	f.e[2].stats->lines[0].latency_at_us = now;
	count(&f, n, seen);
	assert_int_equal(seen[0], 0);
	/* Two requests in flight at 1 (cost 3000), one at 2 (cost 2000):
	 * 2 wins its pair with 1; 0 (50000) still loses both of its. */
	f.e[1].stats->lines[0].active = 2;
	f.e[2].stats->lines[0].active = 1;
	count(&f, n, seen);
	assert_int_equal(seen[0], 0);
	assert_in_range(seen[2], n * 0.62, n * 0.72);
	/* 2 without an estimate is neutral: it takes its rival's, so it
	 * wins against 1 on requests in flight and ties with 0, which a
	 * new endpoint wins. */
	f.e[2].stats->lines[0].latency_us = 0;
	f.e[2].stats->lines[0].active = 0;
	count(&f, n, seen);
	assert_int_equal(seen[0], 0);
	assert_in_range(seen[2], n * 0.62, n * 0.72);
	/* An estimate of 50 ms taken 60 s ago has decayed to nothing. */
	f.e[0].stats->lines[0].latency_at_us = now > 60000000 ?
	    now - 60000000 : 0;
	f.e[2].stats->lines[0].latency_us = 1000;
	f.e[1].stats->lines[0].active = 0;
	f.e[2].stats->lines[0].active = 0;
	count(&f, n, seen);
	assert_true(seen[0] > n / 2);
	fake_free(&f);
}

/* Keys 0..n-1 hashed as the core hashes a header value. */
static uint64_t
key(size_t i)
{
	char s[32];

	snprintf(s, sizeof(s), "user-%zu", i);
	return msh_hash64(s, strlen(s), 0);
}

/*
 * A hashing balancer: keys spread by weight, stay put, move to the new
 * endpoint alone when one joins (about 1/4 of them, three to four),
 * leave only the endpoint that goes, do not depend on the endpoints'
 * order, and retries move on to other endpoints.
 */
static void
consistent(const char *lb, double share_tolerance, double foreign)
{
	static const unsigned rev[] = { 3, 2, 1 }, w[] = { 1, 1, 2 };
	static const unsigned ids2[] = { 1, 3 };
	struct fake three, four, back, two, heavy;
	size_t nkeys = 20000, i, moved = 0, elsewhere = 0, seen[MAXEP];
	size_t stirred = 0;
	size_t a, b, c;

	fake_init(&three, lb, ids3, NULL, 3);
	fake_init(&four, lb, ids4, NULL, 4);
	fake_init(&back, lb, rev, NULL, 3);
	fake_init(&two, lb, ids2, NULL, 2);
	fake_init(&heavy, lb, ids3, w, 3);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < nkeys; i++) {
		a = pick(&three, key(i), 0);
		assert_int_equal(pick(&three, key(i), 0), a);
		/* Order: endpoint a of three is 2 - a of back. */
		assert_int_equal(pick(&back, key(i), 0), 2 - a);
		b = pick(&four, key(i), 0);
		if (b != a) {
			moved++;
			if (b != 3)
				elsewhere++;
		}
		/* 10.0.0.2 (index 1) leaves: only its keys move. */
		c = pick(&two, key(i), 0);
		if (a != 1 && c != (a == 0 ? 0 : 1))
			stirred++;
		seen[pick(&heavy, key(i), 0)]++;
		/* Retries: two more endpoints, each other than before. */
		b = pick(&three, key(i), 1);
		c = pick(&three, key(i), 2);
		assert_true(b != a && c != a && c != b);
		assert_int_equal(pick(&three, key(i), 3), a);
	}
	print_message("# %s: one joins 3: %zu of %zu keys moved (%.1f%%, "
	    "25%% ideal), %zu between old endpoints; one of 3 leaves: %zu "
	    "keys of the others moved; weights 1:1:2 got %zu %zu %zu\n",
	    lb, moved, nkeys, 100.0 * moved / nkeys, elsewhere, stirred,
	    seen[0], seen[1], seen[2]);
	assert_in_range(moved, nkeys * 0.20, nkeys * 0.30);
	assert_true(elsewhere <= nkeys * foreign);
	assert_true(stirred <= nkeys * foreign);
	assert_in_range(seen[2], nkeys * (0.5 - share_tolerance),
	    nkeys * (0.5 + share_tolerance));
	fake_free(&three);
	fake_free(&four);
	fake_free(&back);
	fake_free(&two);
	fake_free(&heavy);
}

static void
test_ring_hash(void **state)
{
	consistent("ring_hash", 0.08, 0);
}

static void
test_maglev(void **state)
{
	consistent("maglev", 0.02, 0.03);
}

/* No endpoint: NULL, not a crash. */
static void
test_empty(void **state)
{
	static const char *const lbs[] = { "round_robin", "random",
	    "least_request", "peak_ewma", "ring_hash", "maglev" };
	struct msh_pick p = { .worker = 0, .rng = &rng };
	struct fake f;
	size_t i;

	for (i = 0; i < sizeof(lbs) / sizeof(lbs[0]); i++) {
		if (msh_module_lb(lbs[i]) == NULL)
			continue;
		fake_init(&f, lbs[i], ids3, NULL, 0);
		assert_null(f.ops->pick(f.state, &f.c, &p));
		fake_free(&f);
	}
}

static void
header(struct msh_http_header *h, const char *name, const char *value)
{
	h->name = name;
	h->name_len = strlen(name);
	h->value = value;
	h->value_len = strlen(value);
}

static void
test_request_hash(void **state)
{
	struct msh_http_header hs[3];
	struct msh_http_msg m = { .headers = hs, .nheaders = 3 };
	struct msh_hash_key k;
	struct msh_addr peer, peer2;
	const char *err;
	uint64_t h = 0, src;

	header(&hs[0], "Host", "x");
	header(&hs[1], "X-User", "alice");
	header(&hs[2], "Cookie", "a=1; sid=s-9 ;b=2");
	assert_int_equal(msh_parse_addr("192.0.2.7:4000", &peer, &err), 0);
	assert_int_equal(msh_parse_addr("192.0.2.7:4001", &peer2, &err), 0);

	assert_int_equal(msh_parse_hash_key("source", &k, &err), 0);
	assert_int_equal(msh_lb_request_hash(&k, &m, &peer, &src), 1);
	assert_int_equal(msh_lb_request_hash(&k, &m, &peer2, &h), 1);
	assert_true(h == src);	/* the port does not count */

	assert_int_equal(msh_parse_hash_key("header:x-user", &k, &err), 0);
	assert_int_equal(msh_lb_request_hash(&k, &m, &peer, &h), 1);
	assert_true(h == msh_hash64("alice", 5, 0));

	assert_int_equal(msh_parse_hash_key("cookie:sid", &k, &err), 0);
	assert_int_equal(msh_lb_request_hash(&k, &m, &peer, &h), 1);
	assert_true(h == msh_hash64("s-9", 3, 0));

	/* Absent, or a cookie name that is a prefix: the source. */
	assert_int_equal(msh_parse_hash_key("cookie:si", &k, &err), 0);
	assert_int_equal(msh_lb_request_hash(&k, &m, &peer, &h), 1);
	assert_true(h == src);
	assert_int_equal(msh_parse_hash_key("header:x-session", &k, &err), 0);
	assert_int_equal(msh_lb_request_hash(&k, &m, &peer, &h), 1);
	assert_true(h == src);
	/* tcp: no message, the source. */
	assert_int_equal(msh_parse_hash_key("header:x-user", &k, &err), 0);
	assert_int_equal(msh_lb_request_hash(&k, NULL, &peer, &h), 1);
	assert_true(h == src);
}

static void
test_parse_hash_key(void **state)
{
	struct msh_hash_key k;
	const char *err = NULL;
	char buf[96];

	assert_int_equal(msh_parse_hash_key("header:X-User-Id", &k, &err), 0);
	assert_int_equal(k.by, MSH_HASH_HEADER);
	msh_hash_key_format(&k, buf, sizeof(buf));
	assert_string_equal(buf, "header:X-User-Id");
	assert_int_equal(msh_parse_hash_key("cookie:sid", &k, &err), 0);
	assert_int_equal(k.by, MSH_HASH_COOKIE);
	assert_int_equal(msh_parse_hash_key("source", &k, &err), 0);
	assert_int_equal(k.by, MSH_HASH_SOURCE);
	assert_int_equal(msh_parse_hash_key("header:", &k, &err), -1);
	assert_int_equal(msh_parse_hash_key("header:a b", &k, &err), -1);
	assert_int_equal(msh_parse_hash_key("cookie:a;b", &k, &err), -1);
	assert_int_equal(msh_parse_hash_key("path", &k, &err), -1);
	assert_int_equal(msh_parse_hash_key("Source", &k, &err), -1);
	assert_int_equal(msh_parse_hash_key("header:0123456789012345678901"
	    "234567890123456789012345678901234567890123456789", &k, &err), -1);
	assert_non_null(err);
}

static int
group_setup(void **state)
{
	msh_stats_init(1);
	return 0;
}

static int
group_teardown(void **state)
{
	msh_stats_free_all();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_stable),
		cmocka_unit_test(test_parse_hash_key),
		cmocka_unit_test(test_request_hash),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_random_weights),
		cmocka_unit_test(test_least_request),
		cmocka_unit_test(test_peak_ewma),
		cmocka_unit_test(test_ring_hash),
		cmocka_unit_test(test_maglev),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
