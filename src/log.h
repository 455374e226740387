/*
 * The error log: one line per event, written with a single write(2) so
 * lines from workers do not interleave.
 * "2026-11-22T09:00:00.123Z meshd[PID]: LEVEL: message"
 */
#ifndef MSH_LOG_H
#define MSH_LOG_H

#include "diag.h"

enum msh_log_level {
	MSH_LOG_ALERT,		/* the process cannot go on */
	MSH_LOG_ERROR,
	MSH_LOG_WARNING,
	MSH_LOG_NOTICE,
	MSH_LOG_INFO,
};

void	msh_log(enum msh_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Log to PATH (appending) instead of stderr; -1 with errno on failure. */
int	msh_log_open(const char *path);

/* Reopen the log file after rotation (SIGUSR1). */
int	msh_log_reopen(void);

/* A diag sink that logs each diagnostic as an error or a warning. */
void	msh_log_diag(void *arg, const struct msh_diag_msg *m);

#endif
