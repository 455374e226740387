#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh.h"

static const char *
protocol_name(enum mc_protocol p)
{
	return p == MC_TCP ? "tcp" : "http";
}

/* The source's name without its directory: the output must not depend
 * on where meshc ran. */
static const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* Sizes as they were most likely written: in m or k when exact. */
const char *
mc_format_size(char *buf, size_t len, uint64_t bytes)
{
	if (bytes % (1024 * 1024) == 0)
		snprintf(buf, len, "%llum",
		    (unsigned long long)(bytes / 1024 / 1024));
	else if (bytes % 1024 == 0)
		snprintf(buf, len, "%lluk", (unsigned long long)(bytes / 1024));
	else
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	return buf;
}

static void
put_duration(FILE *fp, const char *key, uint64_t ms)
{
	char v[MSH_DURATION_STRLEN];

	fprintf(fp, "%s = %s\n", key, msh_format_duration(ms, v, sizeof(v)));
}

/* The keys of a listener of service s's sidecar that its protocol uses,
 * with s's settings, in buf: the same for each of its dependencies of a
 * protocol, so formatted once for them. */
static const char *
listener_keys(const struct mc_mesh *m, const struct mc_service *s,
    enum mc_protocol protocol, int forwarded_for, char *buf, size_t len)
{
	char c[MSH_DURATION_STRLEN], k[MSH_DURATION_STRLEN], h[32], b[32];

	if (protocol == MC_TCP) {
		snprintf(buf, len, "idle_timeout = %s\n\n",
		    msh_format_duration(s->idle_timeout, c, sizeof(c)));
		return buf;
	}
	snprintf(buf, len, "client_timeout = %s\nkeepalive_timeout = %s\n"
	    "max_header_size = %s\nmax_headers = %u\nbuffer_size = %s\n"
	    "forwarded_for = %s\nvia = %s\n\n",
	    msh_format_duration(s->client_timeout, c, sizeof(c)),
	    msh_format_duration(s->keepalive_timeout, k, sizeof(k)),
	    mc_format_size(h, sizeof(h), s->max_header_size), s->max_headers,
	    mc_format_size(b, sizeof(b), s->buffer_size),
	    forwarded_for ? "on" : "off", m->via ? "on" : "off");
	return buf;
}

/* The listener keys of s's inbound listener and its edges. */
static void
put_inbound_keys(FILE *fp, const struct mc_mesh *m,
    const struct mc_service *s)
{
	char keys[512];

	fputs(listener_keys(m, s, s->protocol, s->forwarded_for, keys,
	    sizeof(keys)), fp);
}

/* The local application's cluster: the service's own timeouts. Its
 * other policy keys are for its callers' clusters. */
static void
put_local_timeouts(FILE *fp, const struct mc_service *s)
{
	put_duration(fp, "connect_timeout", s->eff.connect_timeout);
	put_duration(fp, "response_timeout", s->eff.response_timeout);
	if (s->eff.request_timeout == 0)
		fputs("request_timeout = off\n", fp);
	else
		put_duration(fp, "request_timeout", s->eff.request_timeout);
}

/*
 * What compiled files share, formatted once: the source's digest, and
 * for each service the policy keys of its callers' clusters for it and
 * its routes, which every caller writes the same, one file after another.
 */
struct emit {
	const struct mc_mesh	 *m;
	char			  digest[65];	/* the source's sha256, hex */
	/* By index in m->services, each made for its first caller. */
	char			**policy;
	char			**routes;
};

_Static_assert(sizeof(((struct emit *)0)->digest) ==
    2 * sizeof(((struct mc_mesh *)0)->digest) + 1,
    "digest: two hex digits a byte and a NUL");

typedef void	put_fn(FILE *, struct emit *, const struct mc_service *);

/* What put writes for service s, from the cache or, the first time,
 * into it. */
static void
put_cached(FILE *fp, struct emit *e, char **cache, put_fn *put,
    const struct mc_service *s)
{
	ssize_t k = mc_service_index(e->m, s->name);
	size_t len;
	FILE *mem;

	if (cache[k] == NULL) {
		if ((mem = open_memstream(&cache[k], &len)) == NULL) {
			perror("meshc");
			exit(2);
		}
		put(mem, e, s);
		if (fclose(mem) != 0) {
			perror("meshc");
			exit(2);
		}
	}
	fputs(cache[k], fp);
}

