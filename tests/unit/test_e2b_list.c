/* src/thawd/e2b/list_query.c: E2B's list query onto /v1's filters:
 * metadata pairs encoded twice, both states or one, template aliases,
 * RFC 3339 times with fractions and offsets, the cursor in either order,
 * and every bad value refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2b/list_query.h"
#include "timeutil.h"

static int param(struct e2b_list_query *lq, const char *name, const char *value, char *msg)
{
	struct thaw_err *err = NULL;
	int rc = e2b_list_param(lq, name, value, &err);
	if (rc < 0) {
		snprintf(msg, 256, "%.255s", err->msg);
		err_free(err);
	}
	return rc;
}

static void test_metadata_and_template(void **state)
{
	(void)state;
	struct e2b_list_query lq;
	char msg[256];
	e2b_list_query_init(&lq);
	assert_int_equal(lq.q.limit, E2B_LIST_LIMIT_DEFAULT);
	/* The SDK's URLSearchParams of encodeURIComponent'd pairs, once
	 * decoded as a query value. */
	assert_int_equal(param(&lq, "metadata", "run=abc&a%20b%26c%3D=x%2By", msg), 0);
	assert_int_equal(lq.q.nmeta, 2);
	assert_string_equal(lq.q.meta_key[1], "a b&c=");
	assert_string_equal(lq.q.meta_value[1], "x+y");
	assert_int_equal(param(&lq, "template", "base", msg), 0);
	assert_string_equal(lq.q.template_name, "code-interpreter");
	assert_int_equal(param(&lq, "limit", "2", msg), 0);
	assert_int_equal(lq.q.limit, 2);
	assert_true(sblist_match(&lq.q, "o", "code-interpreter", SB_RUNNING, 1, "sb-aaaaaaaaaaaa",
				 "{\"run\":\"abc\",\"a b&c=\":\"x+y\"}"));
	assert_false(sblist_match(&lq.q, "o", "code-interpreter", SB_RUNNING, 1, "sb-aaaaaaaaaaaa",
				  "{\"run\":\"abc\"}"));
	e2b_list_query_free(&lq);
}

static void test_states_times_cursor(void **state)
{
	(void)state;
	struct e2b_list_query lq;
	char msg[256];
	e2b_list_query_init(&lq);
	assert_true(e2b_list_match(&lq, true, 5, "sb-aaaaaaaaaaaa"));
	assert_int_equal(param(&lq, "state", "paused", msg), 0);
	assert_true(e2b_list_match(&lq, true, 5, "sb-aaaaaaaaaaaa"));
	assert_false(e2b_list_match(&lq, false, 5, "sb-aaaaaaaaaaaa"));
	assert_int_equal(param(&lq, "state", "running,paused", msg), 0);
	assert_true(e2b_list_match(&lq, false, 5, "sb-aaaaaaaaaaaa"));
	int64_t t;
	assert_int_equal(time_parse_rfc3339("2026-12-06T21:35:09.688Z", &t), 0);
	assert_int_equal(t, 1796592909);
	assert_int_equal(time_parse_rfc3339("2026-12-06T22:35:09+01:00", &t), 0);
	assert_int_equal(t, 1796592909);
	assert_int_equal(time_parse_rfc3339("2026-12-06T21:35:09", &t), -1);
	assert_int_equal(time_parse_rfc3339("2026-12-06T21:35:09Zjunk", &t), -1);
	assert_int_equal(param(&lq, "startedAfter", "1970-01-01T00:00:10Z", msg), 0);
	assert_false(e2b_list_match(&lq, false, 10, "sb-aaaaaaaaaaaa"));
	assert_true(e2b_list_match(&lq, false, 11, "sb-aaaaaaaaaaaa"));
	char tok[PAGE_TOKEN_MAX];
	page_token_make(20, "sb-bbbbbbbbbbbb", tok);
	assert_int_equal(param(&lq, "nextToken", tok, msg), 0);
	assert_false(e2b_list_match(&lq, false, 20, "sb-bbbbbbbbbbbb"));
	assert_true(e2b_list_match(&lq, false, 20, "sb-cccccccccccc"));
	assert_false(e2b_list_match(&lq, false, 19, "sb-cccccccccccc"));
	assert_int_equal(param(&lq, "order", "desc", msg), 0);
	assert_true(e2b_list_match(&lq, false, 19, "sb-cccccccccccc"));
	assert_false(e2b_list_match(&lq, false, 20, "sb-cccccccccccc"));
	e2b_list_query_free(&lq);
}

static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *name, *value, *says;
	} cases[] = {
		{ "state", "running,killed", "killed" },
		{ "metadata", "novalue", "metadata" },
		{ "metadata", "k=%zz", "metadata" },
		{ "template", "Not_A_Name", "templateID" },
		{ "limit", "0", "limit" },
		{ "limit", "1001", "limit" },
		{ "nextToken", "zz", "nextToken" },
		{ "startedAfter", "yesterday", "startedAfter" },
		{ "order", "random", "order" },
		{ "bogus", "1", "bogus" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct e2b_list_query lq;
		char msg[256] = "";
		e2b_list_query_init(&lq);
		if (param(&lq, cases[i].name, cases[i].value, msg) == 0 ||
		    !strstr(msg, cases[i].says))
			fail_msg("%s=%s: got \"%s\", want a refusal naming %s", cases[i].name,
				 cases[i].value, msg, cases[i].says);
		e2b_list_query_free(&lq);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metadata_and_template),
		cmocka_unit_test(test_states_times_cursor),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
