/* src/common/buf.c: the growable byte buffer and the x* allocators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_append_grows_and_keeps_content(void **state)
{
	(void)state;
	struct buf b = { 0 };
	char chunk[37];
	for (int i = 0; i < 300; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		buf_append(&b, chunk, sizeof(chunk));
		assert_int_equal(b.len, (size_t)(i + 1) * sizeof(chunk));
		assert_true(b.cap > b.len);
	}
	for (int i = 0; i < 300; i++)
		for (size_t j = 0; j < sizeof(chunk); j++)
			assert_int_equal(b.data[(size_t)i * sizeof(chunk) + j], 'a' + i % 26);
	buf_free(&b);
}

static void test_append_of_nothing_changes_nothing(void **state)
{
	(void)state;
	struct buf b = { 0 };
	buf_append(&b, NULL, 0);
	assert_int_equal(b.len, 0);
	buf_append_str(&b, "xy");
	buf_append(&b, "zzz", 0);
	buf_append_str(&b, "");
	assert_int_equal(b.len, 2);
	assert_string_equal(buf_cstr(&b), "xy");
	buf_free(&b);
}

static void test_reserve_leaves_room_for_a_terminator(void **state)
{
	(void)state;
	struct buf b = { 0 };
	buf_append_str(&b, "abc");
	buf_reserve(&b, 1000);
	assert_true(b.cap >= 3 + 1000 + 1);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "abc", 3);
	size_t cap = b.cap;
	buf_reserve(&b, 10);
	assert_int_equal(b.cap, cap);
	buf_free(&b);
}

static void test_printf_appends_formatted_text(void **state)
{
	(void)state;
	struct buf b = { 0 };
	buf_append_str(&b, "n=");
	buf_printf(&b, "%d,%s,%05.1f", 42, "x", 3.14159);
	assert_string_equal(buf_cstr(&b), "n=42,x,003.1");
	assert_int_equal(b.len, 12);
	buf_printf(&b, "%s", "");
	assert_int_equal(b.len, 12);
	buf_free(&b);
}

static void test_printf_output_larger_than_the_first_allocation(void **state)
{
	(void)state;
	struct buf b = { 0 };
	char big[5000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "<%s>", big);
	assert_int_equal(b.len, sizeof(big) - 1 + 2);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[b.len - 1], '>');
	assert_int_equal(b.data[2500], 'q');
	buf_free(&b);
}

static void test_cstr_terminates_without_changing_len(void **state)
{
	(void)state;
	struct buf b = { 0 };
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	buf_append(&b, "abc", 3);
	assert_string_equal(buf_cstr(&b), "abc");
	assert_int_equal(b.len, 3);
	buf_append(&b, "d", 1);
	assert_string_equal(buf_cstr(&b), "abcd");
	buf_free(&b);
}

static void test_consume_drops_a_prefix(void **state)
{
	(void)state;
	struct buf b = { 0 };
	buf_append_str(&b, "0123456789");
	buf_consume(&b, 0);
	assert_string_equal(buf_cstr(&b), "0123456789");
	buf_consume(&b, 3);
	assert_int_equal(b.len, 7);
	assert_string_equal(buf_cstr(&b), "3456789");
	buf_consume(&b, 6);
	assert_string_equal(buf_cstr(&b), "9");
	buf_consume(&b, 1);
	assert_int_equal(b.len, 0);
	buf_append_str(&b, "ab");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	buf_append_str(&b, "z");
	assert_string_equal(buf_cstr(&b), "z");
	buf_free(&b);
}

static void test_steal_hands_over_a_terminated_string(void **state)
{
	(void)state;
	struct buf b = { 0 };
	buf_append(&b, "hello", 5);
	size_t len = 0;
	char *s = buf_steal(&b, &len);
	assert_int_equal(len, 5);
	assert_string_equal(s, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* The buffer is usable again and no longer shares the allocation. */
	buf_append_str(&b, "next");
	assert_ptr_not_equal((void *)b.data, (void *)s);
	assert_string_equal(s, "hello");
	free(s);
	s = buf_steal(&b, NULL);
	assert_string_equal(s, "next");
	free(s);
}

static void test_steal_of_an_empty_buffer_is_an_empty_string(void **state)
{
	(void)state;
	struct buf b = { 0 };
	size_t len = 99;
	char *s = buf_steal(&b, &len);
	assert_non_null(s);
	assert_int_equal(len, 0);
	assert_string_equal(s, "");
	free(s);
}

static void test_reset_keeps_capacity_and_free_is_idempotent(void **state)
{
	(void)state;
	struct buf b = { 0 };
	buf_append_str(&b, "some text");
	size_t cap = b.cap;
	uint8_t *data = b.data;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	buf_free(&b);
	assert_null(b.data);
}

static void test_cleanup_attribute_frees(void **state)
{
	(void)state;
	/* Leak-checked under ASan: the attribute must release it. */
	_cleanup_buf_ struct buf b = { 0 };
	buf_printf(&b, "%0512d", 7);
	assert_int_equal(b.len, 512);
}

static void test_x_allocators(void **state)
{
	(void)state;
	char *s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	s = xstrdup("");
	assert_string_equal(s, "");
	free(s);
	s = xasprintf("%s-%03d", "id", 7);
	assert_string_equal(s, "id-007");
	free(s);
	uint8_t *z = xcalloc(16, 4);
	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	free(z);
	/* Zero-size requests still return a pointer that can be freed. */
	void *p = xmalloc(0);
	assert_non_null(p);
	p = xrealloc(p, 0);
	assert_non_null(p);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_grows_and_keeps_content),
		cmocka_unit_test(test_append_of_nothing_changes_nothing),
		cmocka_unit_test(test_reserve_leaves_room_for_a_terminator),
		cmocka_unit_test(test_printf_appends_formatted_text),
		cmocka_unit_test(test_printf_output_larger_than_the_first_allocation),
		cmocka_unit_test(test_cstr_terminates_without_changing_len),
		cmocka_unit_test(test_consume_drops_a_prefix),
		cmocka_unit_test(test_steal_hands_over_a_terminated_string),
		cmocka_unit_test(test_steal_of_an_empty_buffer_is_an_empty_string),
		cmocka_unit_test(test_reset_keeps_capacity_and_free_is_idempotent),
		cmocka_unit_test(test_cleanup_attribute_frees),
		cmocka_unit_test(test_x_allocators),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
