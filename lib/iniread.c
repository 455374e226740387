#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "iniread.h"

struct ini_ctx {
	const char	 *text, *at, *end;	/* what is left: at to end */
	const char	 *file;
	struct msh_diag	 *diag;
	msh_ini_handler	 *handler;
	msh_ini_skipper	 *skipper;
	void		 *user;
	unsigned	  line;
	char		 *buf;		/* the line, NUL-terminated */
	size_t		  cap;
	size_t		  len;		/* of the line in buf */
	char		 *section;	/* the last header's, NULL: none yet */
	size_t		  section_cap;
	int		  have_key;	/* a continuation line may follow */
	int		  bad_section;	/* after a broken header: skip keys */
};

/* inih's limit on key names (MAX_NAME, including the NUL). */
#define INIH_MAX_NAME	50

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Where inih would see a separator: '=' or ':' before any inline comment. */
static const char *
find_separator(const char *s)
{
	int was_blank = 0;

	for (; *s != '\0'; s++) {
		if (*s == '=' || *s == ':')
			return s;
		if (*s == ';' && was_blank)
			return NULL;
		was_blank = is_blank(*s);
	}
	return NULL;
}

/* End a line at an inline comment: ';' after a blank. */
static void
cut_comment(char *s)
{
	char *p;

	for (p = s + 1; *p != '\0'; p++) {
		if (*p == ';' && is_blank(p[-1])) {
			*p = '\0';
			break;
		}
	}
}

/* Anything after "]" must be blank or a comment. */
static int
only_comment(const char *s)
{
	while (is_blank(*s))
		s++;
	return *s == '\0' || *s == ';' || *s == '#';
}

/*
 * The name in the header "[ name ]" at p (p[0] is '['), looked for up to
 * lim: its first byte, *n long, blanks trimmed; *close is at the ']'.
 * NULL without a ']'.
 */
static const char *
header_name(const char *p, const char *lim, const char **close, size_t *n)
{
	const char *s = p + 1, *e;

	if ((*close = memchr(p, ']', lim - p)) == NULL)
		return NULL;
	for (e = *close; s < e && is_blank(*s); s++)
		;
	while (e > s && is_blank(e[-1]))
		e--;
	*n = e - s;
	return s;
}

static char *
section_line(struct ini_ctx *c, const char *p, char *str, int num)
{
	const char *end, *s;
	size_t n;

	if ((s = header_name(p, p + strlen(p), &end, &n)) == NULL) {
		msh_diag_error(c->diag, "syntax", c->file, c->line,
		    "section header is missing its closing ']'");
		return NULL;
	}
	if (!only_comment(end + 1)) {
		msh_diag_error(c->diag, "syntax", c->file, c->line,
		    "unexpected text after ']'");
		return NULL;
	}
	if (n == 0) {
		msh_diag_error(c->diag, "syntax",
		    c->file, c->line, "empty section name");
		return NULL;
	}
	/* Only the last header's name is ever needed: one buffer. */
	if (n + 1 > c->section_cap) {
		char *grown = realloc(c->section, n + 1);

		if (grown == NULL)
			return NULL;
		c->section = grown;
		c->section_cap = n + 1;
	}
	memcpy(c->section, s, n);
	c->section[n] = '\0';
	/* inih needs a section, any: the handler gets c->section. */
	snprintf(str, num, "[s]");
	c->have_key = 0;
	c->bad_section = 0;
	c->handler(c->user, c->section, NULL, NULL, c->line);
	return str;
}

/* The line as inih gets it (read_line checked it fits). */
static char *
copy_line(const struct ini_ctx *c, char *str)
{
	memcpy(str, c->buf, c->len + 1);
	return str;
}

