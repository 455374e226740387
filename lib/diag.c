#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "diag.h"

static void
diag_emit(struct msh_diag *d, enum msh_severity sev, const char *code,
    const char *file, unsigned line, const char *fmt, va_list ap)
{
	char msg[1024], out[1300];
	const char *what = sev == MSH_ERROR ? "error" : "warning";
	struct msh_diag_msg m = { sev, code, file, line, msg, out };

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (file != NULL && line > 0)
		snprintf(out, sizeof(out), "%s:%u: %s: %s [%s]", file, line,
		    what, msg, code);
	else if (file != NULL)
		snprintf(out, sizeof(out), "%s: %s: %s [%s]", file, what, msg,
		    code);
	else
		snprintf(out, sizeof(out), "%s: %s [%s]", what, msg, code);
	if (sev == MSH_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->sink != NULL)
		d->sink(d->arg, &m);
	else
		fprintf(stderr, "%s\n", out);
}

void
msh_diag_error(struct msh_diag *d, const char *code, const char *file,
    unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_emit(d, MSH_ERROR, code, file, line, fmt, ap);
	va_end(ap);
}

void
msh_diag_warning(struct msh_diag *d, const char *code, const char *file,
    unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_emit(d, MSH_WARNING, code, file, line, fmt, ap);
	va_end(ap);
}

int
msh_diag_failed(const struct msh_diag *d)
{
	return d->errors > 0 || (d->werror && d->warnings > 0);
}
