/*
 * Passive outlier detection: an endpoint that fails too many requests in
 * a row is ejected, and balancers pass it over until its time is up (with
 * outlier_interval, until the first sweep after that). Each ejection in a
 * row lasts longer. The failures are counted per worker
 * (each worker sees its own requests); the ejection is shared by all.
 */
#ifndef MSH_OUTLIER_H
#define MSH_OUTLIER_H

#include <stdint.h>

struct msh_cluster;
struct msh_endpoint;

enum msh_outcome {
	MSH_OUTCOME_OK,		/* an answer below 500 */
	MSH_OUTCOME_5XX,	/* 500, 501, 505 and up */
	MSH_OUTCOME_GATEWAY,	/* 502-504, or no answer at all */
};

/* Milliseconds on the clock ejections are timed by. */
uint64_t msh_outlier_now(void);

/* Is e ejected now? Cheap for an endpoint never ejected. */
int	msh_outlier_ejected(const struct msh_endpoint *e);

/* What the request to e of cluster c came to, on this worker. */
void	msh_outlier_result(const struct msh_cluster *c,
	    const struct msh_endpoint *e, unsigned worker, enum msh_outcome o);

/* Ejected endpoints of c now. */
unsigned msh_outlier_count(const struct msh_cluster *c);

/* Bumped whenever an endpoint's availability changes (an ejection, a
 * health check's verdict), so that cached views are looked at again. */
void	msh_outlier_changed(void);

/*
 * The endpoints a pick of c may use on this worker: c's own, or those in
 * the sidecar's zone (c->local) while at least zone_affinity percent of
 * them are available (neither ejected nor unhealthy); and *panic set if
 * fewer than panic_threshold percent of those are, when unavailable ones
 * must take traffic too.
 */
const struct msh_cluster *msh_outlier_view(const struct msh_cluster *c,
	    unsigned worker, int *panic);

#endif
