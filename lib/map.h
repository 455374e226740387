/*
 * A map of keys, byte strings given as pointer and length, to values, so
 * that meshc finds a service, policy or route by name and meshd's
 * registry reader finds an instance path in constant time however large
 * the mesh: open addressing with linear probing, at most half full.
 *
 * A key is either borrowed (msh_map_add: it must outlive the map) or
 * copied (msh_map_add_copy: into blocks the map owns, which never move,
 * so that a registry of 10,000 paths costs a few allocations, not one a
 * path). A zeroed struct msh_map is an empty map.
 */
#ifndef MSH_MAP_H
#define MSH_MAP_H

#include <stddef.h>
#include <stdint.h>

struct msh_map_slot {
	const char	*key;		/* NULL: free */
	size_t		 len;
	uint64_t	 hash;		/* of key: most probes, and growing,
					 * need not read the key */
	void		*value;
};

struct msh_map_text;			/* a block of copied keys */

struct msh_map {
	struct msh_map_slot	*slot;
	size_t			 cap;	/* a power of two; 0: none yet */
	size_t			 n;
	struct msh_map_text	*text;	/* the newest block, or NULL */
};

/*
 * A 64-bit hash of len bytes at p, 8 bytes a step: the registry hashes all
 * of its file on every change. Never 0, so that a set of hashes can mark
 * a free slot with 0.
 */
uint64_t	msh_hash_text(const void *p, size_t len);

/* The value of key (len bytes), or NULL. */
void	*msh_map_find(const struct msh_map *m, const char *key, size_t len);

/*
 * Add key (len bytes) -> value, which must not be NULL, unless key is
 * there: returns the value it has then (and adds nothing), NULL when
 * added. The map keeps the pointer key, whose bytes must not change while
 * the map is used. Out of memory aborts.
 */
void	*msh_map_add(struct msh_map *m, const char *key, size_t len,
	    void *value);

/*
 * msh_map_add, but the map keeps a copy of key (NUL-terminated), made only
 * when key is added: the caller's bytes may change or go right after.
 */
void	*msh_map_add_copy(struct msh_map *m, const char *key, size_t len,
	    void *value);

/* Free the slots and the copied keys; m is an empty map again. */
void	 msh_map_free(struct msh_map *m);

#endif