/* A caller's cluster for service to (inbound 0): every policy key, as
 * resolved, so that the file says all a sidecar does (and meshd's
 * defaults, should they change, do not change it). Or the service's own
 * inbound listener (inbound 1): the keys it takes. */
static void
put_policy_keys(FILE *fp, const struct mc_service *to, int inbound)
{
	char v[MC_POLICY_VALUE_STRLEN];
	size_t i;

	for (i = 0; i < mc_npolicy_keys; i++)
		if (mc_policy_keys[i].inbound == inbound &&
		    mc_policy_value(to, &mc_policy_keys[i], v, sizeof(v)) !=
		    NULL)	/* an empty retry_on: no trailing blank */
			fprintf(fp, "%s =%s%s\n", mc_policy_keys[i].key,
			    v[0] != '\0' ? " " : "", v);
}

static void
put_callers_policy(FILE *fp, struct emit *e, const struct mc_service *to)
{
	put_policy_keys(fp, to, 0);
}

static void
put_policy(FILE *fp, struct emit *e, const struct mc_service *to)
{
	put_cached(fp, e, e->policy, put_callers_policy, to);
}

static void
put_lines(FILE *fp, const char *key, const struct mc_refs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		fprintf(fp, "%s = %s\n", key, r->v[i].name);
}

/* Does any route to dep send or mirror to its subset name? */
static int
subset_used(const struct mc_service *dep, const char *name)
{
	size_t i;

	for (i = 0; i < dep->nroutes; i++) {
		const struct mc_route *r = dep->routes[i];

		if (mc_route_sends_to(r, name) ||
		    (r->mirror != NULL && strcmp(r->mirror, name) == 0))
			return 1;
	}
	return 0;
}

/* A route's faults and rate limit, the keys it sets. */
static void
put_route_limits(FILE *fp, const struct mc_route *r)
{
	char v[MSH_DURATION_STRLEN];

	if (r->fault_delay_at.line)
		fprintf(fp, "fault_delay = %s\n", r->fault_delay ?
		    msh_format_duration(r->fault_delay, v, sizeof(v)) : "off");
	if (r->fault_delay_percent_at.line)
		fprintf(fp, "fault_delay_percent = %s\n", msh_format_percent(
		    r->fault_delay_percent, v, sizeof(v)));
	if (r->fault_abort_at.line && r->fault_abort == 0)
		fputs("fault_abort = off\n", fp);
	else if (r->fault_abort_at.line)
		fprintf(fp, "fault_abort = %u\n", r->fault_abort);
	if (r->fault_abort_percent_at.line)
		fprintf(fp, "fault_abort_percent = %s\n", msh_format_percent(
		    r->fault_abort_percent, v, sizeof(v)));
	if (r->rate_limit_at.line)
		fprintf(fp, "rate_limit = %s\n", msh_format_rate(&r->rate_limit,
		    v, sizeof(v)));
	if (r->rate_limit_burst_at.line)
		fprintf(fp, "rate_limit_burst = %u\n", r->rate_limit_burst);
}

/* The routes of calls to dep on dep's outbound listener, in the mesh's
 * order. */
