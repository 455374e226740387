/*
 * meshc's parser from memory (mc_parse_buffer): includes are followed
 * relative to the name the buffer is given, and refused, without a file
 * being touched, under MC_PARSE_NO_INCLUDE (what the fuzz target uses).
 *
 * meshc's policy keys against meshd's [cluster] keys (the inbound ones
 * against [listener] keys): the same names, value kinds, ranges and
 * defaults, both ways, so that a key either side adds or changes without
 * the other fails here.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "mesh.h"
#include "module-t.h"
#include "module.h"

/* The last diagnostic, kept. */
struct seen {
	unsigned	n;
	char		code[32];
	char		text[512];
};

static void
keep(void *arg, const struct msh_diag_msg *m)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->code, sizeof(s->code), "%s", m->code);
	snprintf(s->text, sizeof(s->text), "%s", m->text);
}

static const char mesh[] =
    "[mesh]\nname = m\nregistry = r.conf\ninclude = part.conf\n";

/* A directory with part.conf, which defines one service; its path in
 * dir. */
static void
make_part(char *dir, size_t len)
{
	char path[4096];
	FILE *fp;

	snprintf(dir, len, "%s/test_mesh.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/part.conf", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("[service a]\napp_port = 8080\ninbound_port = 7000\n", fp);
	assert_int_equal(fclose(fp), 0);
}

static void
remove_part(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/part.conf", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_include_followed(void **state)
{
	struct seen seen = { 0 };
	struct msh_diag d = { .sink = keep, .arg = &seen };
	struct mc_mesh m;
	char dir[4096], name[4096 + 16];

	make_part(dir, sizeof(dir));
	snprintf(name, sizeof(name), "%s/mesh.conf", dir);
	assert_int_equal(mc_parse_buffer(&m, name, mesh, strlen(mesh), 0, &d),
	    0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(m.nservices, 1);
	assert_string_equal(m.services[0]->name, "a");
	assert_int_equal(m.nfiles, 2);
	mc_free(&m);
	remove_part(dir);
}

static void
test_include_refused(void **state)
{
	struct seen seen = { 0 };
	struct msh_diag d = { .sink = keep, .arg = &seen };
	struct mc_mesh m;
	char dir[4096], name[4096 + 16];

	make_part(dir, sizeof(dir));
	snprintf(name, sizeof(name), "%s/mesh.conf", dir);
	assert_int_equal(mc_parse_buffer(&m, name, mesh, strlen(mesh),
	    MC_PARSE_NO_INCLUDE, &d), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.code, "include");
	assert_non_null(strstr(seen.text, "mesh.conf:4: error: include is "
	    "not allowed here"));
	/* Nothing was read: no service, no second file. */
	assert_int_equal(m.nservices, 0);
	assert_int_equal(m.nfiles, 1);
	mc_free(&m);
	remove_part(dir);
}

/* meshd's directive for key in section, its own or a module's; NULL if
 * none. */
static const struct msh_directive *
meshd_key(enum msh_section_kind section, const char *key)
{
	const struct msh_directive *d;
	size_t i;

	for (d = msh_core_directives; d->key != NULL; d++)
		if (d->section == section && strcmp(d->key, key) == 0)
			return d;
	for (i = 0; msh_modules[i] != NULL; i++)
		for (d = msh_modules[i]->directives; d && d->key; d++)
			if (d->section == section && strcmp(d->key, key) == 0)
				return d;
	return NULL;
}

/* The meshd kind a meshc policy kind stands for; -1: none yet. */
static int
meshd_kind(enum mc_kind k)
{
	switch (k) {
	case MC_V_DURATION:
		return MSH_V_DURATION;
	case MC_V_DURATION_OFF:
		return MSH_V_DURATION_OFF;
	case MC_V_COUNT:
		return MSH_V_COUNT;
	case MC_V_LIMIT:
		return MSH_V_LIMIT;
	case MC_V_FLAG:
		return MSH_V_FLAG;
	case MC_V_RETRY_ON:
		return MSH_V_RETRY_ON;
	case MC_V_LB:
		return MSH_V_LB;
	case MC_V_HASH_KEY:
		return MSH_V_HASH_KEY;
	case MC_V_HEALTH_CHECK:
		return MSH_V_HEALTH_CHECK;
	case MC_V_STATUS_LIST:
		return MSH_V_STATUS_LIST;
	case MC_V_HOST:
		return MSH_V_HOST;
	case MC_V_RATE:
		return MSH_V_RATE;
	default:
		return -1;
	}
}

/* A meshd.conf with one listener and one cluster at meshd's defaults,
 * loaded. */
static struct msh_conf *
load_defaults(void)
{
	static const char text[] = "[meshd]\nservice = s\n"
	    "admin = 127.0.0.1:15000\n[listener l]\naddress = 127.0.0.1:2\n"
	    "cluster = c\n[cluster c]\nendpoint = 127.0.0.1:1\n";
	struct msh_diag d = { 0 };
	struct msh_conf *conf;
	char path[4096];
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "%s/test_mesh.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	conf = msh_conf_load(path, NULL, &d);
	unlink(path);
	assert_non_null(conf);
	assert_int_equal(conf->nclusters, 1);
	assert_int_equal(conf->nlisteners, 1);
	return conf;
}

static void
test_policy_keys_are_meshd_keys(void **state)
{
	struct msh_conf *conf = load_defaults();
	const struct msh_cluster_conf *cl = &conf->clusters[0];
	const struct msh_listener_conf *l = &conf->listeners[0];
	struct mc_policy_set def;
	size_t i;

	mc_policy_defaults(&def);
	for (i = 0; i < mc_npolicy_keys; i++) {
		const struct mc_directive *k = &mc_policy_keys[i];
		const struct msh_directive *d = meshd_key(k->inbound ?
		    MSH_SEC_LISTENER : MSH_SEC_CLUSTER, k->key);
		const void *mine = (const char *)&def + k->offset;
		const void *theirs;

		if (d == NULL)
			fail_msg("policy key %s is no [%s] key of meshd",
			    k->key, k->inbound ? "listener" : "cluster");
		if (meshd_kind(k->kind) != (int)d->kind)
			fail_msg("%s: meshc reads it as kind %d, meshd as %d",
			    k->key, k->kind, d->kind);
		if (k->kind == MC_V_COUNT || k->kind == MC_V_LIMIT) {
			if (k->min != d->min || k->max != d->max)
				fail_msg("%s: meshc's range is %llu-%llu, "
				    "meshd's %llu-%llu", k->key,
				    (unsigned long long)k->min,
				    (unsigned long long)k->max,
				    (unsigned long long)d->min,
				    (unsigned long long)d->max);
		}
		theirs = k->inbound ? (const char *)l + d->offset :
		    (const char *)cl + d->offset;
		switch (k->kind) {
		case MC_V_DURATION:
		case MC_V_DURATION_OFF:
			if (*(const uint64_t *)mine != *(const uint64_t *)theirs)
				fail_msg("%s: meshc's default is %llu ms, "
				    "meshd's %llu", k->key, (unsigned long long)
				    *(const uint64_t *)mine, (unsigned long long)
				    *(const uint64_t *)theirs);
			break;
		case MC_V_COUNT:
		case MC_V_LIMIT:
			if (*(const unsigned *)mine != *(const unsigned *)theirs)
				fail_msg("%s: meshc's default is %u, meshd's %u",
				    k->key, *(const unsigned *)mine,
				    *(const unsigned *)theirs);
			break;
		case MC_V_FLAG:
			assert_int_equal(*(const int *)mine,
			    *(const int *)theirs);
			break;
		case MC_V_RETRY_ON:
			assert_memory_equal(mine, theirs,
			    sizeof(struct msh_retry_on));
			break;
		case MC_V_LB:
			assert_string_equal(
			    (*(const struct mc_lb *const *)mine)->name,
			    (*(const struct msh_module *const *)theirs)->name);
			break;
		case MC_V_HASH_KEY:
			assert_memory_equal(mine, theirs,
			    sizeof(struct msh_hash_key));
			break;
		case MC_V_HEALTH_CHECK:
			assert_memory_equal(mine, theirs,
			    sizeof(struct msh_health_check));
			break;
		case MC_V_STATUS_LIST:
			assert_memory_equal(mine, theirs,
			    sizeof(struct msh_status_list));
			break;
		case MC_V_HOST:
			assert_string_equal(mine, theirs);
			break;
		case MC_V_RATE:
			assert_memory_equal(mine, theirs,
			    sizeof(struct msh_rate));
			break;
		default:
			fail_msg("%s: no comparison for its kind", k->key);
		}
	}
	msh_conf_unref(conf);
}

/*
 * [cluster] keys that are no per-callee policy, with why:
 * - endpoint and service say where a cluster's endpoints come from; meshc
 *   writes service = the callee itself.
 * - labels picks a subset of the callee's instances: what a route sends
 *   to, not how calls to the service behave.
 * - tls and tls_peer: mTLS is the callee's security mode and identity, not
 *   a caller's choice. tls = on needs tls_cert, tls_key and tls_ca in
 *   [meshd] and the callee's listener in strict or permissive mode, and
 *   tls_peer is the callee's identity; meshc will write them from a
 *   security design of its own (issue 4), never from a policy, which
 *   could only make files meshd refuses or calls the callee rejects.
 */
static int
not_policy(const char *key)
{
	static const char *const keys[] = {
		"endpoint", "service", "labels", "tls", "tls_peer",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

/* Is there a policy key named key? Counts the [cluster] keys seen, and
 * the [listener] keys that are inbound policy keys (the others are keys
 * of [mesh] and [service], or meshc's own doing). */
static void
want_policy_key(const struct msh_directive *d, size_t *n)
{
	size_t i;

	if (d->section == MSH_SEC_LISTENER) {
		for (i = 0; i < mc_npolicy_keys; i++)
			if (mc_policy_keys[i].inbound &&
			    strcmp(mc_policy_keys[i].key, d->key) == 0)
				(*n)++;
		return;
	}
	if (d->section != MSH_SEC_CLUSTER || not_policy(d->key))
		return;
	for (i = 0; i < mc_npolicy_keys; i++)
		if (strcmp(mc_policy_keys[i].key, d->key) == 0)
			break;
	if (i == mc_npolicy_keys)
		fail_msg("meshd's [cluster] key %s is no policy key", d->key);
	(*n)++;
}

/* The other way: every [cluster] key of meshd, its own or a module's,
 * that is a policy can be set in one, so meshc can write it; and every
 * inbound policy key is a [listener] key. */
static void
test_meshd_keys_are_policy_keys(void **state)
{
	const struct msh_directive *d;
	size_t i, n = 0;

	for (d = msh_core_directives; d->key != NULL; d++)
		want_policy_key(d, &n);
	for (i = 0; msh_modules[i] != NULL; i++)
		for (d = msh_modules[i]->directives; d && d->key; d++)
			want_policy_key(d, &n);
	assert_true(n >= 30);
	assert_int_equal(n, mc_npolicy_keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_include_followed),
		cmocka_unit_test(test_include_refused),
		cmocka_unit_test(test_policy_keys_are_meshd_keys),
		cmocka_unit_test(test_meshd_keys_are_policy_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
