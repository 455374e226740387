#include "config.h"

#include <string.h>

#include "spell.h"

/* Optimal string alignment distance, capped at 64-byte words. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t d[65][65];

	if (la > 64 || lb > 64)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], v;

			v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

const char *
msh_spell_suggest(const char *word, const char *const *cand, size_t ncand)
{
	size_t best = (size_t)-1, limit, i, dist;
	const char *pick = NULL;

	limit = strlen(word) / 3;
	if (limit < 1)
		limit = 1;
	for (i = 0; i < ncand; i++) {
		dist = distance(word, cand[i]);
		if (dist < best) {
			best = dist;
			pick = cand[i];
		}
	}
	return best <= limit ? pick : NULL;
}
