#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

const char *const msh_error_causes[MSH_C_COUNT - MSH_C_ERR_FIRST] = {
	"bad_request", "bad_body", "uri_too_long", "header_too_large",
	"unknown_coding", "bad_version", "client_timeout", "no_endpoint",
	"connect_failed", "connect_timeout", "bad_response", "upstream_closed",
	"response_timeout", "request_timeout", "overload", "forbidden",
	"rate_limited", "fault_abort",
};

const char *const msh_check_results[MSH_CHECK_RESULTS] = {
	"ok", "bad_status", "connect_failed", "timeout", "bad_response",
};

static struct msh_stats *all, **tail = &all;
static unsigned nlines;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void
msh_stats_init(unsigned nworkers)
{
	nlines = nworkers;
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

struct msh_stats *
msh_stats_get(enum msh_stats_kind kind, const char *name, const char *endpoint)
{
	struct msh_stats *s;

	pthread_mutex_lock(&lock);
	for (s = all; s != NULL; s = s->next)
		if (s->kind == kind && same(s->name, name) &&
		    same(s->endpoint, endpoint))
			goto out;
	/* Aligned as rate_tat wants, which calloc does not promise. */
	if ((s = aligned_alloc(64, sizeof(*s))) == NULL)
		abort();
	memset(s, 0, sizeof(*s));
	if ((s->name = strdup(name)) == NULL ||
	    (endpoint != NULL && (s->endpoint = strdup(endpoint)) == NULL) ||
	    (s->lines = aligned_alloc(64, nlines * sizeof(*s->lines))) == NULL)
		abort();
	memset(s->lines, 0, nlines * sizeof(*s->lines));
	s->kind = kind;
	*tail = s;
	tail = &s->next;
out:
	pthread_mutex_unlock(&lock);
	return s;
}

struct msh_stats *
msh_stats_all(void)
{
	return all;
}

uint64_t
msh_stats_sum(const struct msh_stats *s, enum msh_counter c)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < nlines; i++)
		sum += atomic_load_explicit(&s->lines[i].c[c],
		    memory_order_relaxed);
	return sum;
}

uint64_t
msh_stats_active_sum(const struct msh_stats *s)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < nlines; i++)
		sum += atomic_load_explicit(&s->lines[i].active,
		    memory_order_relaxed);
	return sum;
}

void
msh_stats_free_all(void)
{
	struct msh_stats *s, *next;

	for (s = all; s != NULL; s = next) {
		next = s->next;
		free(s->lines);
		free(s->name);
		free(s->endpoint);
		free(s);
	}
	all = NULL;
	tail = &all;
}
