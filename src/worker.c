#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "listener.h"
#include "log.h"
#include "mirror.h"
#include "pool.h"
#include "proxy.h"
#include "snapshot.h"
#include "worker.h"

static struct msh_worker *workers;
static unsigned nworkers;
static __thread struct msh_worker *self;

static void
accept_cb(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	msh_proxy_accept(self, arg, fd, sa, salen);
}

static void
accept_error_cb(struct evconnlistener *el, void *arg)
{
	struct msh_listener *l = arg;

	/* EMFILE and friends: this accept fails, the listener goes on. */
	msh_log(MSH_LOG_ERROR, "listener %s: accept: %s", l->conf->name,
	    strerror(errno));
}

static void
close_listeners(struct msh_worker *w)
{
	size_t i;

	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	free(w->listeners);
	w->listeners = NULL;
	w->nlisteners = 0;
}

/* Does s listen on so? */
static int
uses(const struct msh_snapshot *s, const struct msh_sockets *so)
{
	size_t i;

	for (i = 0; i < s->nlisteners; i++)
		if (s->listeners[i].sockets == so)
			return 1;
	return 0;
}

/*
 * Listeners the new snapshot dropped stop listening at once, each worker
 * its own socket: their sockets close only with the old snapshot, when
 * its last connection ends, and meanwhile the kernel would queue
 * connections nobody accepts (and split a re-added address's).
 */
static void
stop_dropped(struct msh_worker *w, const struct msh_snapshot *old,
    const struct msh_snapshot *s)
{
	size_t i;

	for (i = 0; old != NULL && i < old->nlisteners; i++) {
		struct msh_sockets *so = old->listeners[i].sockets;

		if (so != NULL && !uses(s, so))
			shutdown(so->fds[w->id], SHUT_RDWR);
	}
}

/* Serve s from now on. Between freeing the old listeners and adding the
 * new ones, connections wait in the kernel's queue of the sockets both
 * snapshots share: none is refused. */
static void
switch_snapshot(struct msh_worker *w, struct msh_snapshot *s)
{
	struct msh_snapshot *old = w->snap;
	size_t i;

	close_listeners(w);
	w->snap = s;
	atomic_store(&w->config_generation, s->generation);
	atomic_store(&w->registry_generation, s->registry_generation);
	if (!w->draining) {
		w->listeners = calloc(s->nlisteners + 1, sizeof(*w->listeners));
		if (w->listeners == NULL)
			abort();
		for (i = 0; i < s->nlisteners; i++) {
			struct evconnlistener *el;

			el = evconnlistener_new(w->base, accept_cb,
			    &s->listeners[i], 0, 0,
			    s->listeners[i].sockets->fds[w->id]);
			if (el == NULL)
				abort();
			evconnlistener_set_error_cb(el, accept_error_cb);
			w->listeners[w->nlisteners++] = el;
		}
	}
	stop_dropped(w, old, s);
	msh_snapshot_unref(old);
}

static void
start_drain(struct msh_worker *w)
{
	w->draining = 1;
	close_listeners(w);
	msh_proxy_drain(w);
	if (w->nconns == 0)
		event_base_loopbreak(w->base);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msh_worker *w = arg;
	struct msh_snapshot *s;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		msh_log(MSH_LOG_ERROR, "worker %u: eventfd: %s", w->id,
		    strerror(errno));
	if ((s = atomic_exchange(&w->pending, NULL)) != NULL)
		switch_snapshot(w, s);
	switch (atomic_exchange(&w->cmd, MSH_CMD_NONE)) {
	case MSH_CMD_DRAIN:
		if (!w->draining)
			start_drain(w);
		break;
	case MSH_CMD_STOP:
		event_base_loopbreak(w->base);
		break;
	case MSH_CMD_NONE:
		break;
	}
}

void
msh_worker_conn_done(struct msh_worker *w)
{
	w->nconns--;
	if (w->draining && w->nconns == 0)
		event_base_loopbreak(w->base);
}

