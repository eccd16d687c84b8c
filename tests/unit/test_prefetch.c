/* src/thawd/vmm/prefetch.c: the resident page list round trip, and that a
 * list thaw did not write (truncated, foreign, out of bounds) is refused
 * whole, never followed. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "vmm/prefetch.h"

struct fx {
	char dir[64];
	char list[128], mem[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/thaw-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->list, sizeof(f->list), "%s/%s", f->dir, PREFETCH_FILE);
	snprintf(f->mem, sizeof(f->mem), "%s/memory.bin", f->dir);
	int fd = open(f->mem, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * 4096), 0);
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	fs_rm_rf(f->dir, NULL);
	free(f);
	return 0;
}

static void sample(struct page_runs *r)
{
	memset(r, 0, sizeof(*r));
	page_runs_add(r, 0, 2);
	page_runs_add(r, 2, 1); /* merges with the run before */
	page_runs_add(r, 10, 5);
	page_runs_add(r, 63, 1);
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct page_runs r, back;
	sample(&r);
	assert_int_equal(r.n, 3);
	struct thaw_err *e = NULL;
	assert_int_equal(prefetch_save(f->list, &r, &e), 0);
	assert_int_equal(prefetch_load(f->list, 64, &back, &e), 0);
	assert_int_equal(back.n, 3);
	assert_memory_equal(back.run, r.run, 3 * sizeof(*r.run));
	assert_int_equal(prefetch_start(f->mem, &back, &e), 3 + 5 + 1);
	assert_int_equal(prefetch_dir(f->dir, f->mem, 64 * 4096, &e), 9);
	assert_null(e);
	page_runs_free(&r);
	page_runs_free(&back);
}

static void test_no_list_is_no_prefetch(void **state)
{
	struct fx *f = *state;
	struct page_runs r;
	struct thaw_err *e = NULL;
	assert_int_equal(prefetch_load(f->list, 64, &r, &e), -1);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	err_free(e);
	e = NULL;
	assert_int_equal(prefetch_dir(f->dir, f->mem, 64 * 4096, &e), 0);
	assert_null(e);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	struct thaw_err *e = NULL;
	assert_int_equal(fs_write_atomic(path, data, len, 0600, &e), 0);
}

static void expect_refused(struct fx *f, uint64_t max_pages)
{
	struct page_runs r;
	struct thaw_err *e = NULL;
	assert_int_equal(prefetch_load(f->list, max_pages, &r, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_INVALID);
	err_free(e);
	e = NULL;
	assert_int_equal(prefetch_dir(f->dir, f->mem, max_pages * 4096, &e), -1);
	err_free(e);
}

static void test_malformed_lists_are_refused(void **state)
{
	struct fx *f = *state;
	struct page_runs r;
	sample(&r);
	struct thaw_err *e = NULL;
	assert_int_equal(prefetch_save(f->list, &r, &e), 0);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(f->list, 1 << 20, &data, &len, &e), 0);
	/* Beyond a smaller memory. */
	expect_refused(f, 63);
	/* Truncated: the count promises more than is there. */
	write_bytes(f->list, data, len - 1);
	expect_refused(f, 64);
	/* Not ours. */
	write_bytes(f->list, "NOTTHAW!\0\0\0\0\0\0\0\0", 16);
	expect_refused(f, 64);
	write_bytes(f->list, "", 0);
	expect_refused(f, 64);
	/* A zero-length run. */
	data[8 + 8 + 8] = 0;
	memset(data + 8 + 8 + 8, 0, 8);
	write_bytes(f->list, data, len);
	expect_refused(f, 64);
	/* A run whose end wraps around. */
	memset(data + 8 + 8, 0xff, 16);
	write_bytes(f->list, data, len);
	expect_refused(f, 64);
	free(data);
	page_runs_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_list_is_no_prefetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lists_are_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
