/*
 * A table of names to entries (services, policies, routes, rules), so
 * that meshc finds one by name in constant time however large the mesh:
 * open addressing with linear probing, at most half full. Keys are not
 * copied: each is the name its entry owns, which outlives the table.
 */
#ifndef MC_NAMES_H
#define MC_NAMES_H

#include <stddef.h>
#include <stdint.h>

struct mc_name_slot {
	const char	*key;		/* NULL: free */
	void		*value;
	uint64_t	 hash;		/* of key: most probes, and growing,
					 * need not read the key */
};

struct mc_names {
	struct mc_name_slot	*slot;
	size_t			 cap;	/* a power of two; 0: none yet */
	size_t			 n;
};

/* The entry named key, or NULL. */
void	*mc_names_get(const struct mc_names *t, const char *key);

/* Add key -> value unless key is there: returns the entry it has then
 * (and adds nothing), NULL when added. Out of memory exits. */
void	*mc_names_add(struct mc_names *t, const char *key, void *value);

void	 mc_names_free(struct mc_names *t);

#endif
