/*
 * mTLS between sidecars: a config's TLS contexts, built from [meshd]
 * tls_cert, tls_key and tls_ca (meshd.conf(5)). Listeners accept TLS with
 * a client certificate the mesh CA signed; clusters originate TLS with the
 * sidecar's own certificate and check their peer's identity, a URI in its
 * certificate's subjectAltName (spiffe://TRUST-DOMAIN/service/NAME).
 */
#ifndef MSH_TLS_H
#define MSH_TLS_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

#include "conf-t.h"
#include "diag.h"

struct msh_tls;

/* The contexts conf needs: NULL with nothing said if it has no TLS,
 * NULL with errors on d (file and line) if its files do not load. */
struct msh_tls *msh_tls_new(const struct msh_conf *conf, struct msh_diag *d);
void	msh_tls_free(struct msh_tls *t);

/* When the sidecar's certificate expires (seconds since the epoch). */
time_t	msh_tls_expires(const struct msh_tls *t);

/* A new connection's TLS state: accepting, or connecting. */
SSL	*msh_tls_server(struct msh_tls *t);
SSL	*msh_tls_edge(struct msh_tls *t, const char *listener);
SSL	*msh_tls_client(struct msh_tls *t);

/* The first URI in the peer certificate's subjectAltName into buf ("" if
 * none); 0, or -1 if there is no verified peer certificate. */
int	msh_tls_peer_id(SSL *ssl, char *buf, size_t len);

#endif
