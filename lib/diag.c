#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "diag.h"

static void
diag_emit(struct msh_diag *d, enum msh_severity sev, const char *file,
    unsigned line, const char *fmt, va_list ap)
{
	char msg[1024], out[1200];
	const char *what = sev == MSH_ERROR ? "error" : "warning";

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (file != NULL && line > 0)
		snprintf(out, sizeof(out), "%s:%u: %s: %s", file, line, what, msg);
	else if (file != NULL)
		snprintf(out, sizeof(out), "%s: %s: %s", file, what, msg);
	else
		snprintf(out, sizeof(out), "%s: %s", what, msg);
	if (sev == MSH_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->sink != NULL)
		d->sink(d->arg, sev, out);
	else
		fprintf(stderr, "%s\n", out);
}

void
msh_diag_error(struct msh_diag *d, const char *file, unsigned line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_emit(d, MSH_ERROR, file, line, fmt, ap);
	va_end(ap);
}

void
msh_diag_warning(struct msh_diag *d, const char *file, unsigned line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_emit(d, MSH_WARNING, file, line, fmt, ap);
	va_end(ap);
}

int
msh_diag_failed(const struct msh_diag *d)
{
	return d->errors > 0 || (d->werror && d->warnings > 0);
}
