/*
 * Watching one file for a new version, with inotify on its directory: a
 * rename onto the file, a write that is closed, a delete then a create
 * all show there, where a watch on the file's own inode would end with
 * the first rename that replaces it.
 */
#ifndef MSH_WATCH_H
#define MSH_WATCH_H

struct event_base;
struct msh_watch;

typedef void msh_watch_cb(void *arg);

/*
 * Call cb(arg) settle_ms after the first change to path seen since the
 * last call, so that a burst of changes is read once; with rename_now, at
 * once when a file is renamed over path (whole, it needs no settling).
 * NULL with *err set if the directory cannot be watched.
 */
struct msh_watch *msh_watch_new(struct event_base *base, const char *path,
	    unsigned settle_ms, int rename_now, msh_watch_cb *cb, void *arg,
	    const char **err);

const char	*msh_watch_path(const struct msh_watch *w);

void	msh_watch_free(struct msh_watch *w);

#endif
