/*
 * INI files read with inih, line numbers kept.
 *
 * Debian's inih gives its handler no line numbers, truncates lines past
 * 200 bytes and section names past 49 bytes without a word. Reading
 * through our own line reader fixes all three: it counts lines, refuses an
 * over-long line with an error, checks the syntax of each line so every
 * syntax error of a file is reported (inih reports only the first), and
 * hands inih short section tokens that map back to full names.
 */
#ifndef MSH_INIREAD_H
#define MSH_INIREAD_H

#include <stddef.h>

#include "diag.h"

/* Longest line, without its newline, that inih reads whole. */
#define MSH_INI_MAX_LINE	198

/*
 * Called for each value, in file order, and once with key == NULL and
 * value == NULL at each section header, so empty sections are seen too.
 * A continuation line (indented, after a key) calls again with the same
 * key. section is "" before the first header. Strings live until the
 * handler returns. The handler reports its own errors.
 */
typedef void msh_ini_handler(void *user, const char *section,
    const char *key, const char *value, unsigned line);

/*
 * Parse a file. Syntax errors and over-long lines are reported to d with
 * the file and line, and parsing goes on. Returns -1 if the file cannot be
 * read (reported), else 0; check d for errors.
 */
int	msh_ini_parse_file(const char *path, msh_ini_handler *h, void *user,
	    struct msh_diag *d);

/*
 * Called before a section is parsed, with its name (name_len bytes,
 * trimmed as the handler would get it, not NUL-terminated) and its text:
 * from its header, at the start of a line, to the next such header or
 * the end of the file. line is the header's. Nonzero skips the section:
 * the handler sees none of it. For a reader that knows a section from the
 * file's last reading; a section with another header inside (an indented
 * one) is never offered, so a skipped one holds exactly one section.
 */
typedef int msh_ini_skipper(void *user, const char *name, size_t name_len,
    const char *text, size_t len, unsigned line);

int	msh_ini_parse_file_skipping(const char *path, msh_ini_handler *h,
	    msh_ini_skipper *skip, void *user, struct msh_diag *d);

/* The same for text in memory; name is used in diagnostics. */
int	msh_ini_parse_buffer(const char *name, const char *buf, size_t len,
	    msh_ini_handler *h, void *user, struct msh_diag *d);

/*
 * A header "[kind name]" split: the kind copied into kind (truncated to
 * len), the name returned (after the blanks; "" when there is none).
 */
const char *msh_ini_section_name(const char *section, char *kind, size_t len);

#endif
