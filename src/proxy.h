/*
 * The proxy engine: client connections accepted by a worker and what they
 * are forwarded to. HTTP/1.1 in proxy.c, protocol=tcp in tcp.c.
 */
#ifndef MSH_PROXY_H
#define MSH_PROXY_H

#include <sys/queue.h>
#include <sys/time.h>

#include <event2/bufferevent.h>

#include "http1-t.h"
#include "value.h"

struct bufferevent;
struct evbuffer;
struct event;
struct head;
struct sockaddr;
struct msh_cluster;
struct msh_endpoint;
struct msh_listener;
struct msh_mirror;
struct msh_pick;
struct msh_snapshot;
struct msh_splice;
struct msh_tls;
struct msh_upconn;
struct msh_worker;

enum msh_conn_state {
	MSH_CONN_IDLE,		/* waiting for a request head */
	MSH_CONN_DELAYED,	/* a route's fault_delay holds the request */
	MSH_CONN_CONNECTING,	/* to the upstream */
	MSH_CONN_WAITING,	/* request sent or sending, no response yet */
	MSH_CONN_RESPONDING,	/* streaming the response body */
	MSH_CONN_CLOSING,	/* flushing the last bytes to the client */
	MSH_CONN_TUNNEL,	/* protocol=tcp */
};

/* What a request's tries go by: its cluster's, or its route's where the
 * route sets them. */
struct msh_try_policy {
	unsigned		 retries;
	struct msh_retry_on	 retry_on;
	uint64_t		 per_try_timeout;	/* ms, 0: off */
	uint64_t		 request_timeout;	/* ms, 0: off */
	uint64_t		 response_timeout;	/* ms */
	int			 retry_non_idempotent;
};

struct msh_conn {
	TAILQ_ENTRY(msh_conn)	   link;
	struct msh_worker	  *w;
	struct msh_snapshot	  *snap;	/* referenced */
	struct msh_listener	  *l;
	struct msh_cluster	  *cluster;	/* of this request */
	const struct msh_route_conf *route;	/* that matched it, or NULL */
	struct msh_stats	  *route_stats;	/* the route's counts */
	struct msh_try_policy	   try;	/* of this request */
	struct bufferevent	  *client;
	struct msh_upconn	  *up;
	const struct msh_endpoint *ep;
	enum msh_conn_state	   state;
	struct msh_addr		   peer;	/* the client */
	struct msh_http_msg	   msg;
	size_t			   nfields;	/* room at msg.headers */
	struct msh_body		   reqbody;
	struct msh_body		   respbody;
	struct head		  *head;	/* request head, for a retry */
	struct msh_mirror	  *mirror;	/* a copy taking the body, or NULL */
	struct event		  *request_timer; /* request_timeout */
	struct event		  *retry_timer;	/* backoff before a retry */
	struct event		  *fault_timer;	/* a route's fault_delay */
	size_t			   head_len;	/* of the request held back */
	uint64_t		   fault_until;	/* us: CLOCK_MONOTONIC */
	unsigned		   tries;	/* of this request, so far */
	unsigned		   counted;	/* MSH_COUNTED_: in the breaker's */
	uint64_t		   hash;	/* its balancer's key, if has_hash */
	uint64_t		   read_timeout;	/* ms the client's is set to */
	struct timeval		   head_start;	/* first byte of a head */
	uint64_t		   sent_us;	/* request head handed over */
	unsigned		   head_started:1;
	unsigned		   req_done:1;
	unsigned		   close_after:1;
	unsigned		   reused:1;	/* up came from the pool */
	unsigned		   retried:1;
	unsigned		   idempotent:1;	/* the request's method */
	unsigned		   has_hash:1;
	unsigned		   head_request:1;
	unsigned		   client_http10:1;
	unsigned		   upgrade:1;	/* the request asked for one */
	unsigned		   lingering:1;	/* answered, draining input */
	struct timeval		   linger_start;
	struct timeval		   active;	/* tcp: a byte either way */
	unsigned		   client_eof:1;	/* tcp */
	unsigned		   up_eof:1;		/* tcp */
	struct msh_splice	  *splice;	/* a tunnel's pipes, or NULL */
	struct event		  *peek;	/* tls = permissive: first byte */
	int			   peek_fd;
	char			  *peer_id;	/* the TLS client's URI, once read */
};

/* A connection accepted on l by worker w. */
void	msh_proxy_accept(struct msh_worker *w, struct msh_listener *l, int fd,
	    const struct sockaddr *peer, int peerlen);

/* Close idle connections, let the others finish their request. */
void	msh_proxy_drain(struct msh_worker *w);

/* Close every connection of w now. */
void	msh_proxy_close_all(struct msh_worker *w);

void	msh_conn_free(struct msh_conn *c);

/* Milliseconds from then to the worker's cached now. */
uint64_t msh_ms_since(struct msh_conn *c, const struct timeval *then);

/* Send w->stage's bytes on bev: written at once if nothing is queued
 * there, queued on bev otherwise; w->stage is left empty. */