static void
put_route_sections(FILE *fp, struct emit *e, const struct mc_service *dep)
{
	const struct mc_mesh *m = e->m;
	const char *p;
	char v[256];
	size_t i, n, k;

	for (i = 0; i < dep->nroutes; i++) {
		const struct mc_route *r = dep->routes[i];

		fprintf(fp, "\n[route %s]\nlistener = %s\n", r->name,
		    dep->name);
		if (r->path != NULL)
			fprintf(fp, "path = %s\n", r->path);
		if (r->path_exact != NULL)
			fprintf(fp, "path_exact = %s\n", r->path_exact);
		if (r->path_regex != NULL)
			fprintf(fp, "path_regex = %s\n", r->path_regex);
		if (r->method != NULL)
			fprintf(fp, "method = %s\n", r->method);
		put_lines(fp, "header", &r->header);
		put_lines(fp, "header_regex", &r->header_regex);
		put_lines(fp, "header_present", &r->header_present);
		put_lines(fp, "header_absent", &r->header_absent);
		if (r->to != NULL)
			fprintf(fp, "cluster = %s__%s\n", dep->name, r->to);
		else if (r->split == NULL && r->direct_response == NULL &&
		    r->redirect == NULL)
			fprintf(fp, "cluster = %s\n", dep->name);
		if (r->split != NULL) {
			/* Subsets become their clusters, weights stay. */
			fputs("split =", fp);
			for (p = r->split, k = 0; *p != '\0'; p += n, k++) {
				p += strspn(p, ", \t");
				if ((n = strcspn(p, ", \t")) == 0)
					break;
				if (k % 2 == 0)
					fprintf(fp, "%s %s__%.*s", k ? "," : "",
					    dep->name, (int)n, p);
				else
					fprintf(fp, " %.*s", (int)n, p);
			}
			fputc('\n', fp);
		}
		if (r->direct_response != NULL)
			fprintf(fp, "direct_response = %s\n", r->direct_response);
		if (r->redirect != NULL)
			fprintf(fp, "redirect = %s\n", r->redirect);
		/* A subset's cluster, or that of a service (emit_service). */
		if (r->mirror != NULL && mc_mirror_service(m, r) != NULL)
			fprintf(fp, "mirror = %s\n", r->mirror);
		else if (r->mirror != NULL)
			fprintf(fp, "mirror = %s__%s\n", dep->name, r->mirror);
		if (r->mirror_percent_at.line)
			fprintf(fp, "mirror_percent = %u\n", r->mirror_percent);
		if (r->rewrite_prefix != NULL)
			fprintf(fp, "rewrite_prefix = %s\n", r->rewrite_prefix);
		put_lines(fp, "add_header", &r->add_header);
		put_lines(fp, "remove_header", &r->remove_header);
		if (r->retries_at.line)
			fprintf(fp, "retries = %u\n", r->retries);
		if (r->retry_on_at.line)
			fprintf(fp, "retry_on = %s\n", msh_format_retry_on(
			    &r->retry_on, v, sizeof(v)));
		if (r->per_try_timeout_at.line)
			fprintf(fp, "per_try_timeout = %s\n",
			    r->per_try_timeout ? msh_format_duration(
			    r->per_try_timeout, v, sizeof(v)) : "off");
		if (r->request_timeout_at.line)
			fprintf(fp, "request_timeout = %s\n",
			    r->request_timeout ? msh_format_duration(
			    r->request_timeout, v, sizeof(v)) : "off");
		if (r->retry_non_idempotent_at.line)
			fprintf(fp, "retry_non_idempotent = %s\n",
			    r->retry_non_idempotent ? "on" : "off");
		put_route_limits(fp, r);
	}
}

/*
 * A caller's routes for its calls to dep: a cluster per subset the routes
 * use (DEP__SUBSET, its instances with those labels, dep's policies), and
 * the routes.
 */
static void
put_routes(FILE *fp, struct emit *e, const struct mc_service *dep)
{
	char name[256], id[512];
	const char *labels;
	size_t i;

	for (i = 0; i < dep->subset.n; i++) {
		labels = mc_subset_labels(dep->subset.v[i].name, name,
		    sizeof(name));
		if (!subset_used(dep, name))
			continue;
		fprintf(fp, "\n[cluster %s__%s]\nservice = %s\nlabels = %s\n",
		    dep->name, name, dep->name, labels);
		if (dep->mtls != MC_MTLS_OFF) {
			mc_identity(e->m, dep->name, id, sizeof(id));
			fprintf(fp, "tls = on\ntls_peer = %s\n", id);
		}
		put_policy(fp, e, dep);
	}
	put_cached(fp, e, e->routes, put_route_sections, dep);
}

/* Has s an edge that speaks TLS? */
static int
tls_edge(const struct mc_service *s)
{
	size_t i;

	for (i = 0; i < s->nedges; i++)
		if (s->edges[i]->tls_cert != NULL)
			return 1;
	return 0;
}

