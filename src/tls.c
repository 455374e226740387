#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* A certificate an edge listener shows for a server name (SNI). */
struct sni {
	char	*host;		/* "api.example.com" or "*.example.com" */
	SSL_CTX	*ctx;
};

/* tls = edge: TLS for clients outside the mesh, no client certificate. */
struct edge {
	const char	*listener;	/* the conf's name */
	SSL_CTX		*ctx;		/* the listener's own certificate */
	struct sni	*sni;
	size_t		 nsni;
};

struct msh_tls {
	SSL_CTX		*server;	/* mesh listeners: mTLS; or NULL */
	SSL_CTX		*client;
	time_t		 expires;	/* the sidecar's certificate's notAfter */
	struct edge	*edges;
	size_t		 nedges;
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

/* A certificate and its key into ctx; an expired certificate would fail
 * every handshake: better keep the last good one and say why. */
static int
use_pair(const struct msh_conf *conf, SSL_CTX *ctx, const char *cert,
    unsigned cert_line, const char *key, unsigned key_line,
    struct msh_diag *d)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		msh_diag_error(d, "tls", conf->file, cert_line,
		    "cannot load the certificate %s: %s", cert, why());
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(
	    SSL_CTX_get0_certificate(ctx))) <= 0) {
		msh_diag_error(d, "tls", conf->file, cert_line,
		    "the certificate %s has expired", cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		msh_diag_error(d, "tls", conf->file, key_line,
		    "cannot use the key %s with the certificate: %s", key,
		    why());
		return -1;
	}
	return 0;
}

/* What every context has: TLS 1.2 at least, the ciphers and groups. */
static SSL_CTX *
base_ctx(const struct msh_conf *conf, int server, struct msh_diag *d)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method())) == NULL)
		abort();
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_set_cipher_list(ctx, conf->tls_ciphers ?
	    conf->tls_ciphers : DEFAULT_CIPHERS) != 1) {
		msh_diag_error(d, "bad-value", conf->file,
		    conf->tls_ciphers_line, "bad value \"%s\" for "
		    "\"tls_ciphers\": no cipher OpenSSL knows", conf->tls_ciphers);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_set1_groups_list(ctx, conf->tls_groups ?
	    conf->tls_groups : DEFAULT_GROUPS) != 1) {
		msh_diag_error(d, "bad-value", conf->file,
		    conf->tls_groups_line, "bad value \"%s\" for \"tls_groups\": "
		    "a group OpenSSL does not know", conf->tls_groups);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (server)
		SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	return ctx;
}

/* One mesh context, either side: the sidecar's certificate and key, the
 * mesh CA for the peer, peers must present a certificate. */
