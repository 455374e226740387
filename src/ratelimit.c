#include "config.h"

#include <time.h>

#include "ratelimit.h"

#define NS	1000000000ULL
#define DEBT_SLACK	NS

int
msh_rate_take(_Atomic uint64_t *tat, const struct msh_rate *r,
    unsigned burst, uint64_t now, uint64_t *wait)
{
	uint64_t token = r->per * NS / r->n, full = token * burst;
	uint64_t old, base, next;

	old = atomic_load_explicit(tat, memory_order_relaxed);
	for (;;) {
		/*
		 * A full bucket has nothing to make up. One emptied under a
		 * slower rate or a bigger burst (before a reload) is made
		 * empty now when it is more than DEBT_SLACK in debt. Less is
		 * not a reload to tell: now may be older than another worker's
		 * (read before a preemption, or before this loop's retries),
		 * and moving the bucket back for it would give out tokens
		 * already taken. A smaller debt is paid.
		 */
		base = old > now ? old : now;
		if (base - now > full + DEBT_SLACK) {
			if (atomic_compare_exchange_weak_explicit(tat, &old,
			    now + full, memory_order_relaxed,
			    memory_order_relaxed))
				old = now + full;
			continue;
		}
		next = base + token;
		if (next - now > full) {
			*wait = next - now - full;
			return 0;
		}
		if (atomic_compare_exchange_weak_explicit(tat, &old, next,
		    memory_order_relaxed, memory_order_relaxed))
			return 1;
	}
}

int
msh_rate_admit(_Atomic uint64_t *tat, const struct msh_rate *r,
    unsigned burst, unsigned *retry_after)
{
	struct timespec ts;
	uint64_t wait;

	/* A clock that fails (it cannot) lets the request through. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || msh_rate_take(tat, r,
	    burst, (uint64_t)ts.tv_sec * NS + ts.tv_nsec, &wait))
		return 1;
	*retry_after = (wait + NS - 1) / NS;
	return 0;
}
