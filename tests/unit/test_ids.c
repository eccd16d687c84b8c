/* src/common/ids.c: identifiers that end up in paths and names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"

#define N_IDS 1000

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_new_sandbox_ids_are_valid_and_distinct(void **state)
{
	(void)state;
	static char ids[N_IDS][SANDBOX_ID_LEN + 1];
	for (int i = 0; i < N_IDS; i++) {
		memset(ids[i], 'X', sizeof(ids[i]));
		id_new_sandbox(ids[i]);
		assert_int_equal(strlen(ids[i]), SANDBOX_ID_LEN);
		assert_memory_equal(ids[i], "sb-", 3);
		assert_true(id_valid_sandbox(ids[i]));
	}
	qsort(ids, N_IDS, sizeof(ids[0]), cmp_str);
	for (int i = 1; i < N_IDS; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
}

static void test_valid_sandbox_accepts_the_documented_shape(void **state)
{
	(void)state;
	assert_int_equal(SANDBOX_ID_LEN, 15);
	assert_true(id_valid_sandbox("sb-abcdefghijkm"));
	assert_true(id_valid_sandbox("sb-23456789zzzz"));
}

static void test_valid_sandbox_rejects_bad_ids(void **state)
{
	(void)state;
	assert_false(id_valid_sandbox(NULL));
	assert_false(id_valid_sandbox(""));
	assert_false(id_valid_sandbox("sb-"));
	assert_false(id_valid_sandbox("sb-abcdefghijk")); /* 11 random characters */
	assert_false(id_valid_sandbox("sb-abcdefghijkmn")); /* 13 */
	assert_false(id_valid_sandbox("xb-abcdefghijkm")); /* prefix */
	assert_false(id_valid_sandbox("SB-abcdefghijkm"));
	assert_false(id_valid_sandbox("sbxabcdefghijkm"));
	assert_false(id_valid_sandbox("sb-abcdefGhijkm")); /* uppercase */
	assert_false(id_valid_sandbox("sb-../../etc/pa")); /* path characters */
	assert_false(id_valid_sandbox("sb-abcdefghij/m"));
	assert_false(id_valid_sandbox("sb-abcdef-hijkm"));
	assert_false(id_valid_sandbox("sb-abcdef ghijk"));
	/* Characters outside the id alphabet (no l, o, 0, 1). */
	assert_false(id_valid_sandbox("sb-abcdefghijkl"));
	assert_false(id_valid_sandbox("sb-abcdefghijko"));
	assert_false(id_valid_sandbox("sb-abcdefghijk0"));
	assert_false(id_valid_sandbox("sb-abcdefghijk1"));
}

static void test_valid_template_accepts_names(void **state)
{
	(void)state;
	char max[TEMPLATE_NAME_MAX + 1];
	memset(max, 'a', TEMPLATE_NAME_MAX);
	max[TEMPLATE_NAME_MAX] = '\0';
	assert_true(id_valid_template("code-interpreter"));
	assert_true(id_valid_template("a"));
	assert_true(id_valid_template("7"));
	assert_true(id_valid_template("py3-12-"));
	assert_true(id_valid_template(max));
}

static void test_valid_template_rejects_bad_names(void **state)
{
	(void)state;
	char too_long[TEMPLATE_NAME_MAX + 2];
	memset(too_long, 'a', TEMPLATE_NAME_MAX + 1);
	too_long[TEMPLATE_NAME_MAX + 1] = '\0';
	assert_false(id_valid_template(too_long));
	assert_false(id_valid_template(NULL));
	assert_false(id_valid_template(""));
	assert_false(id_valid_template("-a"));
	assert_false(id_valid_template("Code"));
	assert_false(id_valid_template("codE"));
	assert_false(id_valid_template("a/b"));
	assert_false(id_valid_template("../x"));
	assert_false(id_valid_template("a.b"));
	assert_false(id_valid_template("."));
	assert_false(id_valid_template("a_b"));
	assert_false(id_valid_template("a b"));
	assert_false(id_valid_template(" a"));
}

static int is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static void test_key_names(void **state)
{
	(void)state;
	assert_true(id_valid_key_name("default"));
	assert_true(id_valid_key_name("team-a_2"));
	assert_true(id_valid_key_name("0"));
	assert_true(id_valid_key_name("a2345678901234567890123456789012"));
	assert_false(id_valid_key_name("a23456789012345678901234567890123"));
	assert_false(id_valid_key_name(""));
	assert_false(id_valid_key_name(NULL));
	assert_false(id_valid_key_name("-a"));
	assert_false(id_valid_key_name("_a"));
	assert_false(id_valid_key_name("Alice"));
	assert_false(id_valid_key_name("a b"));
	assert_false(id_valid_key_name("a/b"));
	assert_false(id_valid_key_name("a\"\""));
}

static void test_new_build_ids_are_valid_and_sortable(void **state)
{
	(void)state;
	char a[48], b[48];
	id_new_build(a, sizeof(a));
	/* 20261128T011455-3k9d */
	assert_int_equal(strlen(a), 20);
	assert_true(is_digits(a, 8));
	assert_int_equal(a[8], 'T');
	assert_true(is_digits(a + 9, 6));
	assert_int_equal(a[15], '-');
	assert_true(id_valid_build(a));
	int distinct = 0;
	for (int i = 0; i < 20; i++) {
		id_new_build(b, sizeof(b));
		assert_true(id_valid_build(b));
		/* Later ids never sort before earlier ones (same second or later). */
		assert_true(strncmp(a, b, 15) <= 0);
		distinct += strcmp(a, b) != 0;
	}
	assert_true(distinct > 0);
}

static void test_new_build_truncates_to_the_buffer(void **state)
{
	(void)state;
	char small[10];
	memset(small, 'X', sizeof(small));
	id_new_build(small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_valid_build_rejects_bad_ids(void **state)
{
	(void)state;
	char too_long[42];
	memset(too_long, '1', 41);
	too_long[41] = '\0';
	assert_false(id_valid_build(too_long));
	too_long[40] = '\0';
	assert_true(id_valid_build(too_long));
	assert_false(id_valid_build(NULL));
	assert_false(id_valid_build(""));
	assert_false(id_valid_build("../20261128"));
	assert_false(id_valid_build("2026/1128"));
	assert_false(id_valid_build("2026.1128"));
	assert_false(id_valid_build("20261128t011455-ABCD"));
	assert_false(id_valid_build("2026 1128"));
}

static void test_random_bytes_fill_the_buffer(void **state)
{
	(void)state;
	uint8_t a[64], b[64];
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	random_bytes(a, sizeof(a));
	random_bytes(b, sizeof(b));
	/* 2^-512 chance of a false failure. */
	assert_memory_not_equal(a, b, sizeof(a));
	int zeros = 0;
	for (size_t i = 0; i < sizeof(a); i++)
		zeros += a[i] == 0;
	assert_true(zeros < 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_sandbox_ids_are_valid_and_distinct),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_valid_sandbox_accepts_the_documented_shape),
		cmocka_unit_test(test_valid_sandbox_rejects_bad_ids),
		cmocka_unit_test(test_valid_template_accepts_names),
		cmocka_unit_test(test_valid_template_rejects_bad_names),
		cmocka_unit_test(test_new_build_ids_are_valid_and_sortable),
		cmocka_unit_test(test_new_build_truncates_to_the_buffer),
		cmocka_unit_test(test_valid_build_rejects_bad_ids),
		cmocka_unit_test(test_random_bytes_fill_the_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
