/*
 * Plain sockets as bufferevents whose reads are meshd's: libevent's
 * socket bufferevent asks the kernel how much there is to read
 * (ioctl(FIONREAD)) before each read(2), a system call a request on each
 * side of the proxy; here the read is all there is, and the read limit
 * is kept here. Everything else (writes, connects, enabling, timeouts,
 * callbacks) stays libevent's.
 */
#ifndef MSH_PLAINCONN_H
#define MSH_PLAINCONN_H

#include <sys/socket.h>
#include <sys/types.h>

struct bufferevent;
struct event_base;
struct evbuffer;

/* One readv(2) of up to max bytes from fd onto the end of in (not
 * frozen): what readv returns, errno with it. */
ssize_t	msh_read_into(struct evbuffer *in, int fd, size_t max);

/* A bufferevent for the plain socket fd (-1: to connect), as
 * bufferevent_socket_new makes with BEV_OPT_CLOSE_ON_FREE. */
struct bufferevent *msh_plainconn_new(struct event_base *base, int fd);

/* Connect bev, one msh_plainconn_new made with -1, to sa, as
 * bufferevent_socket_connect does: 0 or -1 with errno. */
int	msh_plainconn_connect(struct bufferevent *bev,
	    const struct sockaddr *sa, socklen_t len);

/* Stop reading into bev's input once it holds limit bytes (0: never),
 * as libevent's read high watermark does; -1 if bev is not one
 * msh_plainconn_new made. */
int	msh_plainconn_read_limit(struct bufferevent *bev, size_t limit);

#endif
