#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static atomic_int log_fd = 2;
static char *log_path;

static const char *const level_names[] = {
	"alert", "error", "warning", "notice", "info",
};

void
msh_log(enum msh_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ meshd[%d]: %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), (int)getpid(),
	    level_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Nothing useful to do if the log itself fails. */
	if (write(atomic_load(&log_fd), line, n) < 0)
		return;
}

static int
open_path(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int
msh_log_open(const char *path)
{
	char *copy;
	int fd;

	if ((fd = open_path(path)) < 0)
		return -1;
	if ((copy = strdup(path)) == NULL) {
		close(fd);
		return -1;
	}
	free(log_path);	/* after the copy: path may be log_path */
	log_path = copy;
	fd = atomic_exchange(&log_fd, fd);
	if (fd > 2)
		close(fd);
	return 0;
}

int
msh_log_reopen(void)
{
	return log_path == NULL ? 0 : msh_log_open(log_path);
}

void
msh_log_diag(void *arg, const struct msh_diag_msg *m)
{
	msh_log(m->sev == MSH_ERROR ? MSH_LOG_ERROR : MSH_LOG_WARNING, "%s",
	    m->text);
}
