/*
 * Worker threads: one NOLOCK event base each, woken by an eventfd. The
 * main thread hands each worker new snapshots and commands through the
 * worker's mailbox; workers never take a lock on the request path.
 */
#ifndef MSH_WORKER_H
#define MSH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event;
struct evbuffer;
struct event_base;
struct evconnlistener;
struct msh_conn;
struct msh_mirror;
struct msh_pool;
struct msh_snapshot;

enum msh_worker_cmd {
	MSH_CMD_NONE,
	MSH_CMD_DRAIN,		/* stop accepting, finish open requests */
	MSH_CMD_STOP,		/* close everything now */
};

TAILQ_HEAD(msh_conn_list, msh_conn);
TAILQ_HEAD(msh_mirror_list, msh_mirror);

struct msh_worker {
	unsigned		  id;
	pthread_t		  thread;
	struct event_base	 *base;
	int			  wake_fd;
	struct event		 *wake_ev;

	/* Written by main, taken by the worker. */
	_Atomic(struct msh_snapshot *) pending;
	atomic_int		  cmd;

	/* Written by the worker, read by main: what it serves. */
	_Atomic uint64_t	  config_generation;
	_Atomic uint64_t	  registry_generation;

	/* The worker's own. */
	struct msh_snapshot	 *snap;
	struct evconnlistener	**listeners;
	size_t			  nlisteners;
	struct msh_pool		 *pool;
	struct evbuffer		 *stage;	/* output being put together: msh_send */
	struct msh_conn_list	  conns;
	struct msh_mirror_list	  mirrors;	/* copies in flight: mirror.h */
	size_t			  nmirrors;
	uint64_t		  rng;		/* msh_random's state */
	size_t			  nconns;
	int			  draining;
	void			(*on_exit)(void);	/* main's callback */
};

/* Start n workers serving s (each takes its own reference). on_exit runs
 * in each worker's thread as it ends. -1 on failure (logged). */
int	msh_workers_start(unsigned n, struct msh_snapshot *s,
	    void (*on_exit)(void));

/* Hand s to every worker (a reference each). */
void	msh_workers_publish(struct msh_snapshot *s);

/* The oldest generations a worker still serves new requests from: a
 * change is in force once these reach it. */
void	msh_workers_serving(uint64_t *config, uint64_t *registry);

void	msh_workers_command(enum msh_worker_cmd cmd);

/* Wait for every worker to end and free them. */
void	msh_workers_join(void);

/* A fast pseudo-random number from *state, never 0 (xorshift64*): for
 * jitter and balancers, not for secrets. */
static inline uint64_t
msh_random_next(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dULL;
}

/* The worker's own: no lock, no cache line shared with another worker.
 * Balancers get at it through struct msh_pick. */
static inline uint64_t
msh_random(struct msh_worker *w)
{
	return msh_random_next(&w->rng);
}

/* A connection ended: the worker may finish draining. */
void	msh_worker_conn_done(struct msh_worker *w);

#endif
