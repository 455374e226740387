/*
 * Mirroring (shadowing): a copy of each request a route mirrors, or of
 * mirror_percent of them, sent to the route's mirror cluster, fire and
 * forget. The copy's response is read and thrown away: it never holds up
 * the request nor changes its answer.
 *
 * A copy is the request's head as it goes up, with -shadow in its Host,
 * and the same body bytes as they pass on their way up. A copy is never
 * waited for: one with more than the listener's buffer_size queued is
 * dropped, as is one whose request ends before its body was all read,
 * so a copy's memory is bounded and a slow mirror never slows the
 * request. Copies go by their cluster's balancer, connect and response
 * timeouts and circuit breaker (a copy over a limit is dropped), over the
 * worker's pool of upstream connections, and are never retried.
 */
#ifndef MSH_MIRROR_H
#define MSH_MIRROR_H

#include <stddef.h>

struct evbuffer;
struct msh_cluster;
struct msh_conn;
struct msh_mirror;
struct msh_worker;

/*
 * Start a copy of c's request, whose head is still in the client's input,
 * to cl: counted there as mirrored, then as answered (by status class),
 * failed or dropped. Returns the copy while it waits for the request's
 * body (msh_mirror_feed); NULL if the request has none, or the copy was
 * dropped or failed at once.
 */
struct msh_mirror *msh_mirror_start(struct msh_conn *c,
	    struct msh_cluster *cl);

/*
 * The bytes of src from off on are more of the request's body, as sent
 * up; last: they end it. Returns m while it takes more, NULL once it is
 * done with the request's body: all of it given, or the copy dropped.
 */
struct msh_mirror *msh_mirror_feed(struct msh_mirror *m, struct evbuffer *src,
	    size_t off, int last);

/* The request ended before all its body reached m: the copy is dropped.
 * m NULL: nothing. */
void	msh_mirror_drop(struct msh_mirror *m);

/* Free every copy w has in flight: it is stopping. */
void	msh_mirror_close_all(struct msh_worker *w);

#endif
