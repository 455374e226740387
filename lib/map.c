#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

/* Copied keys, one after the other, each with a NUL. */
struct msh_map_text {
	struct msh_map_text	*prev;
	size_t			 size, used;
	char			 bytes[];
};

uint64_t
msh_hash_text(const void *p, size_t len)
{
	const char *s = p;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s, len);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 32;
	return h != 0 ? h : 1;
}

/* The slot key (whose hash is h) is in, or the free one where it would
 * go. */
static struct msh_map_slot *
find(const struct msh_map *m, const char *key, size_t len, uint64_t h)
{
	size_t mask = m->cap - 1, i = h & mask;

	while (m->slot[i].key != NULL && (m->slot[i].hash != h ||
	    m->slot[i].len != len || memcmp(m->slot[i].key, key, len) != 0))
		i = (i + 1) & mask;
	return &m->slot[i];
}

void *
msh_map_find(const struct msh_map *m, const char *key, size_t len)
{
	return m->cap == 0 ? NULL :
	    find(m, key, len, msh_hash_text(key, len))->value;
}

static void
grow(struct msh_map *m)
{
	size_t cap = m->cap ? 2 * m->cap : 64, mask = cap - 1, i, j;
	struct msh_map_slot *slot;

	if ((slot = calloc(cap, sizeof(*slot))) == NULL)
		abort();
	/* Keys are all different: only a free slot is looked for. */
	for (i = 0; i < m->cap; i++) {
		if (m->slot[i].key == NULL)
			continue;
		for (j = m->slot[i].hash & mask; slot[j].key != NULL;
		    j = (j + 1) & mask)
			;
		slot[j] = m->slot[i];
	}
	free(m->slot);
	m->slot = slot;
	m->cap = cap;
}

/* A copy of key in m's blocks: a new block, twice the last, when it does
 * not fit, and blocks never move, so the slots' pointers stay good. */
static const char *
copy_key(struct msh_map *m, const char *key, size_t len)
{
	struct msh_map_text *b = m->text;
	char *p;

	if (b == NULL || b->size - b->used < len + 1) {
		size_t size = b != NULL ? 2 * b->size : 1024;

		if (size < len + 1)
			size = len + 1;
		if ((b = malloc(sizeof(*b) + size)) == NULL)
			abort();
		b->prev = m->text;
		b->size = size;
		b->used = 0;
		m->text = b;
	}
	p = b->bytes + b->used;
	memcpy(p, key, len);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

static void *
add(struct msh_map *m, const char *key, size_t len, void *value, int copy)
{
	struct msh_map_slot *s;
	uint64_t h = msh_hash_text(key, len);

	/* At most half full, so that probes stay short. */
	if (2 * (m->n + 1) > m->cap)
		grow(m);
	s = find(m, key, len, h);
	if (s->key != NULL)
		return s->value;
	*s = (struct msh_map_slot){ copy ? copy_key(m, key, len) : key, len, h,
	    value };
	m->n++;
	return NULL;
}

void *
msh_map_add(struct msh_map *m, const char *key, size_t len, void *value)
{
	return add(m, key, len, value, 0);
}

void *
msh_map_add_copy(struct msh_map *m, const char *key, size_t len, void *value)
{
	return add(m, key, len, value, 1);
}

void
msh_map_free(struct msh_map *m)
{
	struct msh_map_text *b, *prev;

	for (b = m->text; b != NULL; b = prev) {
		prev = b->prev;
		free(b);
	}
	free(m->slot);
	memset(m, 0, sizeof(*m));
}
