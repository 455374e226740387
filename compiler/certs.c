/*
 * meshc certs: a development PKI for a mesh, so that the demo and tests
 * run with mTLS on. One CA (kept when DIR has one, so that adding a
 * service does not make every certificate new) and, per service, a key
 * and a certificate whose subjectAltName is the service's identity; and
 * for the edges, each certificate file they name in tls_dir, for the
 * names they show it to. Production meshes point tls_dir at their own
 * PKI's files instead, and edges at public certificates.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mesh.h"

#define CA_DAYS		3650
#define CERT_DAYS	365

struct pki {
	const char	*dir;
	struct msh_diag	*d;
	X509		*ca;
	EVP_PKEY	*ca_key;
};

static int
fail(struct pki *p, const char *file, const char *what)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", p->dir, file);
	msh_diag_error(p->d, "io", path, 0, "cannot %s: %s", what,
	    errno ? strerror(errno) : "OpenSSL failed");
	return -1;
}

/* Written whole or not at all: a temp file, then rename(2). */
static int
write_pem(struct pki *p, const char *file, EVP_PKEY *key, X509 *cert)
{
	char path[4096], tmp[4096 + 8];
	FILE *fp;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", p->dir, file);
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	errno = 0;
	if ((fd = mkstemp(tmp)) < 0)
		return fail(p, file, "write");
	/* mkstemp makes it 0600: right for a key, a certificate is public. */
	if (cert != NULL)
		fchmod(fd, 0644);
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
		return fail(p, file, "write");
	}
	ok = key != NULL ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_X509(fp, cert);
	if (fclose(fp) != 0 || !ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return fail(p, file, "write");
	}
	return 0;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for key, signed by the CA, for the names of san
 * ("URI:spiffe://...", "DNS:www.example.com, DNS:..."); or, san NULL, the
 * CA's own, signed by key. */
