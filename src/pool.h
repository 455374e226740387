/*
 * Per-worker pools of idle upstream connections, by endpoint address.
 * Keyed by address, not by snapshot, so pooled connections survive
 * reloads and registry changes.
 */
#ifndef MSH_POOL_H
#define MSH_POOL_H

#include <stdint.h>
#include <sys/queue.h>

#include "value.h"

struct bufferevent;
struct event_base;
struct msh_pool;
struct msh_stats;
struct ssl_st;

struct msh_upconn {
	TAILQ_ENTRY(msh_upconn)	 link;
	struct bufferevent	*bev;
	struct msh_addr		 addr;
	struct msh_pool		*pool;
	long			 idle_since;	/* seconds, while pooled */
	uint64_t		 timeout;	/* ms its timeouts are set to */
	uint64_t		 buffer_size;	/* its read limit */
	struct msh_stats	*owner;	/* counts it in open_connections */
	int			 tls;	/* TLS to the endpoint */
	char			*peer_id;	/* its identity, once read */
	int			 session_saved;	/* for resumption, once */
};

struct msh_pool *msh_pool_new(struct event_base *base);
void	msh_pool_free(struct msh_pool *p);

/* A new, unconnected upstream connection to a (connect it yourself). */
struct msh_upconn *msh_upconn_new(struct msh_pool *p, const struct msh_addr *a);

/* A new TLS connection to a on fd, whose connect(2) is under way: the
 * handshake follows it (BEV_EVENT_CONNECTED once done). */
struct msh_upconn *msh_upconn_new_tls(struct msh_pool *p,
	    const struct msh_addr *a, int fd, struct ssl_st *ssl);
void	msh_upconn_free(struct msh_upconn *u);

/* An idle connection to a, TLS or not, or NULL. The caller sets its
 * callbacks. */
struct msh_upconn *msh_pool_take(struct msh_pool *p, const struct msh_addr *a,
	    int tls);

/* Keep u idle for reuse; it is closed if the pool is full, when the
 * server closes it or after 15 s idle. */
void	msh_pool_put(struct msh_upconn *u);

#endif
