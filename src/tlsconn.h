/*
 * TLS connections as bufferevents. libevent's OpenSSL filter does the
 * TLS (handshake, records, the bufferevent meshd sees); the socket under
 * it is read and written here, not by libevent: one read(2) takes every
 * record that has arrived, and what the records of one loop turn add up
 * to goes out in one writev(2), with no write event unless the socket is
 * full.
 */
#ifndef MSH_TLSCONN_H
#define MSH_TLSCONN_H

#include <stddef.h>
#include <sys/time.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event_base;

/* A bufferevent for TLS on fd with ssl, accepting or connecting (fd may
 * still be connecting). It owns both: msh_bev_free closes fd and frees
 * ssl. BEV_EVENT_CONNECTED once the handshake is done. */
struct bufferevent *msh_tlsconn_new(struct event_base *base, int fd,
	    SSL *ssl, int accepting);

/* Read and write timeouts of a bufferevent msh_tlsconn_new made (NULL:
 * none), kept on its socket as a socket bufferevent keeps them: the read
 * timeout while meshd reads, the write timeout while bytes wait for the
 * socket. -1 if bev is not such a bufferevent. */
int	msh_tlsconn_timeouts(struct bufferevent *bev, const struct timeval *r,
	    const struct timeval *w);

/* Stop reading into bev's input once it holds high bytes (0: never), as
 * a read high watermark does; any bufferevent. */
void	msh_bev_read_limit(struct bufferevent *bev, size_t high);

/* Free any bufferevent, one msh_tlsconn_new made or not. */
void	msh_bev_free(struct bufferevent *bev);

/* Bytes bev has taken and not yet written to its socket: its output and,
 * for TLS, the records not yet sent. */
size_t	msh_bev_unsent(struct bufferevent *bev);

#endif