static X509 *
make_cert(struct pki *p, const char *cn, EVP_PKEY *key, const char *san)
{
	X509 *cert = X509_new();
	X509 *issuer = san != NULL ? p->ca : cert;
	EVP_PKEY *signer = san != NULL ? p->ca_key : key;
	unsigned char serial[8];
	BIGNUM *bn = NULL;
	int ok;

	ok = cert != NULL && X509_set_version(cert, 2) &&
	    RAND_bytes(serial, sizeof(serial)) == 1 &&
	    (serial[0] &= 0x7f, (bn = BN_bin2bn(serial, sizeof(serial),
	    NULL)) != NULL) &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL &&
	    X509_gmtime_adj(X509_getm_notBefore(cert), -300) != NULL &&
	    X509_time_adj_ex(X509_getm_notAfter(cert), san != NULL ?
	    CERT_DAYS : CA_DAYS, 0, NULL) != NULL &&
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) &&
	    X509_set_issuer_name(cert, X509_get_subject_name(issuer)) &&
	    X509_set_pubkey(cert, key) &&
	    add_ext(cert, issuer, NID_subject_key_identifier, "hash");
	BN_free(bn);
	if (ok && san == NULL)
		ok = add_ext(cert, issuer, NID_basic_constraints,
		    "critical,CA:TRUE") &&
		    add_ext(cert, issuer, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	else if (ok) {
		ok = add_ext(cert, issuer, NID_basic_constraints,
		    "critical,CA:FALSE") &&
		    add_ext(cert, issuer, NID_key_usage,
		    "critical,digitalSignature") &&
		    add_ext(cert, issuer, NID_ext_key_usage,
		    "serverAuth,clientAuth") &&
		    add_ext(cert, issuer, NID_authority_key_identifier,
		    "keyid") &&
		    add_ext(cert, issuer, NID_subject_alt_name, san);
	}
	if (!ok || X509_sign(cert, signer, EVP_sha256()) == 0) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* DIR's CA if it has one whose key matches, else a new one. */
static int
load_or_make_ca(struct pki *p, const struct mc_mesh *m)
{
	char path[4096], cn[300];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/ca.key", p->dir);
	if ((fp = fopen(path, "r")) != NULL) {
		p->ca_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
		snprintf(path, sizeof(path), "%s/ca.crt", p->dir);
		if ((fp = fopen(path, "r")) != NULL) {
			p->ca = PEM_read_X509(fp, NULL, NULL, NULL);
			fclose(fp);
		}
		if (p->ca != NULL && p->ca_key != NULL &&
		    X509_check_private_key(p->ca, p->ca_key) == 1)
			return 0;
		X509_free(p->ca);
		EVP_PKEY_free(p->ca_key);
		p->ca = NULL;
		p->ca_key = NULL;
	}
	errno = 0;
	snprintf(cn, sizeof(cn), "%s development CA", m->name);
	if ((p->ca_key = EVP_EC_gen("P-256")) == NULL ||
	    (p->ca = make_cert(p, cn, p->ca_key, NULL)) == NULL)
		return fail(p, "ca.crt", "make");
	if (write_pem(p, "ca.key", p->ca_key, NULL) != 0 ||
	    write_pem(p, "ca.crt", NULL, p->ca) != 0)
		return -1;
	return 0;
}

/* mkdir -p: the certificates usually go below the compiled files. */
static int
make_dirs(const char *dir)
{
	char path[4096], *p;

	snprintf(path, sizeof(path), "%s", dir);
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* A new key and a certificate for it, named cn, for san, written as
 * crt and key in the directory (whose subdirectories are made). */
static int
issue(struct pki *p, const char *cn, const char *san, const char *crt,
    const char *keyfile)
{
	char path[4096], *slash;
	EVP_PKEY *key;
	X509 *cert;
	int r;

	errno = 0;
	for (slash = strchr(crt, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		snprintf(path, sizeof(path), "%s/%.*s", p->dir,
		    (int)(slash - crt), crt);
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return fail(p, crt, "make the directory of");
	}
	key = EVP_EC_gen("P-256");
	cert = key != NULL ? make_cert(p, cn, key, san) : NULL;
	if (cert == NULL)
		r = fail(p, crt, "make");
	else if ((r = write_pem(p, keyfile, key, NULL)) == 0)
		r = write_pem(p, crt, NULL, cert);
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

/* Is path one meshc certs may write in its directory: relative (an
 * absolute one is the operator's) and not above it? */
static int
ours(const char *path)
{
	return path[0] != '/' && strcmp(path, "..") != 0 &&
	    strncmp(path, "../", 3) != 0 && strstr(path, "/../") == NULL &&
	    (strlen(path) < 3 || strcmp(path + strlen(path) - 3, "/..") != 0);
}

/*
 * Slot j of edge e: its own certificate (0) or a tls_sni one (1 on), the
 * key named with it and the name it is shown to (localhost for its own,
 * which any name may get). -1 if the slot has no certificate.
 */
static int
edge_slot(const struct mc_edge *e, size_t j, struct mc_sni *sni)
{
	if (j > 0)
		return mc_parse_sni(e->tls_sni.v[j - 1].name, sni);
	if (e->tls_cert == NULL || e->tls_key == NULL)
		return -1;
	snprintf(sni->host, sizeof(sni->host), "localhost");
	snprintf(sni->cert, sizeof(sni->cert), "%s", e->tls_cert);
	snprintf(sni->key, sizeof(sni->key), "%s", e->tls_key);
	return 0;
}

/*
 * The names every edge shows the certificate file of want to, in san, and
 * the key first named with it; 1 if a slot before slot j of edge i names
 * the file: it was written then.
 */
static int
edge_names(const struct mc_mesh *m, const struct mc_sni *want, size_t i,
    size_t j, char *san, size_t len, char *key, size_t keylen)
{
	struct mc_sni sni;
	char name[300];
	size_t k, l, used = 0;

	san[0] = key[0] = '\0';
	for (k = 0; k < m->nedges; k++) {
		for (l = 0; l <= m->edges[k]->tls_sni.n; l++) {
			if (edge_slot(m->edges[k], l, &sni) != 0 ||
			    strcmp(sni.cert, want->cert) != 0)
				continue;
			if (k < i || (k == i && l < j))
				return 1;
			if (key[0] == '\0')
				snprintf(key, keylen, "%s", sni.key);
			snprintf(name, sizeof(name), "DNS:%s", sni.host);
			if (strstr(san, name) == NULL && used < len)
				used += snprintf(san + used, len - used,
				    "%s%s", used ? ", " : "", name);
		}
	}
	return 0;
}

/* Development certificates for the edges' files in the directory. */
static int
edge_certs(struct pki *p, const struct mc_mesh *m)
{
	char san[4096], key[256];
	struct mc_sni sni;
	size_t i, j;

	for (i = 0; i < m->nedges; i++)
		for (j = 0; j <= m->edges[i]->tls_sni.n; j++) {
			if (edge_slot(m->edges[i], j, &sni) != 0 ||
			    !ours(sni.cert) || edge_names(m, &sni, i, j, san,
			    sizeof(san), key, sizeof(key)) != 0 || !ours(key))
				continue;
			if (issue(p, m->edges[i]->name, san, sni.cert,
			    key) != 0)
				return -1;
		}
	return 0;
}

int
mc_certs(const struct mc_mesh *m, const char *dir, struct msh_diag *d)
{
	struct pki p = { .dir = dir, .d = d };
	char crt[300], key[300], san[600];
	size_t i;
	int r = 0;

	if (make_dirs(dir) != 0) {
		msh_diag_error(d, "io", dir, 0, "cannot make the directory: %s",
		    strerror(errno));
		return -1;
	}
	if (load_or_make_ca(&p, m) != 0)
		r = -1;
	for (i = 0; r == 0 && i < m->nservices; i++) {
		const char *name = m->services[i]->name;

		snprintf(san, sizeof(san), "URI:");
		mc_identity(m, name, san + 4, sizeof(san) - 4);
		snprintf(crt, sizeof(crt), "%s.crt", name);
		snprintf(key, sizeof(key), "%s.key", name);
		r = issue(&p, name, san, crt, key);
	}
	if (r == 0)
		r = edge_certs(&p, m);
	X509_free(p.ca);
	EVP_PKEY_free(p.ca_key);
	return r;
}
