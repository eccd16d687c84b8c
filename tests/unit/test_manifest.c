/* src/objstore/manifest.c: the artifact manifest, round trip and strict reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "cleanup.h"
#include "manifest.h"
#include "sha256.h"
#include "testutil.h"

#define WB (1u << 20)

/* A template of 5.5 windows of memory (two zero windows, one from a
 * parent's object) and 2 windows of rootfs. */
static void sample(struct manifest *m)
{
	struct rng r = { 42 };
	memset(m, 0, sizeof(*m));
	m->kind = MANIFEST_IMAGE;
	m->name = xstrdup("default");
	m->build_id = xstrdup("b-20261128T011455-3k9d");
	m->parent = xstrdup("templates/default/b-1/manifest.json");
	m->owner = xstrdup("alice");
	m->created_at = 1765000000;
	m->meta_json = xstrdup("{\"format\":3,\"name\":\"default\",\"memory_mb\":512}");
	m->window_bytes = WB;
	struct manifest_file *mem = &m->files[MANIFEST_MEMORY];
	mem->size = 5 * (uint64_t)WB + 12345;
	mem->nwindows = 6;
	mem->w = xcalloc(6, sizeof(*mem->w));
	for (size_t i = 0; i < 6; i++) {
		struct manifest_window *w = &mem->w[i];
		w->object_index = MANIFEST_NO_OBJECT;
		if (i == 1 || i == 4)
			continue; /* zero */
		w->object = manifest_add_object(
			m, i == 2 ? "data/default/b-1/memory" : "data/img-1/memory",
			&w->object_index);
		w->offset = i * (uint64_t)WB;
		rng_fill(&r, w->sha256, 32);
	}
	mem->prefetch = xcalloc(3, sizeof(uint32_t));
	mem->prefetch[0] = 0;
	mem->prefetch[1] = 5;
	mem->prefetch[2] = 1;
	mem->nprefetch = 3;
	struct manifest_file *root = &m->files[MANIFEST_ROOTFS];
	root->size = 2 * (uint64_t)WB;
	root->nwindows = 2;
	root->w = xcalloc(2, sizeof(*root->w));
	root->w[0].object_index = MANIFEST_NO_OBJECT;
	root->w[1].object = manifest_add_object(m, "data/img-1/rootfs", &root->w[1].object_index);
	root->w[1].offset = WB;
	rng_fill(&r, root->w[1].sha256, 32);
	m->blobs[MANIFEST_STATE].present = true;
	m->blobs[MANIFEST_STATE].size = 13012;
	m->blobs[MANIFEST_STATE].object = xstrdup("data/img-1/state");
	sha256_hex("state", 5, m->blobs[MANIFEST_STATE].sha256_hex);
	m->blobs[MANIFEST_INITRD].present = true;
	m->blobs[MANIFEST_INITRD].size = 0;
	m->blobs[MANIFEST_INITRD].object = xstrdup("data/img-1/initrd");
	sha256_hex("", 0, m->blobs[MANIFEST_INITRD].sha256_hex);
}

