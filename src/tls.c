#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* TLS 1.2 ciphers when the config names none: forward secret AEAD only.
 * TLS 1.3's suites are OpenSSL's defaults, all of them safe. */
#define DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_GROUPS	"X25519:P-256:P-384"

struct msh_tls {
	SSL_CTX	*server;
	SSL_CTX	*client;
};

static const unsigned char alpn[] = "\x08http/1.1";

/* OpenSSL's reason for the last failure, for a diagnostic. */
static const char *
why(void)
{
	static __thread char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static int
select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, alpn,
	    sizeof(alpn) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

/* One context, either side: the sidecar's certificate and key, the mesh
 * CA for the peer, TLS 1.2 at least, peers must present a certificate. */
static SSL_CTX *
new_ctx(const struct msh_conf *conf, int server, struct msh_diag *d)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method())) == NULL)
		abort();
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
		msh_diag_error(d, "tls", conf->file, conf->tls_cert_line,
		    "cannot load the certificate %s: %s", conf->tls_cert,
		    why());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key, SSL_FILETYPE_PEM)
	    != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		msh_diag_error(d, "tls", conf->file, conf->tls_key_line,
		    "cannot use the key %s with the certificate: %s",
		    conf->tls_key, why());
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, conf->tls_ca, NULL) != 1) {
		msh_diag_error(d, "tls", conf->file, conf->tls_ca_line,
		    "cannot load the CA %s: %s", conf->tls_ca, why());
		goto fail;
	}
	if (SSL_CTX_set_cipher_list(ctx, conf->tls_ciphers ?
	    conf->tls_ciphers : DEFAULT_CIPHERS) != 1) {
		msh_diag_error(d, "bad-value", conf->file,
		    conf->tls_ciphers_line, "bad value \"%s\" for "
		    "\"tls_ciphers\": no cipher OpenSSL knows", conf->tls_ciphers);
		goto fail;
	}
	if (SSL_CTX_set1_groups_list(ctx, conf->tls_groups ?
	    conf->tls_groups : DEFAULT_GROUPS) != 1) {
		msh_diag_error(d, "bad-value", conf->file,
		    conf->tls_groups_line, "bad value \"%s\" for \"tls_groups\": "
		    "a group OpenSSL does not know", conf->tls_groups);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (server) {
		SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
		/* Resumed sessions save a handshake's cost per reconnect. */
		SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"meshd",
		    5);
	} else {
		SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct msh_tls *
msh_tls_new(const struct msh_conf *conf, struct msh_diag *d)
{
	struct msh_tls *t;
	size_t i;
	int need = 0;

	for (i = 0; i < conf->nlisteners; i++)
		need |= conf->listeners[i].tls != MSH_TLS_OFF;
	for (i = 0; i < conf->nclusters; i++)
		need |= conf->clusters[i].tls != MSH_TLS_OFF;
	if (!need)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		abort();
	if ((t->server = new_ctx(conf, 1, d)) == NULL ||
	    (t->client = new_ctx(conf, 0, d)) == NULL) {
		msh_tls_free(t);
		return NULL;
	}
	return t;
}

void
msh_tls_free(struct msh_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	free(t);
}

SSL *
msh_tls_server(struct msh_tls *t)
{
	SSL *ssl = SSL_new(t->server);

	if (ssl == NULL)
		abort();
	return ssl;
}

SSL *
msh_tls_client(struct msh_tls *t)
{
	SSL *ssl = SSL_new(t->client);

	if (ssl == NULL)
		abort();
	return ssl;
}

int
msh_tls_peer_id(SSL *ssl, char *buf, size_t len)
{
	GENERAL_NAMES *names;
	X509 *cert;
	int i;

	buf[0] = '\0';
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		const unsigned char *s;
		int slen;

		if (n->type != GEN_URI)
			continue;
		s = ASN1_STRING_get0_data(n->d.uniformResourceIdentifier);
		slen = ASN1_STRING_length(n->d.uniformResourceIdentifier);
		/* A NUL inside would hide the rest from a string compare. */
		if (memchr(s, '\0', slen) == NULL)
			snprintf(buf, len, "%.*s", slen, (const char *)s);
		break;
	}
	GENERAL_NAMES_free(names);
	return 0;
}
