/*
 * Local rate limits (rate_limit, rate_limit_burst): a token bucket per
 * listener or route for the whole sidecar, taken from by every worker
 * without a lock. It holds burst tokens, starts full, and gains one each
 * period / n; a request (a tcp connection) takes one, or is refused when
 * none is left.
 *
 * The bucket is one 64-bit word, the time at which it will be full again
 * (the "theoretical arrival time" of GCRA, the generic cell rate
 * algorithm ATM switches police with): tokens left are burst less the
 * time to full over the time a token takes. Taking a token is one
 * compare-and-swap that pushes that time on by a token's time, refused
 * when it would be more than burst tokens' time away. One shared word
 * keeps the limit exact whichever worker a request lands on, where a
 * per-worker share of the rate would refuse requests while other
 * workers' shares go unused; the cache line it lives on is the price.
 */
#ifndef MSH_RATELIMIT_H
#define MSH_RATELIMIT_H

#include <stdatomic.h>
#include <stdint.h>

#include "value.h"

/*
 * Take a token from the bucket *tat of rate r (r->n above 0) holding
 * burst, at now (ns, any monotonic clock): 1 if there was one; else 0,
 * and *wait is how long until there is (ns).
 */
int	msh_rate_take(_Atomic uint64_t *tat, const struct msh_rate *r,
	    unsigned burst, uint64_t now, uint64_t *wait);

/* The same at CLOCK_MONOTONIC's now, the wait in whole seconds rounded
 * up (for a Retry-After field). */
int	msh_rate_admit(_Atomic uint64_t *tat, const struct msh_rate *r,
	    unsigned burst, unsigned *retry_after);

#endif