static void assert_files_equal(const struct manifest_file *a, const struct manifest_file *b)
{
	assert_true(a->size == b->size);
	assert_int_equal(a->nwindows, b->nwindows);
	for (size_t i = 0; i < a->nwindows; i++) {
		assert_int_equal(!a->w[i].object, !b->w[i].object);
		if (!a->w[i].object) {
			assert_int_equal(b->w[i].object_index, MANIFEST_NO_OBJECT);
			continue;
		}
		assert_string_equal(a->w[i].object, b->w[i].object);
		assert_true(a->w[i].offset == b->w[i].offset);
		assert_memory_equal(a->w[i].sha256, b->w[i].sha256, 32);
	}
	assert_int_equal(a->nprefetch, b->nprefetch);
	for (size_t i = 0; i < a->nprefetch; i++)
		assert_int_equal(a->prefetch[i], b->prefetch[i]);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct manifest a, b;
	sample(&a);
	char *text = manifest_to_json(&a);
	assert_non_null(text);
	struct thaw_err *e = NULL;
	assert_int_equal(manifest_parse(text, strlen(text), &b, &e), 0);
	assert_null(e);
	assert_int_equal(b.kind, MANIFEST_IMAGE);
	assert_string_equal(a.name, b.name);
	assert_string_equal(a.build_id, b.build_id);
	assert_string_equal(a.parent, b.parent);
	assert_string_equal(a.owner, b.owner);
	assert_true(a.created_at == b.created_at);
	assert_string_equal(a.meta_json, b.meta_json);
	assert_int_equal(a.window_bytes, b.window_bytes);
	for (int i = 0; i < MANIFEST_WFILE_COUNT; i++)
		assert_files_equal(&a.files[i], &b.files[i]);
	for (int i = 0; i < MANIFEST_BLOB_COUNT; i++) {
		assert_int_equal(a.blobs[i].present, b.blobs[i].present);
		if (!a.blobs[i].present)
			continue;
		assert_true(a.blobs[i].size == b.blobs[i].size);
		assert_string_equal(a.blobs[i].object, b.blobs[i].object);
		assert_string_equal(a.blobs[i].sha256_hex, b.blobs[i].sha256_hex);
	}
	assert_int_equal(b.nobjects, 3);
	/* Windows of one object share one interned key. */
	assert_ptr_equal(b.files[MANIFEST_MEMORY].w[0].object,
			 b.files[MANIFEST_MEMORY].w[3].object);
	assert_true(manifest_window_len(&b, &b.files[MANIFEST_MEMORY], 5) == 12345);
	assert_true(manifest_window_len(&b, &b.files[MANIFEST_MEMORY], 4) == WB);
	assert_true(manifest_window_len(&b, &b.files[MANIFEST_MEMORY], 6) == 0);
	/* Writing what was read gives the same text. */
	char *again = manifest_to_json(&b);
	assert_string_equal(text, again);
	free(again);
	free(text);
	manifest_free(&a);
	manifest_free(&b);
}

static void test_template_without_parent(void **state)
{
	(void)state;
	struct manifest a, b;
	sample(&a);
	a.kind = MANIFEST_TEMPLATE;
	free(a.parent);
	a.parent = NULL;
	free(a.owner);
	a.owner = NULL;
	free(a.files[MANIFEST_MEMORY].prefetch);
	a.files[MANIFEST_MEMORY].prefetch = NULL;
	a.files[MANIFEST_MEMORY].nprefetch = 0;
	char *text = manifest_to_json(&a);
	assert_int_equal(manifest_parse(text, strlen(text), &b, NULL), 0);
	assert_null(b.parent);
	assert_null(b.owner);
	assert_int_equal(b.kind, MANIFEST_TEMPLATE);
	assert_int_equal(b.files[MANIFEST_MEMORY].nprefetch, 0);
	assert_false(b.blobs[MANIFEST_KERNEL].present);
	assert_true(b.blobs[MANIFEST_INITRD].present);
	free(text);
	manifest_free(&a);
	manifest_free(&b);
}

/* The sample as a jansson tree, for a test to break one field of. */
static json_t *sample_json(void)
{
	struct manifest m;
	sample(&m);
	char *text = manifest_to_json(&m);
	manifest_free(&m);
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(o);
	return o;
}

/* Parses o (consumed) and expects ERR_CORRUPT whose message names field. */
static void expect_corrupt(json_t *o, const char *field)
{
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct manifest m;
	memset(&m, 0xa5, sizeof(m));
	struct thaw_err *e = NULL;
	assert_int_equal(manifest_parse(text, strlen(text), &m, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_CORRUPT);
	if (!strstr(e->msg, field))
		fail_msg("error \"%s\" does not name %s", e->msg, field);
	/* Nothing to free after a failure: the output is zeroed. */
	assert_null(m.name);
	assert_null(m.files[0].w);
	err_free(e);
	free(text);
}

static json_t *path(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	return b ? json_object_get(v, b) : v;
}

static json_t *window(json_t *o, const char *file, size_t i)
{
	return json_array_get(path(path(o, "files", file), "windows", NULL), i);
}

static void test_head_fields(void **state)
{
	(void)state;
	json_t *o;
	o = sample_json();
	json_object_set_new(o, "format", json_integer(2));
	expect_corrupt(o, "format");
	o = sample_json();
	json_object_del(o, "format");
	expect_corrupt(o, "format");
	o = sample_json();
	json_object_set_new(o, "kind", json_string("snapshot"));
	expect_corrupt(o, "kind");
	o = sample_json();
	json_object_set_new(o, "name", json_string("../etc"));
	expect_corrupt(o, "name");
	o = sample_json();
	json_object_set_new(o, "name", json_string(""));
	expect_corrupt(o, "name");
	o = sample_json();
	json_object_set_new(o, "build_id", json_integer(7));
	expect_corrupt(o, "build_id");
	o = sample_json();
	json_object_set_new(o, "parent", json_string("/abs/key"));
	expect_corrupt(o, "parent");
	o = sample_json();
	json_object_set_new(o, "parent", json_string("a/../b"));
	expect_corrupt(o, "parent");
	o = sample_json();
	json_object_set_new(o, "owner", json_string("Alice Smith"));
	expect_corrupt(o, "owner");
	o = sample_json();
	json_object_set_new(o, "created_at", json_integer(-1));
	expect_corrupt(o, "created_at");
	o = sample_json();
	json_object_set_new(o, "meta", json_string("{}"));
	expect_corrupt(o, "meta");
	o = sample_json();
	json_object_set_new(o, "surprise", json_true());
	expect_corrupt(o, "surprise");
}

static void test_window_bytes(void **state)
{
	(void)state;
	const json_int_t bad[] = { 0, 32768, (json_int_t)WB + 4096, 3 << 20, 128 << 20, -1 };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *o = sample_json();
		json_object_set_new(o, "window_bytes", json_integer(bad[i]));
		expect_corrupt(o, "window_bytes");
	}
	/* A smaller power of two makes the window counts wrong instead. */
	json_t *o = sample_json();
	json_object_set_new(o, "window_bytes", json_integer(1 << 19));
	expect_corrupt(o, "files.memory.windows");
}