static void *
worker_main(void *arg)
{
	struct msh_worker *w = arg;
	struct msh_snapshot *s;

	self = w;
	event_base_dispatch(w->base);
	msh_proxy_close_all(w);
	msh_mirror_close_all(w);
	close_listeners(w);
	if ((s = atomic_exchange(&w->pending, NULL)) != NULL)
		msh_snapshot_unref(s);
	msh_snapshot_unref(w->snap);
	w->snap = NULL;
	if (w->on_exit != NULL)
		w->on_exit();
	return NULL;
}

int
msh_workers_start(unsigned n, struct msh_snapshot *s, void (*on_exit)(void))
{
	struct event_config *cfg;
	sigset_t all, saved;
	unsigned i;
	int err;

	if ((workers = calloc(n, sizeof(*workers))) == NULL ||
	    (cfg = event_config_new()) == NULL)
		abort();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	/* Coalesce epoll_ctl calls within a loop turn: a write event added
	 * and dropped again for one response costs no system call. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	nworkers = n;
	for (i = 0; i < n; i++) {
		struct msh_worker *w = &workers[i];

		w->id = i;
		w->rng = ((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid() << 8 ^
		    (i + 1)) | 1;
		w->on_exit = on_exit;
		TAILQ_INIT(&w->conns);
		TAILQ_INIT(&w->mirrors);
		if ((w->base = event_base_new_with_config(cfg)) == NULL ||
		    (w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
		    (w->wake_ev = event_new(w->base, w->wake_fd,
		    EV_READ | EV_PERSIST, wake_cb, w)) == NULL ||
		    event_add(w->wake_ev, NULL) != 0) {
			msh_log(MSH_LOG_ALERT, "worker %u: cannot set up its "
			    "event loop: %s", i, strerror(errno));
			return -1;
		}
		w->pool = msh_pool_new(w->base);
		if ((w->stage = evbuffer_new()) == NULL)
			abort();
		msh_snapshot_ref(s);
		switch_snapshot(w, s);
	}
	event_config_free(cfg);
	/* Signals are the main thread's: workers start with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	for (i = 0; i < n; i++) {
		if ((err = pthread_create(&workers[i].thread, NULL, worker_main,
		    &workers[i])) != 0) {
			msh_log(MSH_LOG_ALERT, "cannot start worker %u: %s", i,
			    strerror(err));
			pthread_sigmask(SIG_SETMASK, &saved, NULL);
			return -1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return 0;
}

static void
wake(struct msh_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		msh_log(MSH_LOG_ERROR, "worker %u: eventfd: %s", w->id,
		    strerror(errno));
}

void
msh_workers_publish(struct msh_snapshot *s)
{
	struct msh_snapshot *old;
	unsigned i;

	for (i = 0; i < nworkers; i++) {
		msh_snapshot_ref(s);
		old = atomic_exchange(&workers[i].pending, s);
		if (old != NULL)
			msh_snapshot_unref(old);
		wake(&workers[i]);
	}
}

void
msh_workers_serving(uint64_t *config, uint64_t *registry)
{
	uint64_t c, r;
	unsigned i;

	*config = *registry = UINT64_MAX;
	for (i = 0; i < nworkers; i++) {
		c = atomic_load(&workers[i].config_generation);
		r = atomic_load(&workers[i].registry_generation);
		*config = c < *config ? c : *config;
		*registry = r < *registry ? r : *registry;
	}
	if (nworkers == 0)
		*config = *registry = 0;
}

void
msh_workers_command(enum msh_worker_cmd cmd)
{
	unsigned i;

	for (i = 0; i < nworkers; i++) {
		atomic_store(&workers[i].cmd, cmd);
		wake(&workers[i]);
	}
}

void
msh_workers_join(void)
{
	unsigned i;

	for (i = 0; i < nworkers; i++)
		pthread_join(workers[i].thread, NULL);
	for (i = 0; i < nworkers; i++) {
		msh_pool_free(workers[i].pool);
		evbuffer_free(workers[i].stage);
		event_free(workers[i].wake_ev);
		close(workers[i].wake_fd);
		event_base_free(workers[i].base);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}
