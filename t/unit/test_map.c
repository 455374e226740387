/*
 * The map of lib/map.h: a key added is found and an absent one is not; a
 * second add of a key keeps the first value; it grows past many entries;
 * a copied key survives the caller's buffer; and keys that are prefixes
 * of each other, differ only in length, or even hash the same are told
 * apart.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "map.h"

#define KEY(s)	(s), strlen(s)

static void
test_add_find(void **state)
{
	struct msh_map m = { 0 };
	int orders, users;

	assert_null(msh_map_find(&m, KEY("orders")));
	assert_null(msh_map_add(&m, KEY("orders"), &orders));
	assert_null(msh_map_add(&m, KEY("users"), &users));
	assert_int_equal(m.n, 2);
	assert_ptr_equal(msh_map_find(&m, KEY("orders")), &orders);
	assert_ptr_equal(msh_map_find(&m, KEY("users")), &users);
	assert_null(msh_map_find(&m, KEY("payments")));
	/* A key is its bytes, not the pointer the caller had. */
	assert_ptr_equal(msh_map_find(&m, "ordersX", 6), &orders);
	msh_map_free(&m);
	assert_int_equal(m.cap, 0);
	assert_null(msh_map_find(&m, KEY("orders")));
	/* And an emptied map is a map. */
	assert_null(msh_map_add(&m, KEY("orders"), &users));
	assert_ptr_equal(msh_map_find(&m, KEY("orders")), &users);
	msh_map_free(&m);
}

static void
test_duplicate(void **state)
{
	struct msh_map m = { 0 };
	int first, second;

	assert_null(msh_map_add(&m, KEY("orders"), &first));
	assert_ptr_equal(msh_map_add(&m, KEY("orders"), &second), &first);
	assert_ptr_equal(msh_map_add_copy(&m, KEY("orders"), &second), &first);
	assert_int_equal(m.n, 1);
	assert_ptr_equal(msh_map_find(&m, KEY("orders")), &first);
	msh_map_free(&m);
}

/* Far past the first table, every key copied from one buffer: all are
 * found with their own values after every growth. */
static void
test_many(void **state)
{
	enum { N = 100000 };
	struct msh_map m = { 0 };
	char key[32];
	size_t i;

	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/services/s-%zu/instances/i", i);
		assert_null(msh_map_add_copy(&m, KEY(key),
		    (void *)(uintptr_t)(i + 1)));
	}
	assert_int_equal(m.n, N);
	assert_true(2 * m.n <= m.cap);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/services/s-%zu/instances/i", i);
		assert_int_equal((uintptr_t)msh_map_find(&m, KEY(key)), i + 1);
		assert_int_equal((uintptr_t)msh_map_add_copy(&m, KEY(key),
		    (void *)1), i + 1);
	}
	assert_int_equal(m.n, N);
	assert_null(msh_map_find(&m, KEY("/services/s-100000/instances/i")));
	msh_map_free(&m);
}

/* A copied key, NUL-terminated, outlives the caller's bytes; one longer
 * than the map's first block of keys too. */
static void
test_copy(void **state)
{
	struct msh_map m = { 0 };
	char buf[4000], other[4000];
	const struct msh_map_slot *s = NULL;
	size_t i;

	memset(buf, 'k', sizeof(buf));
	assert_null(msh_map_add_copy(&m, buf, 3, (void *)1));
	assert_null(msh_map_add_copy(&m, buf, sizeof(buf), (void *)2));
	memset(buf, 'x', sizeof(buf));
	memset(other, 'k', sizeof(other));
	assert_int_equal((uintptr_t)msh_map_find(&m, other, 3), 1);
	assert_int_equal((uintptr_t)msh_map_find(&m, other, sizeof(other)),
	    2);
	assert_null(msh_map_find(&m, buf, 3));
	for (i = 0; i < m.cap; i++)
		if (m.slot[i].key != NULL && m.slot[i].len == 3)
			s = &m.slot[i];
	assert_non_null(s);
	assert_string_equal(s->key, "kkk");
	msh_map_free(&m);
}

/* Prefixes, lengths and NUL bytes: a key is all its len bytes. And two
 * keys of one hash are still two keys: the length is mixed in first, so
 * a first word that flips what 8 ^ 9 flips in the seed makes one; and ""
 * has the hash of the byte 1, its length, on a little-endian machine,
 * where only the length tells them apart. */
static void
test_alike(void **state)
{
	static const char *const keys[] = {
		"", "o", "or", "order", "orders", "orders-", "orders-v",
		"orders-v2", "orders-v2-canary", "orders-v2-canary-",
	};
	struct msh_map m = { 0 };
	char a[8], b[9];
	uint64_t w;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		assert_null(msh_map_add(&m, KEY(keys[i]),
		    (void *)(uintptr_t)(i + 1)));
	assert_null(msh_map_add(&m, "orders\0", 7, (void *)100));
	assert_null(msh_map_add(&m, "orders\0\0", 8, (void *)101));
	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		assert_int_equal((uintptr_t)msh_map_find(&m, KEY(keys[i])),
		    i + 1);
	assert_int_equal((uintptr_t)msh_map_find(&m, "orders\0", 7), 100);
	assert_int_equal((uintptr_t)msh_map_find(&m, "orders\0\0", 8), 101);
	assert_null(msh_map_find(&m, KEY("orders-v3")));
	assert_null(msh_map_find(&m, KEY("rders")));

	memcpy(a, "services", 8);
	memcpy(&w, a, 8);
	w ^= 8 ^ 9;
	memcpy(b, &w, 8);
	b[8] = '\0';
	assert_int_equal(msh_hash_text(a, 8), msh_hash_text(b, 9));
	assert_null(msh_map_add_copy(&m, a, 8, (void *)200));
	assert_null(msh_map_add_copy(&m, b, 9, (void *)201));
	assert_int_equal((uintptr_t)msh_map_find(&m, a, 8), 200);
	assert_int_equal((uintptr_t)msh_map_find(&m, b, 9), 201);
	assert_null(msh_map_find(&m, b, 8));

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	assert_int_equal(msh_hash_text("", 0), msh_hash_text("\1", 1));
#endif
	msh_map_free(&m);
	assert_null(msh_map_add(&m, "\1", 1, (void *)1));
	assert_null(msh_map_find(&m, "", 0));
	assert_null(msh_map_add(&m, "", 0, (void *)2));
	assert_int_equal((uintptr_t)msh_map_find(&m, "\1", 1), 1);
	assert_int_equal((uintptr_t)msh_map_find(&m, "", 0), 2);
	msh_map_free(&m);
}

/* The registry's sets of section hashes mark a free slot with 0. */
static void
test_hash_not_zero(void **state)
{
	char buf[64];
	size_t i;

	memset(buf, 0, sizeof(buf));
	for (i = 0; i <= sizeof(buf); i++)
		assert_int_not_equal(msh_hash_text(buf, i), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_alike),
		cmocka_unit_test(test_hash_not_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
