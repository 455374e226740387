/*
 * The rate limit's bucket (src/ratelimit.h) on a clock of the test's
 * own: a full bucket gives burst tokens at once and then one a token's
 * time; the wait it names is when the next one comes; a bucket emptied
 * under a slower rate (before a reload) is empty under a faster one, not
 * in debt; a worker with an older clock reading takes nothing back; and
 * workers taking from one bucket at the same instant get burst tokens
 * between them, no more and no fewer.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

#define S	1000000000ULL
#define T0	(1000 * S)	/* a monotonic clock's now, any */

static void
test_burst_then_rate(void **state)
{
	struct msh_rate r = { 10, 1 };		/* a token each 100 ms */
	_Atomic uint64_t tat = 0;
	uint64_t wait = 0;
	unsigned i;

	for (i = 0; i < 5; i++)
		assert_int_equal(msh_rate_take(&tat, &r, 5, T0, &wait), 1);
	assert_int_equal(msh_rate_take(&tat, &r, 5, T0, &wait), 0);
	assert_int_equal(wait, S / 10);
	/* Not a nanosecond early. */
	assert_int_equal(msh_rate_take(&tat, &r, 5, T0 + S / 10 - 1, &wait),
	    0);
	assert_int_equal(wait, 1);
	assert_int_equal(msh_rate_take(&tat, &r, 5, T0 + S / 10, &wait), 1);
	assert_int_equal(msh_rate_take(&tat, &r, 5, T0 + S / 10, &wait), 0);
	/* A second later: 10 tokens came, but the bucket holds 5. */
	for (i = 0; i < 5; i++)
		assert_int_equal(msh_rate_take(&tat, &r, 5, T0 + 2 * S, &wait),
		    1);
	assert_int_equal(msh_rate_take(&tat, &r, 5, T0 + 2 * S, &wait), 0);
}

static void
test_per_minute(void **state)
{
	struct msh_rate r = { 2, 60 };		/* a token each 30 s */
	_Atomic uint64_t tat = 0;
	uint64_t wait = 0;

	assert_int_equal(msh_rate_take(&tat, &r, 1, T0, &wait), 1);
	assert_int_equal(msh_rate_take(&tat, &r, 1, T0 + 29 * S, &wait), 0);
	assert_int_equal(wait, S);
	assert_int_equal(msh_rate_take(&tat, &r, 1, T0 + 30 * S, &wait), 1);
}

static void
test_faster_after_reload(void **state)
{
	struct msh_rate slow = { 1, 60 }, fast = { 100, 1 };
	_Atomic uint64_t tat = 0;
	uint64_t wait = 0;
	unsigned i;

	/* 50 tokens of a minute each: 50 minutes to full again. */
	for (i = 0; i < 50; i++)
		assert_int_equal(msh_rate_take(&tat, &slow, 50, T0, &wait), 1);
	assert_int_equal(msh_rate_take(&tat, &fast, 50, T0, &wait), 0);
	assert_int_equal(wait, S / 100);
	assert_int_equal(msh_rate_take(&tat, &fast, 50, T0 + S / 100, &wait),
	    1);
}

/* A worker whose clock was read before another's took a token (it was
 * preempted, or retried its compare-and-swap) is refused, and gives back
 * nothing: the bucket is as the other left it. */
static void
test_stale_clock(void **state)
{
	struct msh_rate r = { 1000, 1 };
	_Atomic uint64_t tat = 0;
	uint64_t wait = 0, ms = S / 1000;

	(void)state;
	assert_int_equal(msh_rate_take(&tat, &r, 1, T0 + 10 * ms, &wait), 1);
	assert_int_equal(msh_rate_take(&tat, &r, 1, T0, &wait), 0);
	assert_int_equal(msh_rate_take(&tat, &r, 1, T0 + 10 * ms, &wait), 0);
	assert_int_equal(msh_rate_take(&tat, &r, 1, T0 + 11 * ms, &wait), 1);
}

#define THREADS	4
#define TRIES	5000

struct racer {
	_Atomic uint64_t	*tat;
	unsigned		 got;
};

static void *
race(void *arg)
{
	struct msh_rate r = { 1000, 1 };
	struct racer *x = arg;
	uint64_t wait;
	unsigned i;

	for (i = 0; i < TRIES; i++)
		x->got += msh_rate_take(x->tat, &r, 3000, T0, &wait);
	return NULL;
}

static void
test_workers_share_one_bucket(void **state)
{
	_Atomic uint64_t tat = 0;
	struct racer x[THREADS];
	pthread_t th[THREADS];
	unsigned i, total = 0;

	for (i = 0; i < THREADS; i++) {
		x[i].tat = &tat;
		x[i].got = 0;
		assert_int_equal(pthread_create(&th[i], NULL, race, &x[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		total += x[i].got;
	}
	assert_int_equal(total, 3000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_per_minute),
		cmocka_unit_test(test_faster_after_reload),
		cmocka_unit_test(test_stale_clock),
		cmocka_unit_test(test_workers_share_one_bucket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
