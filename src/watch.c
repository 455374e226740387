#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "watch.h"

/* What replaces or rewrites a file; a create alone is not a new version
 * yet (the writer is still writing), its close is. */
#define WATCH_MASK \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)

struct msh_watch {
	int		 fd;
	char		*path;
	char		*name;		/* in its directory */
	struct event	*ev;
	struct event	*settle;
	struct timeval	 delay;
	int		 rename_now;	/* a rename needs no settling */
	msh_watch_cb	*cb;
	void		*arg;
};

static void
on_settled(evutil_socket_t fd, short what, void *arg)
{
	struct msh_watch *w = arg;

	w->cb(w->arg);
}

static void
on_events(evutil_socket_t fd, short what, void *arg)
{
	struct msh_watch *w = arg;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct timeval now = { 0, 0 };
	ssize_t n;
	char *p;
	int hit = 0, renamed = 0;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			/* Lost events: look, in case ours was one. */
			if (ev->mask & IN_Q_OVERFLOW)
				hit = 1;
			else if (ev->len > 0 && strcmp(ev->name, w->name) == 0) {
				hit = 1;
				renamed |= (ev->mask & IN_MOVED_TO) != 0;
			}
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		msh_log(MSH_LOG_ERROR, "watching %s: %s", w->path,
		    strerror(errno));
	/* A file renamed over ours is whole: read it now if one file is
	 * all there is to it. Other changes wait to settle. */
	if (renamed && w->rename_now)
		evtimer_add(w->settle, &now);
	else if (hit && !evtimer_pending(w->settle, NULL))
		evtimer_add(w->settle, &w->delay);
}

struct msh_watch *
msh_watch_new(struct event_base *base, const char *path, unsigned settle_ms,
    int rename_now, msh_watch_cb *cb, void *arg, const char **err)
{
	struct msh_watch *w;
	char *copy;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->path = strdup(path)) == NULL ||
	    (copy = strdup(path)) == NULL ||
	    (w->name = strdup(basename(copy))) == NULL)
		abort();
	free(copy);
	if ((copy = strdup(path)) == NULL)
		abort();
	w->cb = cb;
	w->arg = arg;
	w->rename_now = rename_now;
	w->delay.tv_sec = settle_ms / 1000;
	w->delay.tv_usec = (settle_ms % 1000) * 1000;
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
	    inotify_add_watch(w->fd, dirname(copy), WATCH_MASK) < 0) {
		*err = strerror(errno);
		free(copy);
		msh_watch_free(w);
		return NULL;
	}
	free(copy);
	if ((w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_events,
	    w)) == NULL || event_add(w->ev, NULL) != 0 ||
	    (w->settle = evtimer_new(base, on_settled, w)) == NULL)
		abort();
	return w;
}

const char *
msh_watch_path(const struct msh_watch *w)
{
	return w->path;
}

void
msh_watch_free(struct msh_watch *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->settle != NULL)
		event_free(w->settle);
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->name);
	free(w);
}
