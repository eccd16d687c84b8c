/* src/thawd/e2b/interp_wire.c: what @e2b/code-interpreter sends to
 * /execute and /contexts (checked) and the NDJSON lines it reads (built
 * from thaw's checked cell events, guestconn/interp.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2b/interp.h"
#include "guestconn/interp.h"

/* A thaw event as the guest connection gives it (parsed and rebuilt). */
static json_t *thaw_event(const char *line)
{
	struct thaw_err *err = NULL;
	json_t *ev = interp_event_parse((const uint8_t *)line, strlen(line), &err);
	if (!ev)
		fail_msg("%s refused: %s", line, err_msg(err));
	return ev;
}

/* e2b_interp_line of a thaw event, dumped with sorted keys. */
static char *line_of(const char *thaw_line)
{
	json_t *ev = thaw_event(thaw_line);
	json_t *line = e2b_interp_line(ev, 1700000000123456789LL);
	json_decref(ev);
	if (!line)
		return NULL;
	char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(line);
	return s;
}

static void expect_line(const char *thaw_line, const char *want)
{
	char *got = line_of(thaw_line);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s gave %s, want %s", thaw_line, got ? got : "nothing", want);
	free(got);
}

static void test_output_lines_carry_text_and_a_nanosecond_timestamp(void **state)
{
	(void)state;
	expect_line("{\"type\":\"stdout\",\"text\":\"hi\\n\"}",
		    "{\"text\":\"hi\\n\",\"timestamp\":1700000000123456789,\"type\":\"stdout\"}");
	expect_line("{\"type\":\"stderr\",\"text\":\"\"}",
		    "{\"text\":\"\",\"timestamp\":1700000000123456789,\"type\":\"stderr\"}");
}

static void test_results_keep_every_format_and_nothing_else(void **state)
{
	(void)state;
	expect_line("{\"type\":\"result\",\"is_main_result\":true,\"text\":\"2\"}",
		    "{\"is_main_result\":true,\"text\":\"2\",\"type\":\"result\"}");
	expect_line(
		"{\"type\":\"result\",\"is_main_result\":false,\"text\":\"<Figure>\","
		"\"png\":\"iVBORw0KGgo=\",\"html\":\"<b>\",\"markdown\":\"*m*\",\"svg\":\"<svg/>\","
		"\"jpeg\":\"/9j/\",\"pdf\":\"JVBE\",\"latex\":\"$x$\",\"json\":{\"a\":[1]},"
		"\"javascript\":\"1\",\"evil\":\"x\"}",
		"{\"html\":\"<b>\",\"is_main_result\":false,\"javascript\":\"1\",\"jpeg\":\"/9j/\","
		"\"json\":{\"a\":[1]},\"latex\":\"$x$\",\"markdown\":\"*m*\",\"pdf\":\"JVBE\","
		"\"png\":\"iVBORw0KGgo=\",\"svg\":\"<svg/>\",\"text\":\"<Figure>\","
		"\"type\":\"result\"}");
}

static void test_errors_and_the_end(void **state)
{
	(void)state;
	expect_line(
		"{\"type\":\"error\",\"name\":\"ZeroDivisionError\",\"value\":\"division by "
		"zero\",\"traceback\":\"Traceback...\"}",
		"{\"name\":\"ZeroDivisionError\",\"traceback\":\"Traceback...\",\"type\":\"error\","
		"\"value\":\"division by zero\"}");
	/* thaw's end has no E2B line: the handler sends end_of_execution. */
	assert_null(line_of("{\"type\":\"end\",\"duration_ms\":3}"));
	json_t *odd = json_pack("{s:s}", "type", "number_of_executions");
	assert_null(e2b_interp_line(odd, 0));
	json_decref(odd);
	assert_null(e2b_interp_line(NULL, 0));

	struct thaw_err e = { .code = ERR_GUEST };
	snprintf(e.msg, sizeof(e.msg), "the interpreter stopped");
	json_t *f = e2b_interp_failure_line(&e);
	assert_string_equal(json_string_value(json_object_get(f, "type")), "error");
	assert_string_equal(json_string_value(json_object_get(f, "value")), e.msg);
	assert_true(json_is_string(json_object_get(f, "traceback")));
	json_decref(f);
}

static int parse(const char *body, struct e2b_execute *x, struct thaw_err **err)
{
	json_error_t je;
	json_t *b = json_loads(body, JSON_ALLOW_NUL, &je);
	if (!b)
		fail_msg("test body %s: %s", body, je.text);
	int rc = e2b_execute_parse(b, x, err);
	json_decref(b);
	return rc;
}

static void execute_bad(const char *body, enum err_code code, const char *mentions)
{
	struct e2b_execute x;
	struct thaw_err *err = NULL;
	if (parse(body, &x, &err) == 0)
		fail_msg("%s accepted", body);
	if (err->code != code || !strstr(err_msg(err), mentions))
		fail_msg("%s: error %d \"%s\", want %d mentioning \"%s\"", body, err->code,
			 err_msg(err), code, mentions);
	err_free(err);
}

