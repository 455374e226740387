/*
 * Tunnels: protocol=tcp, and HTTP connections after an Upgrade (101).
 * Bytes both ways, with backpressure and half-close: when
 * one side ends its stream, the other side's write half is shut once
 * everything before the end has been sent.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "pool.h"
#include "proxy.h"
#include "snapshot.h"
#include "stats.h"
#include "worker.h"

#define TCP_IDLE_TIMEOUT	3600000	/* ms without a byte either way */

static void tunnel_read(struct bufferevent *, void *);
static void tunnel_write(struct bufferevent *, void *);
static void tunnel_event(struct bufferevent *, short, void *);

static struct bufferevent *
other(struct msh_conn *c, struct bufferevent *bev)
{
	return bev == c->client ? c->up->bev : c->client;
}

static int
flushed(struct bufferevent *bev)
{
	return evbuffer_get_length(bufferevent_get_output(bev)) == 0;
}

/* Pass on an end of stream once the bytes before it are out; close when
 * both ends are done. Returns 1 if c was freed. */
static int
settle(struct msh_conn *c)
{
	if (c->client_eof && flushed(c->up->bev))
		shutdown(bufferevent_getfd(c->up->bev), SHUT_WR);
	if (c->up_eof && flushed(c->client))
		shutdown(bufferevent_getfd(c->client), SHUT_WR);
	if (c->client_eof && c->up_eof && flushed(c->client) &&
	    flushed(c->up->bev)) {
		msh_conn_free(c);
		return 1;
	}
	return 0;
}

static void
tunnel_read(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;
	struct bufferevent *to = other(c, bev);

	evbuffer_add_buffer(bufferevent_get_output(to),
	    bufferevent_get_input(bev));
	if (evbuffer_get_length(bufferevent_get_output(to)) > MSH_BUFFER_HIGH)
		bufferevent_disable(bev, EV_READ);
}

static void
tunnel_write(struct bufferevent *bev, void *arg)
{
	struct msh_conn *c = arg;
	struct bufferevent *from = other(c, bev);
	int from_eof = from == c->client ? c->client_eof : c->up_eof;

	if (settle(c))
		return;
	if (!from_eof)
		bufferevent_enable(from, EV_READ);
}

static void
tunnel_event(struct bufferevent *bev, short what, void *arg)
{
	struct msh_conn *c = arg;

	if (what & BEV_EVENT_EOF) {
		tunnel_read(bev, c);
		if (bev == c->client)
			c->client_eof = 1;
		else
			c->up_eof = 1;
		settle(c);
		return;
	}
	msh_conn_free(c);
}

static void
connected(struct bufferevent *bev, short what, void *arg)
{
	struct msh_conn *c = arg;

	if (!(what & BEV_EVENT_CONNECTED)) {
		msh_connect_failed(c, what);
		msh_conn_free(c);
		return;
	}
	msh_set_nodelay(bufferevent_getfd(bev));
	msh_tunnel(c);
}

void
msh_tunnel(struct msh_conn *c)
{
	c->state = MSH_CONN_TUNNEL;
	bufferevent_setcb(c->client, tunnel_read, tunnel_write, tunnel_event, c);
	bufferevent_setcb(c->up->bev, tunnel_read, tunnel_write, tunnel_event,
	    c);
	bufferevent_setwatermark(c->client, EV_READ, 0, MSH_BUFFER_HIGH);
	bufferevent_setwatermark(c->up->bev, EV_READ, 0, MSH_BUFFER_HIGH);
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	bufferevent_setwatermark(c->up->bev, EV_WRITE, 0, 0);
	msh_set_timeouts(c->client, TCP_IDLE_TIMEOUT, 0);
	msh_set_timeouts(c->up->bev, TCP_IDLE_TIMEOUT, 0);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	bufferevent_enable(c->up->bev, EV_READ | EV_WRITE);
	/* Bytes already read on either side go across first. */
	tunnel_read(c->client, c);
	tunnel_read(c->up->bev, c);
}

void
msh_tcp_start(struct msh_conn *c)
{
	struct msh_cluster *cl = c->l->cluster;

	c->state = MSH_CONN_TUNNEL;
	msh_stats_inc(c->l->stats, c->w->id, MSH_C_REQUESTS);
	msh_stats_inc(cl->stats, c->w->id, MSH_C_REQUESTS);
	if ((c->ep = cl->lb->pick(cl->lb_state, cl, c->w->id)) == NULL) {
		msh_conn_free(c);
		return;
	}
	msh_stats_inc(c->ep->stats, c->w->id, MSH_C_REQUESTS);
	bufferevent_setcb(c->client, NULL, NULL, NULL, NULL);
	msh_upstream_connect(c, connected);
}