void	msh_send(struct msh_worker *w, struct bufferevent *bev);

/* An endpoint of cl by its balancer (p: what it may go by), another than
 * avoid where cl has one, counted in flight there on p->worker's line;
 * NULL if cl has none. */
const struct msh_endpoint *msh_endpoint_pick(struct msh_cluster *cl,
	    struct msh_pick *p, const struct msh_endpoint *avoid);

/* Pick c->ep for the next request or connection, another than avoid
 * where the cluster has one, and count it in flight there; -1 if the
 * cluster has no endpoint. */
int	msh_endpoint_take(struct msh_conn *c,
	    const struct msh_endpoint *avoid);

/* c is done with c->ep (if any): no longer in flight there. */
void	msh_endpoint_release(struct msh_conn *c);

/* A connection to ep of cl failed or timed out (what: libevent's
 * flags): counted on worker's line, and logged. */
void	msh_connect_failed(struct msh_cluster *cl,
	    const struct msh_endpoint *ep, unsigned worker, short what);

/* Read and write timeouts in milliseconds; 0 leaves one off. */
void	msh_set_timeouts(struct bufferevent *bev, uint64_t read_ms,
	    uint64_t write_ms);

/* A new connection to ep of cl from worker w, TLS (with tls) if cl
 * originates it: counted, with the cluster's connect timeout. on_event
 * (with arg) gets BEV_EVENT_CONNECTED or the failure; NULL if connect(2)
 * failed at once. */
struct msh_upconn *msh_upstream_open(struct msh_worker *w,
	    struct msh_tls *tls, const struct msh_cluster *cl,
	    const struct msh_endpoint *ep, bufferevent_event_cb on_event,
	    void *arg);

/* An idle connection of w's pool to ep, fit for cl (TLS or not, the peer
 * it names), or NULL. */
struct msh_upconn *msh_upstream_pooled(struct msh_worker *w,
	    const struct msh_cluster *cl, const struct msh_endpoint *ep);

/* Open a new upstream connection to c->ep as c->up (msh_upstream_open),
 * holding c's count of open connections if it has one. on_event gets
 * BEV_EVENT_CONNECTED or the failure (at once if connect(2) fails at
 * once). */
void	msh_upstream_connect(struct msh_conn *c, bufferevent_event_cb on_event);

/* May c make this request (m), or this connection (m NULL, tcp), by its
 * listener's rules? Counted per rule; no rules, yes. */
int	msh_authorized(struct msh_conn *c, const struct msh_http_msg *m);

/* A TLS client's handshake is done: counted, resumed or not. */
void	msh_tls_accepted(struct msh_conn *c);

/* Is bev TLS? Then its socket is not to be read or written directly. */
int	msh_bev_tls(struct bufferevent *bev);

/* A TLS upstream u to ep just connected: is its peer the identity cl
 * names (tls_peer)? Logged if not. */
int	msh_upstream_verified(const struct msh_cluster *cl,
	    const struct msh_endpoint *ep, struct msh_upconn *u);

/*
 * Circuit breaking: counts of each cluster, shared by the workers, kept
 * only for the limits that are set. A request holds a bit for each count
 * it is in, so that a reload that sets or lifts a limit keeps them right.
 */
#define MSH_COUNTED_REQUEST	0x1	/* requests: head to end of answer */
#define MSH_COUNTED_PENDING	0x2	/* pending: a connection being made */
#define MSH_COUNTED_CONNECTION	0x4	/* open_connections, until handed on */
#define MSH_COUNTED_RETRY	0x8	/* retries: a request being retried */
#define MSH_COUNTED_ALL		0xf

/* Count one more in cl's count what (not MSH_COUNTED_RETRY), its bit set
 * in *counted, if under its limit or none is set; 0 if the limit is
 * reached. */
int	msh_breaker_enter(struct msh_cluster *cl, unsigned what,
	    unsigned *counted);

/* One less in each of cl's counts whose bit is in both what and
 * *counted; those bits are cleared. */
void	msh_breaker_leave(struct msh_cluster *cl, unsigned *counted,
	    unsigned what);

/* The head of c's request (still in the client's input) as a mirrored
 * copy to ep sends it, at the end of out. */
void	msh_shadow_head(struct msh_conn *c, const struct msh_endpoint *ep,
	    struct evbuffer *out);

/* TCP_NODELAY on a proxied socket (fd < 0: nothing). */
void	msh_set_nodelay(int fd);

/* protocol=tcp: connect and pass bytes both ways. */
void	msh_tcp_start(struct msh_conn *c);

/* Pass bytes both ways between c->client and c->up from now on
 * (protocol=tcp once connected, or HTTP after 101 Switching Protocols). */
void	msh_tunnel(struct msh_conn *c);

/* Close c's splice pipes and their events, if it has any; the sockets
 * stay with c->client and c->up. */
void	msh_splice_free(struct msh_conn *c);

#endif
