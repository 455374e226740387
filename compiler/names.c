#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* FNV-1a: names are short, and every byte counts. */
static uint64_t
hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The slot key (whose hash is h) is in, or the free one where it would
 * go. */
static struct mc_name_slot *
find(const struct mc_names *t, const char *key, uint64_t h)
{
	size_t mask = t->cap - 1, i = h & mask;

	while (t->slot[i].key != NULL && (t->slot[i].hash != h ||
	    strcmp(t->slot[i].key, key) != 0))
		i = (i + 1) & mask;
	return &t->slot[i];
}

void *
mc_names_get(const struct mc_names *t, const char *key)
{
	return t->cap == 0 ? NULL : find(t, key, hash(key))->value;
}

static void
grow(struct mc_names *t)
{
	struct mc_names bigger = { NULL, t->cap ? 2 * t->cap : 64, t->n };
	size_t i;

	if ((bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot))) == NULL) {
		perror("meshc");
		exit(2);
	}
	for (i = 0; i < t->cap; i++)
		if (t->slot[i].key != NULL)
			*find(&bigger, t->slot[i].key, t->slot[i].hash) =
			    t->slot[i];
	free(t->slot);
	*t = bigger;
}

void *
mc_names_add(struct mc_names *t, const char *key, void *value)
{
	struct mc_name_slot *s;
	uint64_t h = hash(key);

	/* At most half full, so that probes stay short. */
	if (2 * (t->n + 1) > t->cap)
		grow(t);
	s = find(t, key, h);
	if (s->key != NULL)
		return s->value;
	*s = (struct mc_name_slot){ key, value, h };
	t->n++;
	return NULL;
}

void
mc_names_free(struct mc_names *t)
{
	free(t->slot);
	*t = (struct mc_names){ NULL, 0, 0 };
}
