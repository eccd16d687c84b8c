/* src/common/outring.c: a command's recent output, bounded, oldest
 * records dropped first and counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "outring.h"

/* All records in order, joined: "<stream>:<bytes>|..." */
static void dump(const struct outring *r, struct buf *b)
{
	size_t off = 0, n;
	uint8_t stream;
	const uint8_t *data;
	buf_reset(b);
	while (outring_next(r, &off, &stream, &data, &n)) {
		buf_printf(b, "%u:", stream);
		buf_append(b, data, n);
		buf_append(b, "|", 1);
	}
}

static void test_keeps_order_and_streams(void **state)
{
	(void)state;
	struct outring r;
	struct buf b = { 0 };
	outring_init(&r, 100);
	outring_put(&r, 1, "out", 3);
	outring_put(&r, 2, "err", 3);
	outring_put(&r, 1, "", 0);
	dump(&r, &b);
	assert_string_equal(buf_cstr(&b), "1:out|2:err|");
	assert_int_equal(r.kept, 6);
	assert_int_equal(r.dropped, 0);
	buf_free(&b);
	outring_free(&r);
}

static void test_drops_the_oldest_and_counts(void **state)
{
	(void)state;
	struct outring r;
	struct buf b = { 0 };
	outring_init(&r, 10);
	outring_put(&r, 1, "aaaa", 4);
	outring_put(&r, 1, "bbbb", 4);
	outring_put(&r, 2, "cccc", 4); /* 12 > 10: the a's go */
	dump(&r, &b);
	assert_string_equal(buf_cstr(&b), "1:bbbb|2:cccc|");
	assert_int_equal(r.kept, 8);
	assert_int_equal(r.dropped, 4);
	/* A chunk over the bound keeps its tail only. */
	outring_put(&r, 1, "0123456789abc", 13);
	dump(&r, &b);
	assert_string_equal(buf_cstr(&b), "1:3456789abc|");
	assert_int_equal(r.kept, 10);
	assert_int_equal(r.dropped, 4 + 8 + 3);
	buf_free(&b);
	outring_free(&r);
}

static void test_trim(void **state)
{
	(void)state;
	struct outring r;
	struct buf b = { 0 };
	outring_init(&r, 100);
	outring_put(&r, 1, "aaaa", 4);
	outring_put(&r, 2, "bb", 2);
	outring_put(&r, 1, "c", 1);
	outring_trim(&r, 3);
	dump(&r, &b);
	assert_string_equal(buf_cstr(&b), "2:bb|1:c|");
	assert_int_equal(r.dropped, 4);
	outring_trim(&r, 0);
	dump(&r, &b);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(r.kept, 0);
	assert_int_equal(r.dropped, 7);
	buf_free(&b);
	outring_free(&r);
}

static void test_memory_stays_bounded(void **state)
{
	(void)state;
	struct outring r;
	char chunk[1000];
	memset(chunk, 'x', sizeof(chunk));
	outring_init(&r, 64 * 1024);
	for (int i = 0; i < 10000; i++)
		outring_put(&r, 1 + i % 2, chunk, sizeof(chunk));
	assert_true(r.kept <= r.cap && r.kept > r.cap - sizeof(chunk));
	assert_int_equal(r.kept + r.dropped, 10000ull * sizeof(chunk));
	/* The dead prefix is compacted away: at most twice the live records. */
	assert_true(r.data.len <= 2 * (r.kept + 5 * (r.cap / sizeof(chunk) + 1)) + 1005);
	outring_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keeps_order_and_streams),
		cmocka_unit_test(test_drops_the_oldest_and_counts),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_memory_stays_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
