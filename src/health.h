/*
 * Active health checks. The main thread checks each endpoint of every
 * cluster with health_check set, one at a time per endpoint: a connect
 * (tcp), or GET PATH and its status (http), each within health_timeout,
 * then again health_interval (plus up to health_jitter) after the last
 * one ended. healthy_threshold passes in a row make an endpoint healthy,
 * unhealthy_threshold failures in a row unhealthy; balancers' picks pass
 * over unhealthy endpoints unless all are. An endpoint not decided yet
 * (unknown) takes traffic, so that neither a new endpoint nor a reload
 * drains anything. The state lives in the endpoint's stats, kept by
 * cluster and address, so reloads and registry updates keep it.
 */
#ifndef MSH_HEALTH_H
#define MSH_HEALTH_H

#include <stdatomic.h>

#include "snapshot-t.h"
#include "stats.h"

struct event_base;

/* May e take traffic as far as health checks go? Any thread. */
static inline int
msh_health_ok(const struct msh_endpoint *e)
{
	return atomic_load_explicit(&e->stats->health, memory_order_relaxed) !=
	    MSH_HC_UNHEALTHY;
}

/* "unknown", "healthy" or "unhealthy". */
const char *msh_health_name(int health);

/*
 * Check what s has from now on (main thread, once s is installed): start
 * a checker for each endpoint of a cluster with checks that has none,
 * give the others their cluster's settings as s has them, and stop the
 * checkers of endpoints s does not check, which keep their state; the
 * endpoints of clusters without checks become unknown.
 */
void	msh_health_sync(struct event_base *base, const struct msh_snapshot *s);

/* Stop every checker: before the stats or the event base go. */
void	msh_health_stop(void);

#endif
