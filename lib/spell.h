#ifndef MSH_SPELL_H
#define MSH_SPELL_H

#include <stddef.h>

/*
 * The candidate closest to word by edit distance, if close enough to be a
 * likely typo (distance at most a third of the word's length, and at
 * least 1), else NULL. For "unknown key ...; did you mean ...?".
 */
const char *msh_spell_suggest(const char *word, const char *const *cand,
	    size_t ncand);

#endif
