/*
 * Counters for /metrics, and what meshd learns of each endpoint at run
 * time. Each set has one line per worker, written only by that worker: no
 * lock and no shared cache line on the request path. The admin sums the
 * lines when scraped. Sets are looked up by kind and name when a snapshot
 * is built, so counters and an endpoint's state outlive reloads and
 * registry updates for as long as its address is listed.
 */
#ifndef MSH_STATS_H
#define MSH_STATS_H

#include <stdatomic.h>
#include <stdint.h>

enum msh_counter {
	MSH_C_CONNECTIONS,	/* accepted (listener), opened (cluster) */
	MSH_C_REQUESTS,
	MSH_C_1XX,		/* 2XX..5XX follow in order */
	MSH_C_2XX,
	MSH_C_3XX,
	MSH_C_4XX,
	MSH_C_5XX,
	MSH_C_CONNECT_FAILURES,
	MSH_C_EJECTIONS,	/* endpoint: by outlier detection */
	MSH_C_TLS_HANDSHAKES,	/* listener: TLS clients accepted */
	MSH_C_TLS_RESUMED,	/* listener: of which, sessions resumed */
	MSH_C_RETRIES,		/* cluster */
	MSH_C_RETRIES_BUDGET,	/* cluster: refused by the retry budget */
	/* Cluster: circuit breaking, by the limit that was reached. */
	MSH_C_OVER_CONNECTIONS,
	MSH_C_OVER_PENDING,
	MSH_C_OVER_REQUESTS,
	MSH_C_OVER_RETRIES,
	/* Cluster: copies of requests routes mirror to it, and of those,
	 * the ones that got no response and the ones meshd let go. */
	MSH_C_MIRRORED,
	MSH_C_MIRROR_FAILURES,
	MSH_C_MIRROR_DROPPED,
	MSH_C_FAULT_DELAYED,	/* route: requests a fault held back */
	/* Answers meshd makes itself, by cause (listener sets only). */
	MSH_C_ERR_BAD_REQUEST,		/* 400: a malformed head */
	MSH_C_ERR_BAD_BODY,		/* 400: malformed body framing */
	MSH_C_ERR_URI_TOO_LONG,		/* 414 */
	MSH_C_ERR_HEADER_TOO_LARGE,	/* 431: too big or too many */
	MSH_C_ERR_UNKNOWN_CODING,	/* 501 */
	MSH_C_ERR_BAD_VERSION,		/* 505 */
	MSH_C_ERR_CLIENT_TIMEOUT,	/* 408 */
	MSH_C_ERR_NO_ENDPOINT,		/* 503 */
	MSH_C_ERR_CONNECT_FAILED,	/* 502 */
	MSH_C_ERR_CONNECT_TIMEOUT,	/* 504 */
	MSH_C_ERR_BAD_RESPONSE,		/* 502: malformed response head */
	MSH_C_ERR_UPSTREAM_CLOSED,	/* 502: closed before responding */
	MSH_C_ERR_RESPONSE_TIMEOUT,	/* 504 */
	MSH_C_ERR_REQUEST_TIMEOUT,	/* 504, or 408 while the body comes */
	MSH_C_ERR_OVERLOAD,		/* 503: a circuit breaker's limit */
	MSH_C_ERR_FORBIDDEN,		/* 403: the listener's rules */
	/* These two count in route sets too. */
	MSH_C_ERR_RATE_LIMITED,		/* 429: over a rate_limit */
	MSH_C_ERR_FAULT_ABORT,		/* a route's fault_abort */
	MSH_C_COUNT,
};

#define MSH_C_ERR_FIRST	MSH_C_ERR_BAD_REQUEST

/* The cause label of each MSH_C_ERR_ counter, from MSH_C_ERR_FIRST. */
extern const char *const msh_error_causes[MSH_C_COUNT - MSH_C_ERR_FIRST];

/* An endpoint's health, as active health checks found it. */
enum msh_hc_state {
	MSH_HC_UNKNOWN,	/* not checked, or not decided yet */
	MSH_HC_HEALTHY,
	MSH_HC_UNHEALTHY,
};

/* What one health check came to. */
enum msh_check_result {
	MSH_CHECK_OK,
	MSH_CHECK_BAD_STATUS,		/* a status not in health_status */
	MSH_CHECK_CONNECT_FAILED,
	MSH_CHECK_TIMEOUT,
	MSH_CHECK_BAD_RESPONSE,		/* malformed, or closed before it */
	MSH_CHECK_RESULTS,
};

/* The result label of each, for /metrics. */
extern const char *const msh_check_results[MSH_CHECK_RESULTS];