static void test_execute_bodies(void **state)
{
	(void)state;
	struct e2b_execute x;
	struct thaw_err *err = NULL;
	json_t *b =
		json_loads("{\"code\":\"1+1\",\"context_id\":\"ctx-a_1\",\"language\":\"python\","
			   "\"env_vars\":{\"A\":\"b\"}}",
			   0, NULL);
	assert_int_equal(e2b_execute_parse(b, &x, &err), 0);
	assert_string_equal(x.code, "1+1");
	assert_string_equal(x.context, "ctx-a_1");
	assert_string_equal(json_string_value(json_object_get(x.env, "A")), "b");
	json_decref(b);
	/* What the SDK sends without options; and null as absent. */
	assert_int_equal(parse("{\"code\":\"\"}", &x, &err), 0);
	assert_null(x.context);
	assert_null(x.env);
	assert_int_equal(parse("{\"code\":\"x\",\"context_id\":null,\"language\":null,"
			       "\"env_vars\":null}",
			       &x, &err),
			 0);
	assert_null(x.context);

	execute_bad("{}", ERR_INVALID, "code");
	execute_bad("{\"code\":1}", ERR_INVALID, "code");
	execute_bad("[\"code\"]", ERR_INVALID, "object");
	execute_bad("{\"code\":\"a\\u0000b\"}", ERR_INVALID, "NUL");
	execute_bad("{\"code\":\"1\",\"timeout\":5}", ERR_INVALID, "timeout");
	execute_bad("{\"code\":\"1\",\"context_id\":7}", ERR_INVALID, "context_id");
	execute_bad("{\"code\":\"1\",\"context_id\":\"../x\"}", ERR_NOT_FOUND, "no context");
	execute_bad("{\"code\":\"1\",\"language\":\"r\"}", ERR_NOT_FOUND, "python only");
	execute_bad("{\"code\":\"1\",\"language\":\"js\"}", ERR_NOT_FOUND, "\"js\"");
	execute_bad("{\"code\":\"1\",\"language\":[\"python\"]}", ERR_INVALID, "language");
	execute_bad("{\"code\":\"1\",\"env_vars\":[]}", ERR_INVALID, "env_vars");
	execute_bad("{\"code\":\"1\",\"env_vars\":{\"A\":1}}", ERR_INVALID, "env value");
	execute_bad("{\"code\":\"1\",\"env_vars\":{\"1A\":\"x\"}}", ERR_INVALID, "1A");
}

static void test_a_huge_env_is_refused(void **state)
{
	(void)state;
	json_t *env = json_object();
	char name[16];
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "V%d", i);
		json_object_set_new(env, name, json_string("x"));
	}
	json_t *b = json_pack("{s:s,s:o}", "code", "1", "env_vars", env);
	struct e2b_execute x;
	struct thaw_err *err = NULL;
	assert_int_equal(e2b_execute_parse(b, &x, &err), -1);
	assert_int_equal(err->code, ERR_INVALID);
	assert_non_null(strstr(err_msg(err), "more than"));
	err_free(err);
	json_decref(b);
}

static void test_context_bodies(void **state)
{
	(void)state;
	const char *ok[] = { "{}", "{\"language\":\"python\",\"cwd\":\"/tmp\"}",
			     "{\"language\":null,\"cwd\":null}" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		json_t *b = json_loads(ok[i], 0, NULL);
		const char *cwd = "unset";
		struct thaw_err *err = NULL;
		if (e2b_context_parse(b, &cwd, &err) < 0)
			fail_msg("%s refused: %s", ok[i], err_msg(err));
		assert_true(i == 1 ? !strcmp(cwd, "/tmp") : cwd == NULL);
		json_decref(b);
	}
	const struct {
		const char *body;
		enum err_code code;
	} bad[] = {
		{ "{\"language\":\"r\"}", ERR_NOT_FOUND },
		{ "{\"language\":\"javascript\"}", ERR_NOT_FOUND },
		{ "{\"cwd\":\"relative\"}", ERR_INVALID },
		{ "{\"cwd\":5}", ERR_INVALID },
		{ "{\"envs\":{}}", ERR_INVALID },
		{ "7", ERR_INVALID },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_loads(bad[i].body, JSON_DECODE_ANY, NULL);
		const char *cwd = NULL;
		struct thaw_err *err = NULL;
		if (e2b_context_parse(b, &cwd, &err) == 0)
			fail_msg("%s accepted", bad[i].body);
		assert_int_equal(err->code, bad[i].code);
		err_free(err);
		json_decref(b);
	}
}

static void test_contexts_in_e2b_shape(void **state)
{
	(void)state;
	json_t *c = json_loads("{\"id\":\"ctx-1\",\"language\":\"python\",\"cwd\":\"/root\","
			       "\"env\":{},\"pid\":3}",
			       0, NULL);
	json_t *o = e2b_interp_context(c);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"cwd\":\"/root\",\"id\":\"ctx-1\",\"language\":\"python\"}");
	free(s);
	json_decref(o);
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_lines_carry_text_and_a_nanosecond_timestamp),
		cmocka_unit_test(test_results_keep_every_format_and_nothing_else),
		cmocka_unit_test(test_errors_and_the_end),
		cmocka_unit_test(test_execute_bodies),
		cmocka_unit_test(test_a_huge_env_is_refused),
		cmocka_unit_test(test_context_bodies),
		cmocka_unit_test(test_contexts_in_e2b_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
