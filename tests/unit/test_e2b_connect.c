/* src/thawd/e2b/envelope.c, token.c, control_create.c: the E2B front's
 * pure parts. Connect envelopes: one uncompressed message envelope per
 * streaming request, its length exact, its JSON an object; what is
 * written reads back. Access tokens: HMAC-SHA256 of a labelled id (the
 * value computed independently with Python's hmac), bound to id and key,
 * checked in one form. Create bodies: E2B's fields onto thaw's, and what
 * thaw cannot honour refused by name. Which URLs are Connect calls, and
 * thaw's error codes as Connect's codes and statuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2b/control.h"
#include "e2b/envelope.h"
#include "e2b/front.h"
#include "e2b/token.h"

static int parse(const void *b, size_t len, json_t **msg, enum err_code *code)
{
	struct thaw_err *err = NULL;
	int rc = connect_envelope_parse(b, len, 64, msg, &err);
	if (rc < 0) {
		*code = err->code;
		err_free(err);
	}
	return rc;
}

static void test_envelope_round_trip(void **state)
{
	(void)state;
	struct buf b = { 0 };
	connect_envelope_put(&b, 0, "{\"a\":1}", 7);
	assert_int_equal(b.len, 12);
	const unsigned char head[5] = { 0, 0, 0, 0, 7 };
	assert_memory_equal(b.data, head, 5);
	json_t *msg = NULL;
	enum err_code code;
	assert_int_equal(parse(b.data, b.len, &msg, &code), 0);
	assert_int_equal(json_integer_value(json_object_get(msg, "a")), 1);
	json_decref(msg);
	buf_free(&b);
}

static void test_envelope_refusals(void **state)
{
	(void)state;
	json_t *msg = NULL;
	enum err_code code = ERR_INTERNAL;
	/* short header */
	assert_int_equal(parse("\0\0\0", 3, &msg, &code), -1);
	assert_int_equal(code, ERR_INVALID);
	/* compressed, end-of-stream from a client, unknown flags */
	assert_int_equal(parse("\x01\0\0\0\x02{}", 7, &msg, &code), -1);
	assert_int_equal(parse("\x02\0\0\0\x02{}", 7, &msg, &code), -1);
	assert_int_equal(parse("\x80\0\0\0\x02{}", 7, &msg, &code), -1);
	/* length short, long, trailing bytes, over the limit */
	assert_int_equal(parse("\0\0\0\0\x03{}", 7, &msg, &code), -1);
	assert_int_equal(parse("\0\0\0\0\x01{}", 7, &msg, &code), -1);
	assert_int_equal(parse("\0\0\0\0\x02{}\0\0\0\0\x02{}", 14, &msg, &code), -1);
	assert_int_equal(parse("\0\0\0\x10\0{}", 7, &msg, &code), -1);
	assert_int_equal(code, ERR_TOO_LARGE);
	assert_int_equal(parse("\xff\xff\xff\xff\xff", 5, &msg, &code), -1);
	/* not JSON, not an object */
	assert_int_equal(parse("\0\0\0\0\x02{x", 7, &msg, &code), -1);
	assert_int_equal(parse("\0\0\0\0\x02[]", 7, &msg, &code), -1);
	assert_int_equal(code, ERR_INVALID);
	assert_null(msg);
}

static void test_end_message(void **state)
{
	(void)state;
	json_t *ok = connect_end_message(NULL, NULL);
	assert_int_equal(json_object_size(ok), 0);
	json_decref(ok);
	json_t *e = connect_end_message("not_found", "gone");
	json_t *inner = json_object_get(e, "error");
	assert_string_equal(json_string_value(json_object_get(inner, "code")), "not_found");
	assert_string_equal(json_string_value(json_object_get(inner, "message")), "gone");
	json_decref(e);
}

#define KEY "e2b-key-0123456789abcdef"
#define SB "sb-abcdefghijkl"
#define TOKEN "ba4473e016856b8d58bdfe3de06fc4bba16f0787811cf235d18fb4d9556720e9"

static void test_token(void **state)
{
	(void)state;
	char t[E2B_TOKEN_HEX + 1];
	e2b_token_derive(KEY, SB, t);
	assert_string_equal(t, TOKEN);
	assert_true(e2b_token_check(KEY, SB, TOKEN));
	/* another sandbox, another key, another form */
	assert_false(e2b_token_check(KEY, "sb-abcdefghijkm", TOKEN));
	assert_false(e2b_token_check("another-key-0123456789", SB, TOKEN));
	assert_false(e2b_token_check(
		KEY, SB, "BA4473E016856B8D58BDFE3DE06FC4BBA16F0787811CF235D18FB4D9556720E9"));
	assert_false(e2b_token_check(KEY, SB, TOKEN "0"));
	assert_false(e2b_token_check(KEY, SB, ""));
}

static json_t *translate(const char *e2b, char *msg, size_t size)
{
	json_t *in = json_loads(e2b, 0, NULL);
	assert_non_null(in);
	json_t *out = NULL;
	struct thaw_err *err = NULL;
	if (e2b_create_body(in, 3600, &out, &err) < 0) {
		snprintf(msg, size, "%s", err->msg);
		err_free(err);
	}
	json_decref(in);
	return out;
}

