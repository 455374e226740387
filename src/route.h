/*
 * Routes: a listener's requests matched, in the order of the file, on
 * path, method and header fields, and what the first match does: send to
 * a cluster or split across several by weight, and a copy to another
 * (mirror.h), rewrite the path prefix, add and remove header fields, or
 * answer itself (a direct response or a redirect). A request no route
 * matches goes to the listener's cluster.
 */
#ifndef MSH_ROUTE_H
#define MSH_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "conf-t.h"
#include "diag.h"
#include "http1-t.h"

struct msh_route;

/* Parse and check r's keys (regexes compiled), naming clusters by their
 * index in conf; problems go to d with file and line. */
void	msh_route_compile(struct msh_conf *conf, struct msh_route_conf *r,
	    struct msh_diag *d);

void	msh_route_free(struct msh_route *r);

/*
 * Rules: who may call what on listeners (one rule may guard several, and
 * is counted on each). The first of a listener's rules
 * that matches a request (or, for tcp, a connection: m is NULL) decides,
 * allow or deny; when a listener has rules and none matches, deny.
 * peer_id is the caller's TLS identity (NULL without TLS).
 */
void	msh_rule_compile(struct msh_conf *conf, struct msh_rule_conf *r,
	    struct msh_diag *d);
void	msh_rule_free(struct msh_rule *r);

/* Is r, compiled, one of listener's rules? */
int	msh_rule_on(const struct msh_rule_conf *r, const char *listener);
int	msh_rule_match(const struct msh_rule_conf *r,
	    const struct msh_http_msg *m, const char *peer_id,
	    const struct msh_addr *peer);

/* The path of m's target (origin or absolute form), without the query;
 * *len 0 if it has none. */
const char *msh_route_path(const struct msh_http_msg *m, size_t *len);

/* Does the request m match r? */
int	msh_route_match(const struct msh_route *r, const struct msh_http_msg *m);

/* The index of the cluster a matched request goes to; rnd is a random
 * number for a split. -1: r answers itself (msh_route_answer). */
int	msh_route_cluster(const struct msh_route *r, uint64_t rnd);

/* The index of the cluster r mirrors to, and the percentage of the
 * requests it copies; -1 if it mirrors none. */
int	msh_route_mirror(const struct msh_route *r, unsigned *percent);

/* r's own answer: status, and the Location (redirect) or body. */
unsigned msh_route_answer(const struct msh_route *r, const char **location,
	    const char **body);

/* The path prefix r replaces, and with what; NULL if it rewrites none. */
const char *msh_route_rewrite(const struct msh_route *r, size_t *from_len);

/* Field lines r adds to a request ("Name: value\r\n"...), and whether
 * it removes a field of that name. */
const char *msh_route_added(const struct msh_route *r, size_t *len);
int	msh_route_removes(const struct msh_route *r, const char *name,
	    size_t len);

#endif