static char *
key_line(struct ini_ctx *c, const char *p, char *str, int num)
{
	const char *sep = find_separator(p);
	size_t klen;

	if (sep == NULL) {
		msh_diag_error(c->diag, "syntax", c->file, c->line,
		    "expected \"key = value\", \"[section]\" or a comment");
		return NULL;
	}
	klen = sep - p;
	while (klen > 0 && is_blank(p[klen - 1]))
		klen--;
	if (klen == 0) {
		msh_diag_error(c->diag, "syntax", c->file, c->line,
		    "missing key before '%c'", *sep);
		return NULL;
	}
	if (klen >= INIH_MAX_NAME) {
		msh_diag_error(c->diag, "too-long", c->file, c->line,
		    "key is %zu bytes long, at most %d are allowed", klen,
		    INIH_MAX_NAME - 1);
		return NULL;
	}
	c->have_key = 1;
	return copy_line(c, str);
}

/*
 * The section that starts at c->at, a header at the start of a line: its
 * length up to the next one, or 0 if it has a header that does not start
 * its line (which may be a continuation, or not: only the parser says).
 */
static size_t
section_length(const struct ini_ctx *c)
{
	const char *p = c->at + 1, *q;

	while ((p = memchr(p, '[', c->end - p)) != NULL) {
		for (q = p; q > c->at && (q[-1] == ' ' || q[-1] == '\t'); q--)
			;
		if (q[-1] == '\n')
			return q == p ? (size_t)(p - c->at) : 0;
		p++;
	}
	return c->end - c->at;
}

/* Offer the section at c->at to the skipper; 1 if it was skipped. */
static int
skip_section(struct ini_ctx *c)
{
	size_t len = section_length(c), n;
	const char *p, *end = c->at + len, *nl, *close, *name;

	if (len == 0)
		return 0;
	nl = memchr(c->at, '\n', len);
	name = header_name(c->at, nl != NULL ? nl : end, &close, &n);
	if (name == NULL || n == 0 ||
	    !c->skipper(c->user, name, n, c->at, len, c->line + 1))
		return 0;
	for (p = c->at; p < end; c->line++)
		if ((p = memchr(p, '\n', end - p)) == NULL)
			p = end;	/* a last line without its newline */
		else
			p++;
	c->at = end;
	c->have_key = 0;
	c->bad_section = 0;
	return 1;
}

/* inih's fgets: one whole, checked line per call. */
static char *
read_line(char *str, int num, void *stream)
{
	struct ini_ctx *c = stream;
	const char *nl;
	size_t len, n;
	const char *p;
	char *r;

	while (c->skipper != NULL && c->at < c->end && *c->at == '[' &&
	    (c->at == c->text || c->at[-1] == '\n') && skip_section(c))
		;
	if (c->at >= c->end)
		return NULL;
	nl = memchr(c->at, '\n', c->end - c->at);
	n = nl != NULL ? (size_t)(nl - c->at) + 1 : (size_t)(c->end - c->at);
	if (n + 1 > c->cap) {
		c->cap = n + 1 > 256 ? n + 1 : 256;
		if ((c->buf = realloc(c->buf, c->cap)) == NULL)
			abort();
	}
	memcpy(c->buf, c->at, n);
	c->at += n;
	c->line++;
	len = n;
	if (len > 0 && c->buf[len - 1] == '\n')
		len--;
	if (len > 0 && c->buf[len - 1] == '\r')
		len--;
	if (memchr(c->buf, '\0', len) != NULL) {
		msh_diag_error(c->diag, "syntax",
		    c->file, c->line, "NUL byte in line");
		goto skip;
	}
	c->buf[len] = '\0';
	c->len = len;
	if (len > MSH_INI_MAX_LINE || (int)len > num - 2) {
		msh_diag_error(c->diag, "too-long", c->file, c->line,
		    "line is %zu bytes long, at most %d are allowed (split "
		    "lists over repeated keys or continuation lines)", len,
		    MSH_INI_MAX_LINE);
		goto skip;
	}
	/* inih drops a UTF-8 BOM itself, but only once it has the line. */
	if (c->line == 1 && len >= 3 && memcmp(c->buf, "\xef\xbb\xbf", 3) == 0)
		memmove(c->buf, c->buf + 3, (c->len -= 3) + 1);
	for (p = c->buf; is_blank(*p); p++)
		;
	if (*p == '\0' || *p == ';' || *p == '#')
		return copy_line(c, str);
	if (*p != '[' && c->bad_section) {
		/* Its header was reported broken: check the line, but give
		 * inih nothing that would land in the previous section. */
		if (p == c->buf || !c->have_key)
			key_line(c, p, str, num);
		goto skip;
	}
	if (p > c->buf && c->have_key) {
		/* inih strips inline comments from key lines only. */
		cut_comment(c->buf);
		c->len = strlen(c->buf);
		return copy_line(c, str);
	}
	r = *p == '[' ? section_line(c, p, str, num) : key_line(c, p, str, num);
	if (r != NULL)
		return r;
	if (*p == '[')
		c->bad_section = 1;
skip:
	/* inih sees a comment; the error is already reported. */
	snprintf(str, num, ";");
	return str;
}