static void test_windowed_files(void **state)
{
	(void)state;
	json_t *o;
	o = sample_json();
	json_object_del(json_object_get(o, "files"), "rootfs");
	expect_corrupt(o, "files.rootfs");
	o = sample_json();
	json_object_set_new(path(o, "files", "memory"), "size", json_integer(0));
	expect_corrupt(o, "files.memory.size");
	o = sample_json();
	json_object_set_new(path(o, "files", "memory"), "size", json_integer(5 * WB));
	expect_corrupt(o, "files.memory.windows has 6 entries");
	o = sample_json();
	json_object_set_new(path(o, "files", "memory"), "size", json_integer(6 * WB + 1));
	expect_corrupt(o, "files.memory.windows has 6 entries");
	o = sample_json();
	json_array_append_new(json_object_get(path(o, "files", "rootfs"), "windows"), json_null());
	expect_corrupt(o, "files.rootfs.windows");
	o = sample_json();
	json_object_set_new(path(o, "files", "memory"), "extra", json_null());
	expect_corrupt(o, "extra");
	o = sample_json();
	json_object_set_new(json_object_get(o, "files"), "swap", json_object());
	expect_corrupt(o, "swap");
}

static void test_windows(void **state)
{
	(void)state;
	json_t *o;
	o = sample_json();
	json_object_set_new(window(o, "memory", 0), "offset", json_integer(WB / 2));
	expect_corrupt(o, "files.memory.windows[0].offset");
	o = sample_json();
	json_object_set_new(window(o, "memory", 3), "offset", json_integer(-(json_int_t)WB));
	expect_corrupt(o, "files.memory.windows[3].offset");
	o = sample_json();
	json_object_set_new(window(o, "memory", 3), "offset",
			    json_integer((json_int_t)WB * MANIFEST_MAX_WINDOWS));
	expect_corrupt(o, "files.memory.windows[3].offset");
	o = sample_json();
	json_object_set_new(window(o, "rootfs", 1), "object", json_string("data//x"));
	expect_corrupt(o, "files.rootfs.windows[1].object");
	o = sample_json();
	json_object_set_new(window(o, "memory", 5), "object", json_string("a b"));
	expect_corrupt(o, "files.memory.windows[5].object");
	o = sample_json();
	json_object_set_new(window(o, "memory", 2), "sha256", json_string("abc"));
	expect_corrupt(o, "files.memory.windows[2].sha256");
	o = sample_json();
	char upper[65];
	memset(upper, 'A', 64);
	upper[64] = '\0';
	json_object_set_new(window(o, "memory", 2), "sha256", json_string(upper));
	expect_corrupt(o, "files.memory.windows[2].sha256");
	o = sample_json();
	json_object_del(window(o, "memory", 2), "sha256");
	expect_corrupt(o, "files.memory.windows[2]");
	o = sample_json();
	json_object_set_new(window(o, "memory", 2), "zero", json_true());
	expect_corrupt(o, "files.memory.windows[2]");
	o = sample_json();
	json_array_set_new(json_object_get(path(o, "files", "memory"), "windows"), 1,
			   json_integer(0));
	expect_corrupt(o, "files.memory.windows[1]");
}