static SSL_CTX *
new_ctx(const struct msh_conf *conf, int server, struct msh_diag *d)
{
	SSL_CTX *ctx;

	if ((ctx = base_ctx(conf, server, d)) == NULL)
		return NULL;
	if (use_pair(conf, ctx, conf->tls_cert, conf->tls_cert_line,
	    conf->tls_key, conf->tls_key_line, d) != 0)
		goto fail;
	if (SSL_CTX_load_verify_locations(ctx, conf->tls_ca, NULL) != 1) {
		msh_diag_error(d, "tls", conf->file, conf->tls_ca_line,
		    "cannot load the CA %s: %s", conf->tls_ca, why());
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (server) {
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

/* SNI: the certificate for the name the client asked for, if the
 * listener has one; else its own. */
static int
pick_sni(SSL *ssl, int *alert, void *arg)
{
	const struct edge *e = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name),
	    *dot;
	size_t i;

	(void)alert;
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	dot = strchr(name, '.');
	for (i = 0; i < e->nsni; i++) {
		const char *h = e->sni[i].host;

		if (strcasecmp(h, name) == 0 || (h[0] == '*' && h[1] == '.' &&
		    dot != NULL && strcasecmp(h + 1, dot) == 0)) {
			SSL_set_SSL_CTX(ssl, e->sni[i].ctx);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* A path of a tls_sni value, relative to the config's directory. */
static char *
conf_path(const struct msh_conf *conf, const char *p, size_t n)
{
	const char *slash = strrchr(conf->file, '/');
	char *r;

	if (p[0] == '/' || slash == NULL) {
		if ((r = strndup(p, n)) == NULL)
			abort();
	} else if (asprintf(&r, "%.*s/%.*s", (int)(slash - conf->file),
	    conf->file, (int)n, p) < 0)
		abort();
	return r;
}

/* "HOST CERT KEY" of tls_sni into e. */
static int
add_sni(const struct msh_conf *conf, struct edge *e, const char *item,
    unsigned line, struct msh_diag *d)
{
	char *w[3], *cert, *key;
	const char *p = item;
	size_t n[3], i;
	SSL_CTX *ctx;
	int r;

	for (i = 0; i < 3; i++) {
		p += strspn(p, " \t");
		n[i] = strcspn(p, " \t");
		w[i] = (char *)p;
		p += n[i];
	}
	if (n[2] == 0 || p[strspn(p, " \t")] != '\0') {
		msh_diag_error(d, "bad-value", conf->file, line,
		    "bad value \"%s\" for \"tls_sni\": expected HOST CERT KEY",
		    item);
		return -1;
	}
	if ((ctx = base_ctx(conf, 1, d)) == NULL)
		return -1;
	cert = conf_path(conf, w[1], n[1]);
	key = conf_path(conf, w[2], n[2]);
	r = use_pair(conf, ctx, cert, line, key, line, d);
	free(cert);
	free(key);
	if (r != 0) {
		SSL_CTX_free(ctx);
		return -1;
	}
	if ((e->sni = realloc(e->sni, (e->nsni + 1) * sizeof(*e->sni))) ==
	    NULL || (e->sni[e->nsni].host = strndup(w[0], n[0])) == NULL)
		abort();
	e->sni[e->nsni++].ctx = ctx;
	return 0;
}

/* tls = edge: the listener's certificate, or the sidecar's, and those it
 * shows by SNI; no client certificate asked. */
static int
add_edge(struct msh_tls *t, const struct msh_conf *conf,
    const struct msh_listener_conf *l, struct msh_diag *d)
{
	struct edge *e;
	size_t i;

	if ((t->edges = realloc(t->edges, (t->nedges + 1) *
	    sizeof(*t->edges))) == NULL)
		abort();
	e = &t->edges[t->nedges++];
	memset(e, 0, sizeof(*e));
	e->listener = l->name;
	if ((e->ctx = base_ctx(conf, 1, d)) == NULL)
		return -1;
	if (use_pair(conf, e->ctx, l->tls_cert ? l->tls_cert : conf->tls_cert,
	    l->tls_cert ? l->tls_cert_line : conf->tls_cert_line,
	    l->tls_key ? l->tls_key : conf->tls_key,
	    l->tls_key ? l->tls_key_line : conf->tls_key_line, d) != 0)
		return -1;
	for (i = 0; i < l->tls_sni.n; i++)
		if (add_sni(conf, e, l->tls_sni.items[i], l->tls_sni.lines[i],
		    d) != 0)
			return -1;
	SSL_CTX_set_tlsext_servername_callback(e->ctx, pick_sni);
	SSL_CTX_set_tlsext_servername_arg(e->ctx, e);
	return 0;
}

struct msh_tls *
msh_tls_new(const struct msh_conf *conf, struct msh_diag *d)
{
	struct msh_tls *t;
	struct tm tm;
	size_t i;
	int mesh = 0, edge = 0;

	for (i = 0; i < conf->nlisteners; i++) {
		edge |= conf->listeners[i].tls == MSH_TLS_EDGE;
		mesh |= conf->listeners[i].tls == MSH_TLS_STRICT ||
		    conf->listeners[i].tls == MSH_TLS_PERMISSIVE;
	}
	for (i = 0; i < conf->nclusters; i++)
		mesh |= conf->clusters[i].tls != MSH_TLS_OFF;
	if (!mesh && !edge)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		abort();
	if (mesh && ((t->server = new_ctx(conf, 1, d)) == NULL ||
	    (t->client = new_ctx(conf, 0, d)) == NULL)) {
		msh_tls_free(t);
		return NULL;
	}
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].tls == MSH_TLS_EDGE &&
		    add_edge(t, conf, &conf->listeners[i], d) != 0) {
			msh_tls_free(t);
			return NULL;
		}
	if (t->server != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(
	    SSL_CTX_get0_certificate(t->server)), &tm) == 1)
		t->expires = timegm(&tm);
	return t;
}

SSL *
msh_tls_edge(struct msh_tls *t, const char *listener)
{
	SSL *ssl = NULL;
	size_t i;

	for (i = 0; i < t->nedges; i++)
		if (strcmp(t->edges[i].listener, listener) == 0)
			ssl = SSL_new(t->edges[i].ctx);
	if (ssl == NULL)
		abort();
	return ssl;
}

time_t
msh_tls_expires(const struct msh_tls *t)
{
	return t->expires;
}

void
msh_tls_free(struct msh_tls *t)
{
	size_t i, j;

	if (t == NULL)
		return;
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	for (i = 0; i < t->nedges; i++) {
		SSL_CTX_free(t->edges[i].ctx);
		for (j = 0; j < t->edges[i].nsni; j++) {
			free(t->edges[i].sni[j].host);
			SSL_CTX_free(t->edges[i].sni[j].ctx);
		}
		free(t->edges[i].sni);
	}
	free(t->edges);
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
