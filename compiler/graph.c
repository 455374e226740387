/*
 * meshc graph: the service graph of a checked mesh, in Graphviz DOT or, through
 * dot(1), in SVG. A node per service, labelled with its protocol, port and
 * the rate limit its own sidecar applies, if any; an edge per declared
 * dependency, labelled with the timeouts and, briefly, the rest of the
 * policy the caller's sidecar applies on that hop, and a dashed one to
 * each service its sidecar mirrors copies of calls to (a route's mirror);
 * and where clients outside the mesh come in, the mesh's [edge] listeners.
 * It only reads the model: what mc_check resolved is what it shows.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesh.h"

extern char **environ;

/* s inside a DOT quoted string. Only '"' is an escape in an ID, but a
 * label reads '\' as one too (\n, \N), so both are escaped everywhere. */
static void
put_escaped(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

static void
put_id(FILE *fp, const char *s)
{
	fputc('"', fp);
	put_escaped(fp, s);
	fputc('"', fp);
}

static int
by_name(const void *a, const void *b)
{
	const struct mc_service *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int
name_cmp(const void *key, const void *elem)
{
	const struct mc_service *const *s = elem;

	return strcmp(key, (*s)->name);
}

/* An edge label being written: lines of parts, ", " between parts. */
struct label {
	FILE	*fp;
	int	 parts;		/* on the line being written */
	int	 broken;	/* the next part starts a line */
};

static void
put_part(struct label *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put_part(struct label *l, const char *fmt, ...)
{
	va_list ap;

	/* DOT reads \n in a label as a line break. */
	if (l->broken)
		fputs("\\n", l->fp);
	else if (l->parts > 0)
		fputs(", ", l->fp);
	l->broken = 0;
	l->parts++;
	va_start(ap, fmt);
	vfprintf(l->fp, fmt, ap);
	va_end(ap);
}

/* The next part, if any, starts a line, unless this one has none. */
static void
end_line(struct label *l)
{
	if (l->parts > 0)
		l->broken = 1;
	l->parts = 0;
}

/*
 * The label of the edge from a caller to a dependency: what the caller's
 * compiled cluster and outbound listener for it hold (see emit.c), as far
 * as meshd applies it to that protocol, a line for each concern.
 *
 * The timeouts: to HTTP, the dependency's connect, response and request
 * timeouts (request only when not off); to TCP, its connect timeout and
 * the caller's own idle_timeout, as meshd has no response or request
 * timeout for tunnels.
 *
 * Then, briefly, the rest of its policy, where meshd applies it: HTTP
 * retries with the per-try timeout and a balancer other than round_robin;
 * the circuit breaker's limits that are set (HTTP only); outlier ejection
 * and active health checks if on. meshc explain has every key.
 */
static void
put_edge_label(FILE *fp, const struct mc_service *from,
    const struct mc_service *to)
{
	static const struct {
		const char	*key;
		size_t		 offset;
	} limits[] = {
		{ "max_requests", offsetof(struct mc_policy_set, max_requests) },
		{ "max_connections",
		    offsetof(struct mc_policy_set, max_connections) },
		{ "max_pending", offsetof(struct mc_policy_set, max_pending) },
		{ "max_retries", offsetof(struct mc_policy_set, max_retries) },
	};
	const struct mc_policy_set *p = &to->eff;
	struct label l = { fp, 0, 0 };
	char t[MSH_DURATION_STRLEN];
	int http = to->protocol == MC_HTTP;
	size_t i;

	put_part(&l, "connect %s", msh_format_duration(p->connect_timeout, t,
	    sizeof(t)));
	if (!http) {
		put_part(&l, "idle %s", msh_format_duration(from->idle_timeout,
		    t, sizeof(t)));
	} else {
		put_part(&l, "response %s", msh_format_duration(
		    p->response_timeout, t, sizeof(t)));
		if (p->request_timeout != 0)
			put_part(&l, "request %s", msh_format_duration(
			    p->request_timeout, t, sizeof(t)));
	}
	end_line(&l);
	if (http) {
		put_part(&l, "retries %u", p->retries);
		if (p->retries > 0 && p->per_try_timeout != 0)
			put_part(&l, "per try %s", msh_format_duration(
			    p->per_try_timeout, t, sizeof(t)));
	}
	if (p->lb != &mc_lbs[0])
		put_part(&l, "lb %s", p->lb->name);
	end_line(&l);
	for (i = 0; http && i < sizeof(limits) / sizeof(limits[0]); i++) {
		unsigned v = *(const unsigned *)((const char *)p +
		    limits[i].offset);

		if (v != 0)
			put_part(&l, "%s %u", limits[i].key, v);
	}
	end_line(&l);
	if (p->outlier_5xx != 0 && p->outlier_gateway != 0)
		put_part(&l, "eject after %u 5xx or %u gateway errors",
		    p->outlier_5xx, p->outlier_gateway);
	else if (p->outlier_5xx != 0)
		put_part(&l, "eject after %u 5xx", p->outlier_5xx);
	else if (p->outlier_gateway != 0)
		put_part(&l, "eject after %u gateway errors",
		    p->outlier_gateway);
	/* Not the path: the label would need it escaped, and explain has
	 * it. */
	if (p->health_check.kind != MSH_HEALTH_CHECK_OFF)
		put_part(&l, "health check %s every %s",
		    p->health_check.kind == MSH_HEALTH_CHECK_TCP ? "tcp" :
		    "http", msh_format_duration(p->health_interval, t,
		    sizeof(t)));
}

static int
edge_by_name(const void *a, const void *b)
{
	const struct mc_edge *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* The edges, where clients outside the mesh come in: an ellipse each,
 * "edge:NAME" (no service has a ':'), with its port and whether it speaks
 * TLS, and an arrow to its service; in name order. */
static void
put_edges(FILE *fp, const struct mc_mesh *m)
{
	const struct mc_edge **e;
	size_t i;

	if (m->nedges == 0)
		return;
	if ((e = calloc(m->nedges, sizeof(*e))) == NULL) {
		perror("meshc");
		exit(2);
	}
	memcpy(e, m->edges, m->nedges * sizeof(*e));
	qsort(e, m->nedges, sizeof(*e), edge_by_name);
	for (i = 0; i < m->nedges; i++) {
		const struct mc_service *s = mc_find_service(m, e[i]->service);
		int tcp = s->protocol == MC_TCP, tls = e[i]->tls_cert != NULL;

		fputs("\t\"edge:", fp);
		put_escaped(fp, e[i]->name);
		fputs("\" [shape = ellipse, label = \"", fp);
		put_escaped(fp, e[i]->name);
		fprintf(fp, "\\n%s :%u\"];\n", tcp ? (tls ? "tls" : "tcp") :
		    tls ? "https" : "http", e[i]->port);
		fputs("\t\"edge:", fp);
		put_escaped(fp, e[i]->name);
		fputs("\" -> ", fp);
		put_id(fp, s->name);
		fputs(";\n", fp);
	}
	free(e);
}

/* An arrow between services, up to its attributes: \t"FROM" -> "TO" [ */
static void
put_arrow(FILE *fp, const struct mc_service *from, const struct mc_service *to)
{
	fputc('\t', fp);
	put_id(fp, from->name);
	fputs(" -> ", fp);
	put_id(fp, to->name);
	fputs(" [", fp);
}

/* Services in name order (mc_check sorted them), then each service's
 * dependencies in name order, then the services it mirrors to in name
 * order, then the edges in name order: the file's order changes nothing. */
static void
put_dot(FILE *fp, const struct mc_mesh *m)
{
	const struct mc_service **deps = NULL, **mirrored;
	char rate[MSH_RATE_STRLEN];
	size_t i, j, n, cap = 0;

	fputs("digraph ", fp);
	put_id(fp, m->name != NULL ? m->name : "mesh");
	fputs(" {\n\trankdir = LR;\n\tnode [shape = box];\n", fp);
	for (i = 0; i < m->nservices; i++) {
		const struct mc_service *s = m->services[i];

		fputc('\t', fp);
		put_id(fp, s->name);
		fputs(" [label = \"", fp);
		put_escaped(fp, s->name);
		fprintf(fp, "\\n%s :%u", s->protocol == MC_TCP ? "tcp" : "http",
		    s->inbound_port);
		if (s->eff.rate_limit.n != 0)
			fprintf(fp, "\\nrate limit %s, burst %u",
			    msh_format_rate(&s->eff.rate_limit, rate,
			    sizeof(rate)), s->eff.rate_limit_burst);
		fputs("\"];\n", fp);
	}
	for (i = 0; i < m->nservices; i++) {
		const struct mc_service *s = m->services[i];

		if (s->ndeps > cap) {
			cap = s->ndeps;
			if ((deps = realloc(deps, cap * sizeof(*deps))) == NULL) {
				perror("meshc");
				exit(2);
			}
		}
		for (j = n = 0; j < s->ndeps; j++) {
			struct mc_service **to = bsearch(s->deps[j].name,
			    m->services, m->nservices, sizeof(*m->services),
			    name_cmp);

			/* mc_check reported any unknown one. */
			if (to != NULL)
				deps[n++] = *to;
		}
		if (n > 1)
			qsort(deps, n, sizeof(*deps), by_name);
		for (j = 0; j < n; j++) {
			put_arrow(fp, s, deps[j]);
			fputs("label = \"", fp);
			put_edge_label(fp, s, deps[j]);
			fputs("\"];\n", fp);
		}
		mirrored = mc_mirror_services(m, s, &n);
		if (n > 1)
			qsort(mirrored, n, sizeof(*mirrored), by_name);
		for (j = 0; j < n; j++) {
			put_arrow(fp, s, mirrored[j]);
			fputs("style = dashed, label = \"mirror\"];\n", fp);
		}
		free(mirrored);
	}
	put_edges(fp, m);
	fputs("}\n", fp);
	free(deps);
}

int
mc_graph_find_dot(char *buf, size_t len)
{
	const char *path = getenv("PATH"), *p, *end;
	struct stat st;

	/* What execvp searches when PATH is unset. */
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path;; p = end + 1) {
		int n;

		end = strchrnul(p, ':');
		/* An empty entry is the current directory. */
		if (end == p)
			n = snprintf(buf, len, "./dot");
		else
			n = snprintf(buf, len, "%.*s/dot", (int)(end - p), p);
		if (n >= 0 && (size_t)n < len && stat(buf, &st) == 0 &&
		    S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
			return 0;
		if (*end == '\0')
			return -1;
	}
}

/* The DOT through "dot -Tsvg", which writes the SVG to out's fd. */
static int
put_svg(const struct mc_mesh *m, FILE *out, const char *dot,
    struct msh_diag *d)
{
	char *argv[] = { "dot", "-Tsvg", NULL };
	posix_spawn_file_actions_t fa;
	int fds[2], status, err, werr;
	pid_t pid;
	FILE *fp;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		msh_diag_error(d, "io", NULL, 0, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((err = posix_spawn_file_actions_init(&fa)) == 0) {
		/* dup2 clears close-on-exec on dot's stdin and stdout only. */
		if ((err = posix_spawn_file_actions_adddup2(&fa, fds[0], 0)) == 0 &&
		    (err = posix_spawn_file_actions_adddup2(&fa, fileno(out),
		    1)) == 0)
			err = posix_spawn(&pid, dot, &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(fds[0]);
	if (err != 0) {
		msh_diag_error(d, "io", NULL, 0, "cannot run %s: %s", dot,
		    strerror(err));
		close(fds[1]);
		return -1;
	}
	/* Should dot exit early, a write fails with EPIPE instead of
	 * killing meshc, and its exit status says why. */
	signal(SIGPIPE, SIG_IGN);
	werr = 0;
	if ((fp = fdopen(fds[1], "w")) == NULL) {
		werr = errno;
		close(fds[1]);
	} else {
		errno = 0;
		put_dot(fp, m);
		if (fflush(fp) != 0 || ferror(fp))
			werr = errno != 0 ? errno : EIO;
		fclose(fp);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			msh_diag_error(d, "io", NULL, 0, "waitpid: %s",
			    strerror(errno));
			return -1;
		}
	}
	if (WIFSIGNALED(status)) {
		msh_diag_error(d, "io", NULL, 0, "%s -Tsvg was killed by "
		    "signal %d", dot, WTERMSIG(status));
		return -1;
	}
	if (WEXITSTATUS(status) != 0) {
		msh_diag_error(d, "io", NULL, 0, "%s -Tsvg failed (exit "
		    "status %d)", dot, WEXITSTATUS(status));
		return -1;
	}
	if (werr != 0) {
		msh_diag_error(d, "io", NULL, 0, "cannot write to %s: %s", dot,
		    strerror(werr));
		return -1;
	}
	return 0;
}

int
mc_graph(const struct mc_mesh *m, FILE *out, const char *dot,
    struct msh_diag *d)
{
	errno = 0;
	if (dot != NULL) {
		/* Nothing of ours may follow or precede dot's SVG. */
		if (fflush(out) == 0)
			return put_svg(m, out, dot, d);
	} else {
		put_dot(out, m);
		if (fflush(out) == 0 && !ferror(out))
			return 0;
	}
	msh_diag_error(d, "io", NULL, 0, "cannot write the graph: %s",
	    strerror(errno != 0 ? errno : EIO));
	return -1;
}