static int
call_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct ini_ctx *c = user;
	const char *full = "";

	/* inih's section is always the last header read. */
	if (section[0] != '\0' && c->section != NULL)
		full = c->section;
	c->handler(c->user, full, name, value, c->line);
	return 1;
}

static void
parse_text(const char *name, const char *text, size_t len,
    msh_ini_handler *h, msh_ini_skipper *skip, void *user,
    struct msh_diag *d)
{
	struct ini_ctx c = {
		.text = text, .at = text, .end = text + len, .file = name,
		.diag = d, .handler = h, .skipper = skip, .user = user,
	};

	if (ini_parse_stream(read_line, &c, call_handler, &c) == -2)
		msh_diag_error(d, "io", name, 0, "out of memory");
	free(c.section);
	free(c.buf);
}

/* The whole of the file at path, in a buffer to free; NULL on errors
 * (reported). */
static char *
read_file(const char *path, size_t *len, struct msh_diag *d)
{
	struct stat st;
	char *text = NULL, *grown;
	size_t cap = 0, n = 0;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		msh_diag_error(d, "io",
		    path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		cap = st.st_size;
	for (;;) {
		/* One byte more than the size, to see the end at once. */
		if (n + 1 > cap || text == NULL) {
			cap = cap < n + 1 ? (n + 1) * 2 : cap + 1;
			if ((grown = realloc(text, cap)) == NULL)
				abort();
			text = grown;
		}
		if ((got = read(fd, text + n, cap - n)) == 0)
			break;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			msh_diag_error(d, "io",
			    path, 0, "read error: %s", strerror(errno));
			free(text);
			close(fd);
			return NULL;
		}
		n += got;
	}
	close(fd);
	*len = n;
	return text;
}

int
msh_ini_parse_file_skipping(const char *path, msh_ini_handler *h,
    msh_ini_skipper *skip, void *user, struct msh_diag *d)
{
	char *text;
	size_t len;

	if ((text = read_file(path, &len, d)) == NULL)
		return -1;
	parse_text(path, text, len, h, skip, user, d);
	free(text);
	return 0;
}

int
msh_ini_parse_file(const char *path, msh_ini_handler *h, void *user,
    struct msh_diag *d)
{
	return msh_ini_parse_file_skipping(path, h, NULL, user, d);
}

int
msh_ini_parse_buffer(const char *name, const char *buf, size_t len,
    msh_ini_handler *h, void *user, struct msh_diag *d)
{
	parse_text(name, buf, len, h, NULL, user, d);
	return 0;
}

const char *
msh_ini_section_name(const char *section, char *kind, size_t len)
{
	size_t klen = strcspn(section, " \t");
	const char *name;

	snprintf(kind, len, "%.*s", (int)klen, section);
	for (name = section + klen; is_blank(*name); name++)
		;
	return name;
}