/* Its callers' rules, on its inbound listener and its edges, one
 * listener and one identity a line (meshd's lines are short). */
static void
put_rules(FILE *fp, const struct mc_mesh *m, const struct mc_service *s)
{
	const char *keys[] = { "path", "path_exact", "path_regex", "method",
	    "source" };
	char id[512];
	size_t i, j;

	for (i = 0; i < s->nrules; i++) {
		const struct mc_rule *r = s->rules[i];
		const char *vals[] = { r->path, r->path_exact, r->path_regex,
		    r->method, r->source };

		fprintf(fp, "\n[rule %s]\nlistener = inbound\n", r->name);
		for (j = 0; j < s->nedges; j++)
			fprintf(fp, "listener = %s\n", s->edges[j]->name);
		fprintf(fp, "action = %s\n", r->allow ? "allow" : "deny");
		for (j = 0; j < r->callers.n; j++) {
			mc_identity(m, r->callers.v[j].name, id, sizeof(id));
			fprintf(fp, "identity = %s\n", id);
		}
		for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			if (vals[j] != NULL)
				fprintf(fp, "%s = %s\n", keys[j], vals[j]);
	}
}

const char *
mc_edge_path(const struct mc_mesh *m, const char *path, char *buf,
    size_t len)
{
	if (path[0] == '/')
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s/%s", mc_tls_dir(m), path);
	return buf;
}

const char *
mc_sni_line(const struct mc_mesh *m, const struct mc_sni *sni, char *buf,
    size_t len)
{
	char cert[4096], key[4096];

	snprintf(buf, len, "%s %s %s", sni->host,
	    mc_edge_path(m, sni->cert, cert, sizeof(cert)),
	    mc_edge_path(m, sni->key, key, sizeof(key)));
	return buf;
}

/* An edge of s: a listener to its application, as the inbound one, with
 * its own address and, for TLS, certificates. */
static void
put_edge(FILE *fp, const struct mc_mesh *m, const struct mc_service *s,
    const struct mc_edge *e)
{
	char addr[MSH_ADDR_STRLEN], path[4096], line[3 * 4096 + 2];
	struct msh_addr a = e->address;
	struct mc_sni sni;
	size_t i;

	msh_addr_set_port(&a, e->port);
	msh_addr_format(&a, addr, sizeof(addr));
	fprintf(fp, "[listener %s]\naddress = %s\nprotocol = %s\n"
	    "cluster = local\n", e->name, addr, protocol_name(s->protocol));
	if (e->tls_cert != NULL) {
		fprintf(fp, "tls = edge\ntls_cert = %s\n",
		    mc_edge_path(m, e->tls_cert, path, sizeof(path)));
		fprintf(fp, "tls_key = %s\n",
		    mc_edge_path(m, e->tls_key, path, sizeof(path)));
	}
	/* mc_check took every one. */
	for (i = 0; i < e->tls_sni.n; i++)
		if (mc_parse_sni(e->tls_sni.v[i].name, &sni) == 0)
			fprintf(fp, "tls_sni = %s\n",
			    mc_sni_line(m, &sni, line, sizeof(line)));
	put_inbound_keys(fp, m, s);
}

/* A caller's cluster for service to: its instances, mTLS, its policy. */
static void
put_cluster(FILE *fp, struct emit *e, const struct mc_service *to)
{
	char id[512];

	fprintf(fp, "\n[cluster %s]\nservice = %s\n", to->name, to->name);
	if (to->mtls != MC_MTLS_OFF) {
		mc_identity(e->m, to->name, id, sizeof(id));
		fprintf(fp, "tls = on\ntls_peer = %s\n", id);
	}
	put_policy(fp, e, to);
}

