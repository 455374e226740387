/*
 * Diagnostics in the compiler convention editors and CI annotators parse:
 * "FILE:LINE: error: message". Both meshc and meshd report through this,
 * so a broken file reads the same whether the compiler or the daemon saw it.
 */
#ifndef MSH_DIAG_H
#define MSH_DIAG_H

enum msh_severity {
	MSH_ERROR,
	MSH_WARNING,
};

struct msh_diag;

/* Where a formatted diagnostic line (no trailing newline) goes. */
typedef void msh_diag_sink(void *arg, enum msh_severity sev, const char *line);

struct msh_diag {
	msh_diag_sink	*sink;		/* NULL: print to stderr */
	void		*arg;
	unsigned	 errors;
	unsigned	 warnings;
	int		 werror;	/* warnings count as errors */
};

/* Report at FILE:LINE (line 0 leaves it out). */
void	msh_diag_error(struct msh_diag *d, const char *file, unsigned line,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	msh_diag_warning(struct msh_diag *d, const char *file, unsigned line,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Nonzero when the run must fail: any error, or a warning under -Werror. */
int	msh_diag_failed(const struct msh_diag *d);

#endif
