/* src/common/reqid.c and the request id in log lines (log.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "reqid.h"

#define N_IDS 4000
#define N_THREADS 4

static void test_valid_accepts_the_documented_shape(void **state)
{
	(void)state;
	assert_true(reqid_valid("a"));
	assert_true(reqid_valid("req_0123456789abcdef"));
	assert_true(reqid_valid("Trace-1.2:3_x"));
	char max[REQID_MAX + 1];
	memset(max, 'z', REQID_MAX);
	max[REQID_MAX] = '\0';
	assert_true(reqid_valid(max));
}

static void test_valid_refuses_what_a_log_line_would_quote(void **state)
{
	(void)state;
	char over[REQID_MAX + 2];
	memset(over, 'z', REQID_MAX + 1);
	over[REQID_MAX + 1] = '\0';
	assert_false(reqid_valid(over));
	assert_false(reqid_valid(NULL));
	assert_false(reqid_valid(""));
	const char *bad[] = { "a b",  "a=b", "a\"b", "a\nb", "a/b",	 "a\\b",
			      "é",    "a\tb", "a,b", "a;b",  "req_ 1", "x\x01" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(reqid_valid(bad[i]));
}

static void test_take_keeps_a_valid_id_and_replaces_a_bad_one(void **state)
{
	(void)state;
	char out[REQID_SIZE];
	reqid_take("client-1", out);
	assert_string_equal(out, "client-1");
	reqid_take("bad id", out);
	assert_int_equal(strlen(out), 20);
	assert_memory_equal(out, "req_", 4);
	reqid_take(NULL, out);
	assert_memory_equal(out, "req_", 4);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static char ids[N_IDS][REQID_SIZE];

static void *make_ids(void *arg)
{
	size_t first = (size_t)(uintptr_t)arg;
	for (size_t i = first; i < first + N_IDS / N_THREADS; i++)
		reqid_new(ids[i]);
	return NULL;
}

/* Made from several threads at once: each the documented shape, and no
 * two alike. */
static void test_new_ids_are_well_formed_and_distinct(void **state)
{
	(void)state;
	pthread_t t[N_THREADS];
	for (size_t i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, make_ids,
						(void *)(uintptr_t)(i * (N_IDS / N_THREADS))),
				 0);
	for (size_t i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	for (size_t i = 0; i < N_IDS; i++) {
		assert_int_equal(strlen(ids[i]), 20);
		assert_memory_equal(ids[i], "req_", 4);
		assert_int_equal(strspn(ids[i] + 4, "0123456789abcdef"), 16);
		assert_true(reqid_valid(ids[i]));
	}
	qsort(ids, N_IDS, sizeof(ids[0]), cmp_str);
	for (size_t i = 1; i < N_IDS; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
}

/* Runs fn with stderr sent to a temp file; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
	FILE *f = tmpfile();
	assert_non_null(f);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), 2) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	char *text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

static void log_three(void)
{
	log_notice("t.none", "a=1");
	log_set_request_id("req_00000000000000ab");
	log_notice("t.with", "a=2");
	char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_notice("t.long", "v=%s", big);
	log_set_request_id(NULL);
	log_notice("t.cleared", "a=3");
}

static void test_log_lines_carry_the_thread_request_id(void **state)
{
	(void)state;
	assert_null(log_request_id());
	char *text = capture_stderr(log_three);
	char *lines[4] = { 0 };
	char *save = NULL;
	for (int i = 0; i < 4; i++)
		lines[i] = strtok_r(i ? NULL : text, "\n", &save);
	assert_non_null(lines[3]);
	assert_null(strstr(lines[0], "req="));
	assert_non_null(strstr(lines[1], "event=t.with a=2 req=req_00000000000000ab"));
	/* A line cut for length still ends with the id. */
	size_t n = strlen(lines[2]);
	assert_true(n < 2048);
	assert_string_equal(lines[2] + n - 25, " req=req_00000000000000ab");
	assert_null(strstr(lines[3], "req="));
	assert_null(log_request_id());
	free(text);
}

static void *other_thread(void *arg)
{
	(void)arg;
	return (void *)log_request_id();
}

static void test_the_id_is_per_thread(void **state)
{
	(void)state;
	log_set_request_id("mine");
	pthread_t t;
	void *seen = (void *)1;
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	pthread_join(t, &seen);
	assert_null(seen);
	assert_string_equal(log_request_id(), "mine");
	log_set_request_id("");
	assert_null(log_request_id());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_accepts_the_documented_shape),
		cmocka_unit_test(test_valid_refuses_what_a_log_line_would_quote),
		cmocka_unit_test(test_take_keeps_a_valid_id_and_replaces_a_bad_one),
		cmocka_unit_test(test_new_ids_are_well_formed_and_distinct),
		cmocka_unit_test(test_log_lines_carry_the_thread_request_id),
		cmocka_unit_test(test_the_id_is_per_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