static void test_blobs(void **state)
{
	(void)state;
	json_t *o;
	o = sample_json();
	json_object_del(json_object_get(o, "files"), "state");
	expect_corrupt(o, "files.state");
	o = sample_json();
	json_object_set_new(path(o, "files", "state"), "size", json_integer(-5));
	expect_corrupt(o, "files.state.size");
	o = sample_json();
	json_object_set_new(path(o, "files", "initrd"), "object", json_string(""));
	expect_corrupt(o, "files.initrd.object");
	o = sample_json();
	json_object_set_new(path(o, "files", "state"), "sha256", json_null());
	expect_corrupt(o, "files.state.sha256");
}

static void test_prefetch(void **state)
{
	(void)state;
	json_t *o;
	o = sample_json();
	json_array_append_new(path(o, "prefetch", "memory"), json_integer(6));
	expect_corrupt(o, "prefetch.memory[3]");
	o = sample_json();
	json_array_append_new(path(o, "prefetch", "memory"), json_integer(5));
	expect_corrupt(o, "prefetch.memory[3] repeats");
	o = sample_json();
	json_array_append_new(path(o, "prefetch", "memory"), json_string("2"));
	expect_corrupt(o, "prefetch.memory[3]");
	o = sample_json();
	json_object_set_new(json_object_get(o, "prefetch"), "state", json_array());
	expect_corrupt(o, "state");
	o = sample_json();
	json_object_set_new(o, "prefetch", json_array());
	expect_corrupt(o, "prefetch");
}

static void test_not_json(void **state)
{
	(void)state;
	const char *bad[] = { "", "[]", "{", "{\"format\":1,\"format\":1}", "null" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct manifest m;
		struct thaw_err *e = NULL;
		assert_int_equal(manifest_parse(bad[i], strlen(bad[i]), &m, &e), -1);
		assert_int_equal(e->code, ERR_CORRUPT);
		err_free(e);
	}
}

/* Every truncation and many byte flips of a valid manifest are either
 * refused or parse cleanly: never a crash (ASan in make SAN=1 unit). */
static void test_mutations(void **state)
{
	(void)state;
	struct manifest m;
	sample(&m);
	char *text = manifest_to_json(&m);
	manifest_free(&m);
	size_t n = strlen(text);
	for (size_t cut = 0; cut < n; cut++) {
		struct manifest out;
		assert_int_equal(manifest_parse(text, cut, &out, NULL), -1);
	}
	struct rng r = { 7 };
	char *copy = xmalloc(n);
	for (int round = 0; round < 20000; round++) {
		memcpy(copy, text, n);
		for (int k = 0; k < 3; k++)
			copy[rng_below(&r, (uint32_t)n)] =
				"0189af{}[],:\"-./ xn"[rng_below(&r, 19)];
		struct manifest out;
		if (manifest_parse(copy, n, &out, NULL) == 0)
			manifest_free(&out);
	}
	free(copy);
	free(text);
}

static void test_large_window_count(void **state)
{
	(void)state;
	/* 100000 windows of one object parse in one pass (no quadratic work). */
	struct manifest m;
	sample(&m);
	struct manifest_file *f = &m.files[MANIFEST_ROOTFS];
	free(f->w);
	f->nwindows = 100000;
	f->size = (uint64_t)WB * f->nwindows;
	f->w = xcalloc(f->nwindows, sizeof(*f->w));
	for (size_t i = 0; i < f->nwindows; i++) {
		f->w[i].object =
			manifest_add_object(&m, "data/img-1/rootfs", &f->w[i].object_index);
		f->w[i].offset = i * (uint64_t)WB;
	}
	char *text = manifest_to_json(&m);
	struct manifest out;
	assert_int_equal(manifest_parse(text, strlen(text), &out, NULL), 0);
	assert_int_equal(out.files[MANIFEST_ROOTFS].nwindows, 100000);
	assert_int_equal(out.nobjects, 3);
	manifest_free(&out);
	manifest_free(&m);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_template_without_parent),
		cmocka_unit_test(test_head_fields),
		cmocka_unit_test(test_window_bytes),
		cmocka_unit_test(test_windowed_files),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_blobs),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_large_window_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
