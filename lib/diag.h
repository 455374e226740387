/*
 * Diagnostics in the compiler convention editors and CI annotators parse:
 * "FILE:LINE: error: message [code]". Both meshc and meshd report through
 * this, so a broken file reads the same whether the compiler or the daemon
 * saw it. Codes are stable (meshc(1) lists them): tools match on them, not
 * on the wording.
 */
#ifndef MSH_DIAG_H
#define MSH_DIAG_H

enum msh_severity {
	MSH_ERROR,
	MSH_WARNING,
};

/* One diagnostic, in parts and as its line. */
struct msh_diag_msg {
	enum msh_severity	 sev;
	const char		*code;
	const char		*file;		/* NULL: none */
	unsigned		 line;		/* 0: none */
	const char		*message;
	const char		*text;		/* the whole line, no newline */
};

/* Where a diagnostic goes. */
typedef void msh_diag_sink(void *arg, const struct msh_diag_msg *m);

struct msh_diag {
	msh_diag_sink	*sink;		/* NULL: print the line to stderr */
	void		*arg;
	unsigned	 errors;
	unsigned	 warnings;
	int		 werror;	/* warnings count as errors */
};

/* Report at FILE:LINE (line 0 leaves it out) with a stable code. */
void	msh_diag_error(struct msh_diag *d, const char *code, const char *file,
	    unsigned line, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
void	msh_diag_warning(struct msh_diag *d, const char *code,
	    const char *file, unsigned line, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/* Nonzero when the run must fail: any error, or a warning under -Werror. */
int	msh_diag_failed(const struct msh_diag *d);

#endif