struct msh_health_checker;

enum msh_stats_kind {
	MSH_STATS_LISTENER,
	MSH_STATS_CLUSTER,
	MSH_STATS_ENDPOINT,
	MSH_STATS_RULE,		/* name: the listener; endpoint: the rule */
	MSH_STATS_ROUTE,	/* name: the listener; endpoint: the route */
};

#define MSH_BUDGET_WINDOW	10	/* seconds */
/* How fast an endpoint's latency estimate (latency_us) forgets. */
#define MSH_LATENCY_DECAY_US	10000000.0

struct msh_stats_line {
	_Atomic uint64_t c[MSH_C_COUNT];
	/* Endpoint sets: the worker's view of the endpoint. */
	_Atomic uint64_t active;	/* requests in flight */
	_Atomic uint64_t latency_us;	/* peak EWMA of response times, 0: none */
	uint64_t	 latency_at_us;	/* last updated: CLOCK_MONOTONIC */
	unsigned	 consecutive_5xx;	/* and failures to answer */
	unsigned	 consecutive_gateway;	/* 502-504, failures to answer */
	/* Cluster sets: the retry budget's window, one slot a second. */
	uint64_t	 budget_second;
	uint32_t	 budget_requests[MSH_BUDGET_WINDOW];
	uint32_t	 budget_retries[MSH_BUDGET_WINDOW];
} __attribute__((aligned(64)));

struct msh_stats {
	struct msh_stats	*next;
	enum msh_stats_kind	 kind;
	char			*name;		/* listener, cluster */
	char			*endpoint;	/* for MSH_STATS_ENDPOINT */
	struct msh_stats_line	*lines;		/* one per worker */
	/* Cluster sets, shared by the workers: what its circuit breaker
	 * counts, for the limits that are set. */
	_Atomic unsigned	 open_connections;
	_Atomic unsigned	 pending;
	_Atomic unsigned	 requests;
	_Atomic unsigned	 retries;
	/* Endpoint sets, shared by the workers: its ejection. */
	_Atomic uint64_t	 ejected_until;	/* ms, CLOCK_MONOTONIC */
	_Atomic uint64_t	 ejected_last;	/* ms, the last ejection's start */
	_Atomic unsigned	 ejections;	/* in a row, for the next time */
	/* Endpoint sets: active health checks. Workers read health; the
	 * rest is the main thread's, which runs the checks and the admin. */
	_Atomic int		 health;	/* enum msh_hc_state */
	unsigned		 health_passes;		/* in a row */
	unsigned		 health_failures;	/* in a row */
	uint64_t		 health_checks[MSH_CHECK_RESULTS];
	uint64_t		 health_to_healthy;	/* from unhealthy */
	uint64_t		 health_to_unhealthy;
	int			 health_checked;	/* ever */
	struct msh_health_checker *checker;	/* checking it now */
	/* Listener and route sets: the rate limit's bucket (ratelimit.h),
	 * which every worker takes from; on a line of its own, as the
	 * fields above are read on every request. */
	_Atomic uint64_t	 rate_tat __attribute__((aligned(64)));
};

/* Once, before the first snapshot. */
void	msh_stats_init(unsigned nworkers);

/* The counter set of that name, created at zero if new. Main thread. */
struct msh_stats *msh_stats_get(enum msh_stats_kind kind, const char *name,
	    const char *endpoint);

/* First of all sets, in creation order. */
struct msh_stats *msh_stats_all(void);

uint64_t msh_stats_sum(const struct msh_stats *s, enum msh_counter c);

void	msh_stats_free_all(void);

/* Only worker w writes its line: a plain load and store suffice. */
static inline void
msh_stats_inc(struct msh_stats *s, unsigned w, enum msh_counter c)
{
	_Atomic uint64_t *p = &s->lines[w].c[c];

	atomic_store_explicit(p,
	    atomic_load_explicit(p, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

/* Requests in flight at an endpoint, on worker w's line. */
static inline void
msh_stats_active(struct msh_stats *s, unsigned w, int delta)
{
	_Atomic uint64_t *p = &s->lines[w].active;

	atomic_store_explicit(p,
	    atomic_load_explicit(p, memory_order_relaxed) + delta,
	    memory_order_relaxed);
}

/* All workers' requests in flight at an endpoint. */
uint64_t msh_stats_active_sum(const struct msh_stats *s);

static inline enum msh_counter
msh_stats_class(unsigned status)
{
	if (status < 100 || status > 599)
		return MSH_C_5XX;
	return MSH_C_1XX + (status / 100 - 1);
}

#endif