static void
emit_service(FILE *fp, struct emit *e, const struct mc_service *s)
{
	const struct mc_mesh *m = e->m;
	const struct mc_service **mirrored;
	char addr[MSH_ADDR_STRLEN], out[2][512];
	struct msh_addr app = s->app_address;
	size_t i, n;

	fprintf(fp, "; meshd.conf for service \"%s\", generated by meshc "
	    PACKAGE_VERSION " from %s\n", s->name, base_name(m->files[0]));
	fprintf(fp, "; source sha256 %s; do not edit: change the mesh and "
	    "recompile\n\n", e->digest);

	fprintf(fp, "[meshd]\nservice = %s\nregistry = %s\nworkers = %u\n"
	    "admin = 127.0.0.1:%u\n", s->name, m->registry, m->workers,
	    m->admin_port);
	put_duration(fp, "drain_timeout", m->drain_timeout);
	if (m->log_dir != NULL)
		fprintf(fp, "log = %s/%s.log\n", m->log_dir, s->name);
	if (mc_needs_tls(m, s))
		fprintf(fp, "tls_cert = %s/%s.crt\ntls_key = %s/%s.key\n"
		    "tls_ca = %s/ca.crt\n", mc_tls_dir(m), s->name,
		    mc_tls_dir(m), s->name, mc_tls_dir(m));
	/* Every TLS context of the sidecar goes by them, its edges' too. */
	if (mc_needs_tls(m, s) || tls_edge(s)) {
		if (m->tls_ciphers != NULL)
			fprintf(fp, "tls_ciphers = %s\n", m->tls_ciphers);
		if (m->tls_groups != NULL)
			fprintf(fp, "tls_groups = %s\n", m->tls_groups);
	}
	fputc('\n', fp);

	fprintf(fp, "[listener inbound]\naddress = 0.0.0.0:%u\nprotocol = %s\n"
	    "cluster = local\n", s->inbound_port, protocol_name(s->protocol));
	if (s->mtls != MC_MTLS_OFF)
		fprintf(fp, "tls = %s\n", s->mtls == MC_MTLS_STRICT ? "strict" :
		    "permissive");
	put_policy_keys(fp, s, 1);
	put_inbound_keys(fp, m, s);
	for (i = 0; i < s->nedges; i++)
		put_edge(fp, m, s, s->edges[i]);
	/* Its outbound listeners, by the protocol of each. */
	listener_keys(m, s, MC_HTTP, 0, out[MC_HTTP], sizeof(out[0]));
	listener_keys(m, s, MC_TCP, 0, out[MC_TCP], sizeof(out[0]));
	/* mc_check left each dependency once, all of them known. */
	for (i = 0; i < s->ndeps; i++) {
		const struct mc_service *dep = mc_find_service(m, s->deps[i].name);

		fprintf(fp, "[listener %s]\naddress = 127.0.0.1:%u\n"
		    "protocol = %s\ncluster = %s\n", dep->name,
		    dep->local_port, protocol_name(dep->protocol), dep->name);
		fputs(out[dep->protocol], fp);
	}

	msh_addr_set_port(&app, s->app_port);
	msh_addr_format(&app, addr, sizeof(addr));
	fprintf(fp, "[cluster local]\nendpoint = %s\nlb = round_robin\n", addr);
	put_local_timeouts(fp, s);
	for (i = 0; i < s->ndeps; i++)
		put_cluster(fp, e, mc_find_service(m, s->deps[i].name));
	/* Services the routes mirror to that s does not call itself. */
	mirrored = mc_mirror_services(m, s, &n);
	for (i = 0; i < n; i++)
		if (!mc_depends_on(s, mirrored[i]->name))
			put_cluster(fp, e, mirrored[i]);
	free(mirrored);
	for (i = 0; i < s->ndeps; i++)
		put_routes(fp, e, mc_find_service(m, s->deps[i].name));
	put_rules(fp, m, s);
}

const char *
mc_tls_dir(const struct mc_mesh *m)
{
	return m->tls_dir != NULL ? m->tls_dir : "certs";
}

void
mc_identity(const struct mc_mesh *m, const char *service, char *buf,
    size_t len)
{
	snprintf(buf, len, "spiffe://%s/service/%s", m->trust_domain != NULL ?
	    m->trust_domain : m->name, service);
}

int
mc_needs_tls(const struct mc_mesh *m, const struct mc_service *s)
{
	const struct mc_service **mirrored;
	size_t i, n;
	int tls = s->mtls != MC_MTLS_OFF;

	for (i = 0; i < s->ndeps && !tls; i++)
		tls = mc_find_service(m, s->deps[i].name)->mtls != MC_MTLS_OFF;
	if (tls)
		return 1;
	mirrored = mc_mirror_services(m, s, &n);
	for (i = 0; i < n && !tls; i++)
		tls = mirrored[i]->mtls != MC_MTLS_OFF;
	free(mirrored);
	return tls;
}

