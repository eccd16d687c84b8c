/* src/thawd/guestconn/interp.c: the code interpreter's answers, which
 * come from inside the guest, checked and rebuilt; and the run_code and
 * context request bodies (api/validate_code.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/validate.h"
#include "guestconn/interp.h"
#include "testutil.h"

static json_t *parse_ok(const char *line)
{
	struct thaw_err *err = NULL;
	json_t *ev = interp_event_parse((const uint8_t *)line, strlen(line), &err);
	if (!ev)
		fail_msg("%s refused: %s", line, err_msg(err));
	return ev;
}

static void parse_bad(const char *line)
{
	struct thaw_err *err = NULL;
	json_t *ev = interp_event_parse((const uint8_t *)line, strlen(line), &err);
	if (ev)
		fail_msg("%s accepted", line);
	assert_int_equal(err->code, ERR_GUEST);
	err_free(err);
}

static void test_events_are_rebuilt_from_known_fields(void **state)
{
	(void)state;
	json_t *ev = parse_ok("{\"type\":\"result\",\"is_main_result\":true,\"text\":\"1\","
			      "\"png\":\"iVBO\",\"json\":{\"a\":[1]},\"evil\":\"x\",\"html\":null}");
	assert_int_equal(json_object_size(ev), 5); /* type, is_main_result, text, png, json */
	assert_null(json_object_get(ev, "evil"));
	assert_null(json_object_get(ev, "html"));
	json_decref(ev);
	ev = parse_ok("{\"type\":\"stdout\",\"text\":\"hi\\n\",\"extra\":1}");
	assert_int_equal(json_object_size(ev), 2);
	json_decref(ev);
	ev = parse_ok("{\"type\":\"error\",\"name\":\"E\",\"value\":\"v\",\"traceback\":\"\"}");
	assert_string_equal(json_string_value(json_object_get(ev, "name")), "E");
	json_decref(ev);
	ev = parse_ok("{\"type\":\"end\",\"duration_ms\":\"soon\"}");
	assert_true(json_number_value(json_object_get(ev, "duration_ms")) == 0.0);
	json_decref(ev);
}

static void test_malformed_events_are_refused(void **state)
{
	(void)state;
	parse_bad("");
	parse_bad("[1]");
	parse_bad("{\"type\":\"launch\"}");
	parse_bad("{\"type\":7}");
	parse_bad("{\"type\":\"stdout\",\"text\":5}");
	parse_bad("{\"type\":\"result\",\"text\":\"1\"}");			/* no is_main_result */
	parse_bad("{\"type\":\"result\",\"is_main_result\":true,\"png\":[1]}");
	parse_bad("{\"type\":\"result\",\"is_main_result\":true,\"json\":\"str\"}");
	parse_bad("{\"type\":\"error\",\"name\":\"E\"}");
	parse_bad("{\"type\":\"stdout\",\"text\":\"a\",\"type\":\"stderr\"}"); /* duplicate */
	parse_bad("{\"type\":\"stdout\",\"text\":\"\xff\"}");		      /* not UTF-8 */
}

struct lines_seen {
	int n;
	char last[64];
};

static void count_line(const uint8_t *line, size_t len, void *ud)
{
	struct lines_seen *s = ud;
	s->n++;
	snprintf(s->last, sizeof(s->last), "%.*s", (int)len, (const char *)line);
}

static void test_lines_split_across_chunks_and_bounded(void **state)
{
	(void)state;
	struct interp_lines l = { 0 };
	struct lines_seen s = { 0 };
	interp_lines_feed(&l, (const uint8_t *)"ab", 2, count_line, &s);
	assert_int_equal(s.n, 0);
	interp_lines_feed(&l, (const uint8_t *)"c\nde\n\nf", 7, count_line, &s);
	assert_int_equal(s.n, 2); /* empty lines are skipped */
	assert_string_equal(s.last, "de");
	interp_lines_feed(&l, (const uint8_t *)"\n", 1, count_line, &s);
	assert_string_equal(s.last, "f");
	/* A line over the limit is dropped whole and flagged; the next one is
	 * read normally. */
	size_t big = INTERP_MAX_LINE + 10;
	uint8_t *junk = malloc(big);
	memset(junk, 'x', big);
	interp_lines_feed(&l, junk, big, count_line, &s);
	interp_lines_feed(&l, (const uint8_t *)"yy\nok\n", 6, count_line, &s);
	free(junk);
	assert_true(l.too_long);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.last, "ok");
	interp_lines_free(&l);
}

static void add(struct interp_answer *a, const char *line)
{
	json_t *ev = parse_ok(line);
	interp_answer_add(a, ev);
	json_decref(ev);
}

static void test_answer_collects_in_order(void **state)
{
	(void)state;
	struct interp_answer a;
	interp_answer_init(&a);
	add(&a, "{\"type\":\"stdout\",\"text\":\"a\"}");
	add(&a, "{\"type\":\"result\",\"is_main_result\":false,\"png\":\"P\",\"text\":\"<Figure>\"}");
	add(&a, "{\"type\":\"stdout\",\"text\":\"b\"}");
	add(&a, "{\"type\":\"stderr\",\"text\":\"w\"}");
	add(&a, "{\"type\":\"result\",\"is_main_result\":true,\"text\":\"42\"}");
	add(&a, "{\"type\":\"end\",\"duration_ms\":3}");
	add(&a, "{\"type\":\"stdout\",\"text\":\"after the end\"}");
	json_t *o = interp_answer_json(&a);
	assert_string_equal(json_string_value(json_object_get(o, "stdout")), "ab");
	assert_string_equal(json_string_value(json_object_get(o, "stderr")), "w");
	assert_string_equal(json_string_value(json_object_get(o, "result")), "42");
	assert_true(json_is_null(json_object_get(o, "error")));
	json_t *res = json_object_get(o, "results");
	assert_int_equal(json_array_size(res), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(res, 0), "png")), "P");
	assert_null(json_object_get(json_array_get(res, 0), "type"));
	json_decref(o);
	interp_answer_free(&a);
}

