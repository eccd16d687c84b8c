/* src/thawd/core/usering.c: a sandbox's usage ring (wrap-around, range
 * queries, compact storage, its memory bound); and the API's time
 * parameters (src/common/timeutil.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/usering.h"
#include "timeutil.h"

static struct usage_point at(int64_t t)
{
	return (struct usage_point){ .t = t,
				     .cpu_used_pct = (double)(t % 100),
				     .cpu_count = 2,
				     .mem_used = (uint64_t)t << 20,
				     .mem_total = 1ull << 30,
				     .disk_used = 4096 * (uint64_t)t,
				     .disk_total = 4ull << 30,
				     .net_rx = 100 * (uint64_t)t,
				     .net_tx = 7ull << 33 };
}

static void test_empty_ring_allocates_nothing(void **state)
{
	(void)state;
	struct usering r;
	usering_init(&r, 720);
	struct usage_point out[4];
	assert_null(r.s);
	assert_int_equal(usering_range(&r, 0, INT64_MAX, out, 4), 0);
	usering_free(&r);
}

static void test_keeps_the_newest_in_order(void **state)
{
	(void)state;
	struct usering r;
	usering_init(&r, 5);
	for (int64_t t = 1000; t < 1012; t++) {
		struct usage_point p = at(t);
		usering_push(&r, &p);
	}
	struct usage_point out[8];
	size_t n = usering_range(&r, 0, INT64_MAX, out, 8);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		int64_t t = 1007 + (int64_t)i;
		assert_int_equal(out[i].t, t);
		assert_int_equal(out[i].mem_used, (uint64_t)t << 20);
		assert_int_equal(out[i].disk_used, 4096 * (uint64_t)t);
		assert_int_equal(out[i].net_rx, 100 * (uint64_t)t);
		assert_int_equal(out[i].net_tx, 7ull << 33); /* 64 bits kept */
		assert_int_equal(out[i].cpu_count, 2);
		assert_true(out[i].cpu_used_pct == (double)(t % 100));
		assert_int_equal(out[i].mem_total, 1ull << 30);
	}
	usering_free(&r);
}

static void test_range_is_inclusive_and_bounded(void **state)
{
	(void)state;
	struct usering r;
	usering_init(&r, 10);
	for (int64_t t = 100; t < 130; t += 5) {
		struct usage_point p = at(t);
		usering_push(&r, &p);
	}
	struct usage_point out[10];
	size_t n = usering_range(&r, 105, 120, out, 10);
	assert_int_equal(n, 4);
	assert_int_equal(out[0].t, 105);
	assert_int_equal(out[3].t, 120);
	assert_int_equal(usering_range(&r, 106, 109, out, 10), 0);
	assert_int_equal(usering_range(&r, 200, 300, out, 10), 0);
	/* max caps what is written */
	assert_int_equal(usering_range(&r, 0, INT64_MAX, out, 2), 2);
	assert_int_equal(out[1].t, 105);
	usering_free(&r);
}

static void test_values_are_clamped_not_wrapped(void **state)
{
	(void)state;
	struct usering r;
	usering_init(&r, 2);
	struct usage_point p = at(1);
	p.cpu_used_pct = 250;
	p.mem_used = 1ull << 50; /* past 32 bits of KiB */
	usering_push(&r, &p);
	p.cpu_used_pct = -3;
	p.mem_used = 1000; /* rounded up to a KiB */
	usering_push(&r, &p);
	struct usage_point out[2];
	assert_int_equal(usering_range(&r, 0, INT64_MAX, out, 2), 2);
	assert_true(out[0].cpu_used_pct == 100.0);
	assert_int_equal(out[0].mem_used, (uint64_t)UINT32_MAX * 1024);
	assert_true(out[1].cpu_used_pct == 0.0);
	assert_int_equal(out[1].mem_used, 1024);
	usering_free(&r);
}

/* The bound the sampler is sized by: an hour at 5 s for 500 sandboxes in
 * a few MB (a sample is 32 bytes). */
static void test_memory_bound(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct usage_sample), 32);
	size_t per = usering_bytes(720);
	assert_true(per < 24 * 1024);
	assert_true(500 * per < 12u << 20);
	/* A full ring allocated exactly its cap, once. */
	struct usering r;
	usering_init(&r, 720);
	for (int64_t t = 0; t < 2000; t++) {
		struct usage_point p = at(t);
		usering_push(&r, &p);
	}
	assert_int_equal(r.n, 720);
	assert_int_equal(r.cap, 720);
	usering_free(&r);
}

static void test_api_times(void **state)
{
	(void)state;
	int64_t t = 0;
	assert_int_equal(time_parse_api("1796616005", &t), 0);
	assert_int_equal(t, 1796616005);
	assert_int_equal(time_parse_api("2026-12-07T04:00:05Z", &t), 0);
	assert_int_equal(t, 1796616005);
	assert_int_equal(time_parse_api("2026-12-07T06:00:05.25+02:00", &t), 0);
	assert_int_equal(t, 1796616005);
	assert_int_equal(time_parse_api("0", &t), 0);
	assert_int_equal(t, 0);
	const char *bad[] = { "", "-5", "12x", "yesterday", "2026-12-07", "2026-12-07T04:00:05",
			      "2026-12-07T04:00:05Zjunk", "9999999999999", " 12" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(time_parse_api(bad[i], &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_ring_allocates_nothing),
		cmocka_unit_test(test_keeps_the_newest_in_order),
		cmocka_unit_test(test_range_is_inclusive_and_bounded),
		cmocka_unit_test(test_values_are_clamped_not_wrapped),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_api_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