/*
 * DIR/<service>.conf: the path s's file goes to, in buf, and returns buf.
 */
static const char *
service_path(const struct mc_service *s, const char *dir, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s/%s.conf", dir, s->name);
	return buf;
}

/* s's file, whole, in a temp file beside where it goes: its name (free
 * it), or NULL, reported. */
static char *
write_temp(struct emit *e, const struct mc_service *s,
    const char *dir, struct msh_diag *d)
{
	char path[4096], *tmp;
	FILE *fp = NULL;
	int fd;

	service_path(s, dir, path, sizeof(path));
	if ((tmp = malloc(strlen(path) + sizeof(".XXXXXX"))) == NULL) {
		perror("meshc");
		exit(2);
	}
	sprintf(tmp, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0 || (fp = fdopen(fd, "w")) == NULL)
		goto fail;
	emit_service(fp, e, s);
	if (fflush(fp) != 0 || ferror(fp) || fchmod(fd, 0644) != 0)
		goto fail;
	fd = -1;
	if (fclose(fp) != 0) {
		fp = NULL;
		goto fail;
	}
	return tmp;
fail:
	msh_diag_error(d, "io", path, 0, "cannot write: %s", strerror(errno));
	if (fp != NULL)
		fclose(fp);
	else if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return NULL;
}

/*
 * Every file is written to a temp file, then all of them reach the disk
 * in one syncfs(2) (a sync per file made a mesh of 10,000 services wait
 * about 8 s for the disk), and only then are they renamed into place:
 * a meshd never reads a partial file, even after a crash. A file that
 * cannot be written leaves every old one in place.
 */
int
mc_emit(const struct mc_mesh *m, const char *dir, struct msh_diag *d)
{
	struct emit e = { .m = m };
	char path[4096], **tmp;
	size_t i;
	int r = 0, dfd;

	/* One level, as mkdir(1) without -p: a mistyped parent still fails. */
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		msh_diag_error(d, "io", dir, 0, "cannot create directory: %s",
		    strerror(errno));
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		msh_diag_error(d, "io", dir, 0, "cannot open directory: %s",
		    strerror(errno));
		return -1;
	}
	if ((tmp = calloc(m->nservices + 1, sizeof(*tmp))) == NULL ||
	    (e.policy = calloc(m->nservices + 1, sizeof(*e.policy))) == NULL ||
	    (e.routes = calloc(m->nservices + 1, sizeof(*e.routes))) == NULL) {
		perror("meshc");
		exit(2);
	}
	for (i = 0; i < sizeof(m->digest); i++)
		snprintf(e.digest + 2 * i, 3, "%02x", m->digest[i]);
	for (i = 0; i < m->nservices; i++)
		if ((tmp[i] = write_temp(&e, m->services[i], dir, d)) == NULL)
			r = -1;
	for (i = 0; i < m->nservices; i++) {
		free(e.policy[i]);
		free(e.routes[i]);
	}
	free(e.policy);
	free(e.routes);
	if (r == 0 && syncfs(dfd) != 0) {
		msh_diag_error(d, "io", dir, 0, "cannot write: %s",
		    strerror(errno));
		r = -1;
	}
	for (i = 0; i < m->nservices; i++) {
		if (tmp[i] == NULL)
			continue;
		service_path(m->services[i], dir, path, sizeof(path));
		if (r != 0)
			unlink(tmp[i]);
		else if (rename(tmp[i], path) != 0) {
			msh_diag_error(d, "io", path, 0, "cannot write: %s",
			    strerror(errno));
			unlink(tmp[i]);
			r = -1;
		}
		free(tmp[i]);
	}
	free(tmp);
	/* The renames themselves. */
	if (r == 0 && fsync(dfd) != 0) {
		msh_diag_error(d, "io", dir, 0, "cannot write: %s",
		    strerror(errno));
		r = -1;
	}
	close(dfd);
	return r;
}