static void test_create_mapping(void **state)
{
	(void)state;
	char msg[1024] = "";
	json_t *o =
		translate("{\"templateID\":\"base\",\"timeout\":60,\"metadata\":{\"k\":\"v\"},"
			  "\"envVars\":{\"A\":\"b\"},\"allow_internet_access\":false,"
			  "\"network\":{\"allowOut\":[\"1.2.3.4\"],\"denyOut\":[\"0.0.0.0/0\"]},"
			  "\"autoPause\":true,\"autoResume\":{\"enabled\":true},\"secure\":true}",
			  msg, sizeof(msg));
	assert_non_null(o);
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
		text, "{\"auto_resume\":true,\"env\":{\"A\":\"b\"},\"metadata\":{\"k\":\"v\"},"
		      "\"network\":{\"allow\":[\"1.2.3.4\"],\"deny\":[\"0.0.0.0/0\"],"
		      "\"internet\":false},\"on_timeout\":\"pause\","
		      "\"template\":\"code-interpreter\",\"timeout_s\":60}");
	free(text);
	json_decref(o);
	o = translate("{\"templateID\":\"my-tpl\"}", msg, sizeof(msg));
	assert_string_equal(json_string_value(json_object_get(o, "template")), "my-tpl");
	json_decref(o);
}

static void test_create_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *body, *says;
	} cases[] = {
		{ "{\"network\":{\"allowOut\":[\"example.com\"]}}", "network.allowOut[0]" },
		{ "{\"network\":{\"egressProxy\":{\"address\":\"x\"}}}",
		  "network.\"egressProxy\"" },
		{ "{\"volumeMounts\":[{\"name\":\"v\",\"path\":\"/d\"}]}", "volumeMounts" },
		{ "{\"mcp\":{}}", "mcp" },
		{ "{\"autoPauseMemory\":false}", "autoPauseMemory" },
		{ "{\"templateID\":\"Bad_Name\"}", "templateID" },
		{ "{\"timeout\":0}", "timeout" },
		{ "{\"timeout\":\"60\"}", "timeout" },
		{ "{\"metadata\":{\"k\":1}}", "metadata.k" },
		{ "{\"envVars\":{\"1A\":\"x\"}}", "envVars" },
		{ "{\"whatever\":1}", "\"whatever\"" },
		{ "{\"autoResume\":{\"enabled\":true,\"policy\":\"any\"}}",
		  "autoResume.\"policy\"" },
		{ "{\"allow_internet_access\":\"no\"}", "allow_internet_access" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[1024] = "";
		json_t *o = translate(cases[i].body, msg, sizeof(msg));
		if (o || !strstr(msg, cases[i].says))
			fail_msg("%s: got \"%s\", want a refusal naming %s", cases[i].body, msg,
				 cases[i].says);
	}
}

/* Which requests get Connect's errors: /<package>.<Service>/<Method>. */
static void test_is_connect(void **state)
{
	(void)state;
	assert_true(e2b_is_connect("/process.Process/Start"));
	assert_true(e2b_is_connect("/filesystem.Filesystem/ListDir"));
	assert_false(e2b_is_connect("/sandboxes/sb-abcdefghijkm"));
	assert_false(e2b_is_connect("/v2/sandboxes"));
	assert_false(e2b_is_connect("/files"));
	assert_false(e2b_is_connect("/process.Process"));
	assert_false(e2b_is_connect("/"));
	assert_false(e2b_is_connect(""));
}

static void test_connect_codes(void **state)
{
	(void)state;
	static const struct {
		enum err_code code;
		int sys_errno;
		const char *name;
		unsigned status;
	} cases[] = {
		{ ERR_INVALID, 0, "invalid_argument", 400 },
		{ ERR_NOT_FOUND, 0, "not_found", 404 },
		{ ERR_CONFLICT, 0, "failed_precondition", 400 },
		{ ERR_CONFLICT, EEXIST, "already_exists", 409 },
		{ ERR_UNAUTHORIZED, 0, "unauthenticated", 401 },
		{ ERR_FORBIDDEN, 0, "permission_denied", 403 },
		{ ERR_LIMIT, 0, "resource_exhausted", 429 },
		{ ERR_TIMEOUT, 0, "deadline_exceeded", 504 },
		{ ERR_UNAVAILABLE, 0, "unavailable", 503 },
		{ ERR_GUEST, 0, "unavailable", 503 },
		{ ERR_INTERNAL, 0, "internal", 500 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct thaw_err e = { .code = cases[i].code, .sys_errno = cases[i].sys_errno };
		unsigned status = 0;
		assert_string_equal(connect_code_of(&e, &status), cases[i].name);
		assert_int_equal(status, cases[i].status);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_round_trip),
		cmocka_unit_test(test_envelope_refusals),
		cmocka_unit_test(test_end_message),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_create_mapping),
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_is_connect),
		cmocka_unit_test(test_connect_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