static void test_replies_map_refusals_to_codes(void **state)
{
	(void)state;
	struct thaw_err *err = NULL;
	const char *nf = "{\"error\":{\"name\":\"RequestError\",\"value\":\"no context\",\"code\":"
			 "\"not_found\"}}\n";
	assert_null(interp_reply_parse((const uint8_t *)nf, strlen(nf), &err));
	assert_int_equal(err->code, ERR_NOT_FOUND);
	err_free(err);
	err = NULL;
	const char *cf = "{\"error\":{\"value\":\"default\",\"code\":\"conflict\"}}";
	assert_null(interp_reply_parse((const uint8_t *)cf, strlen(cf), &err));
	assert_int_equal(err->code, ERR_CONFLICT);
	err_free(err);
	err = NULL;
	assert_null(interp_reply_parse((const uint8_t *)"nope", 4, &err));
	assert_int_equal(err->code, ERR_GUEST);
	err_free(err);
	err = NULL;
	json_t *ok = json_loads("{\"id\":\"ctx-1\",\"cwd\":\"/\",\"env\":{\"A\":\"b\"},\"pid\":9,"
				"\"x\":1}",
				0, NULL);
	json_t *c = interp_context_check(ok, &err);
	assert_non_null(c);
	assert_null(json_object_get(c, "x"));
	assert_string_equal(json_string_value(json_object_get(c, "language")), "python");
	json_decref(c);
	json_object_set_new(json_object_get(ok, "env"), "B", json_integer(1));
	assert_null(interp_context_check(ok, &err));
	assert_int_equal(err->code, ERR_GUEST);
	err_free(err);
	json_decref(ok);
}

static void run_code_bad(const char *body, const char *mentions)
{
	json_t *b = json_loads(body, JSON_ALLOW_NUL, NULL);
	assert_non_null(b);
	struct run_code_params p;
	struct thaw_err *err = NULL;
	if (validate_run_code(b, &p, &err) == 0)
		fail_msg("%s accepted", body);
	if (!strstr(err_msg(err), mentions))
		fail_msg("error \"%s\" does not mention \"%s\"", err_msg(err), mentions);
	err_free(err);
	json_decref(b);
}

static void test_run_code_bodies(void **state)
{
	(void)state;
	json_t *b = json_loads("{\"code\":\"1\",\"context\":\"ctx-a_1\",\"env\":{\"A\":\"b\"},"
			       "\"stream\":true,\"timeout_s\":5}",
			       0, NULL);
	struct run_code_params p;
	struct thaw_err *err = NULL;
	assert_int_equal(validate_run_code(b, &p, &err), 0);
	assert_true(p.stream);
	assert_int_equal(p.timeout_s, 5);
	assert_string_equal(p.context, "ctx-a_1");
	json_decref(b);
	run_code_bad("{\"code\":\"a\\u0000b\"}", "NUL");
	run_code_bad("{\"code\":\"1\",\"context\":\"../x\"}", "context");
	run_code_bad("{\"code\":\"1\",\"context\":\"\"}", "context");
	run_code_bad("{\"code\":\"1\",\"env\":{\"1A\":\"x\"}}", "name");
	run_code_bad("{\"code\":\"1\",\"env\":{\"A\":1}}", "string");
	run_code_bad("{\"code\":\"1\",\"env\":[]}", "object");
	run_code_bad("{\"code\":\"1\",\"stream\":\"yes\"}", "run_code wants");
	run_code_bad("{\"code\":\"1\",\"timeout_s\":0}", "timeout_s");
	run_code_bad("{\"code\":\"1\",\"language\":\"r\"}", "language");
}

static void test_context_bodies(void **state)
{
	(void)state;
	const char *bad[] = { "{\"cwd\":\"tmp\"}", "{\"env\":{\"=\":\"x\"}}", "{\"language\":\"js\"}",
			      "{\"cwd\":\"/a\\u0000b\"}", "{\"name\":\"x\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_loads(bad[i], JSON_ALLOW_NUL, NULL);
		struct context_params p;
		struct thaw_err *err = NULL;
		if (validate_context_create(b, &p, &err) == 0)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(err->code, ERR_INVALID);
		err_free(err);
		json_decref(b);
	}
	json_t *b = json_loads("{\"cwd\":\"/tmp\"}", 0, NULL);
	struct context_params p;
	assert_int_equal(validate_context_create(b, &p, NULL), 0);
	assert_string_equal(p.cwd, "/tmp");
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_are_rebuilt_from_known_fields),
		cmocka_unit_test(test_malformed_events_are_refused),
		cmocka_unit_test(test_lines_split_across_chunks_and_bounded),
		cmocka_unit_test(test_answer_collects_in_order),
		cmocka_unit_test(test_replies_map_refusals_to_codes),
		cmocka_unit_test(test_run_code_bodies),
		cmocka_unit_test(test_context_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
