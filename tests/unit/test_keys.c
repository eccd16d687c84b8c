/* src/httpapi/keys.c: the keys file, strictly validated, and the
 * lookup of a presented secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpapi/keys.h"
#include "sha256.h"

static char *digest_of(const char *secret)
{
	static char hex[4][SHA256_HEX_LEN + 1];
	static int next;
	char *out = hex[next++ % 4];
	sha256_hex(secret, strlen(secret), out);
	return out;
}

static void parse_ok(const char *text, struct api_keys *k)
{
	struct thaw_err *e = NULL;
	if (keys_parse(text, strlen(text), k, &e) < 0)
		fail_msg("%s rejected: %s", text, err_msg(e));
}

static void rejects(const char *text, const char *mentions)
{
	struct thaw_err *e = NULL;
	struct api_keys k = { 0 };
	assert_int_equal(keys_parse(text, strlen(text), &k, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_INVALID);
	if (!strstr(e->msg, mentions))
		fail_msg("error \"%s\" does not mention \"%s\"", e->msg, mentions);
	assert_null(k.keys);
	err_free(e);
}

static void test_a_good_file(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof(text),
		 "{\"keys\": [{\"name\": \"ops\", \"sha256\": \"%s\", \"role\": \"admin\"},"
		 " {\"name\": \"alice_1\", \"sha256\": \"%s\", \"role\": \"user\","
		 "  \"max_sandboxes\": 3, \"rate_limit\": 0}]}",
		 digest_of("secret-of-ops-0123"), digest_of("secret-of-alice-0123"));
	struct api_keys k;
	parse_ok(text, &k);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.keys[0].name, "ops");
	assert_int_equal(k.keys[0].role, KEY_ADMIN);
	assert_int_equal(k.keys[0].max_sandboxes, 0);
	assert_int_equal(k.keys[0].rate_limit, -1); /* --rate-limit applies */
	assert_int_equal(k.keys[1].role, KEY_USER);
	assert_int_equal(k.keys[1].max_sandboxes, 3);
	assert_int_equal(k.keys[1].rate_limit, 0); /* none, whatever --rate-limit says */
	assert_ptr_equal(keys_match(&k, "secret-of-alice-0123"), &k.keys[1]);
	assert_ptr_equal(keys_match(&k, "secret-of-ops-0123"), &k.keys[0]);
	assert_null(keys_match(&k, "secret-of-ops-012"));
	assert_null(keys_match(&k, "secret-of-ops-01234"));
	assert_null(keys_match(&k, ""));
	keys_free(&k);
	assert_null(k.keys);
}

static void test_uppercase_hex_is_the_same_digest(void **state)
{
	(void)state;
	char up[SHA256_HEX_LEN + 1], text[512];
	snprintf(up, sizeof(up), "%s", digest_of("another-secret-42"));
	for (char *p = up; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	snprintf(text, sizeof(text), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", "
		 "\"role\": \"user\"}]}", up);
	struct api_keys k;
	parse_ok(text, &k);
	assert_non_null(keys_match(&k, "another-secret-42"));
	keys_free(&k);
}

static void test_bad_files_are_refused_with_a_reason(void **state)
{
	(void)state;
	const char *d1 = digest_of("first-secret-xyz");
	const char *d2 = digest_of("second-secret-xyz");
	char t[1024];
	rejects("", "malformed JSON");
	rejects("[]", "JSON object");
	rejects("{}", "array of 1 to");
	rejects("{\"keys\": []}", "array of 1 to");
	rejects("{\"keys\": [], \"extra\": 1}", "unknown top-level field \"extra\"");
	rejects("{\"keys\": [1]}", "key 1 is not an object");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", \"role\": "
		 "\"user\", \"secret\": \"x\"}]}", d1);
	rejects(t, "unknown field \"secret\"");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"A b\", \"sha256\": \"%s\", \"role\": "
		 "\"user\"}]}", d1);
	rejects(t, "name must be");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"%s\", \"sha256\": \"%s\", \"role\": "
		 "\"user\"}]}", "a23456789012345678901234567890123", d1);
	rejects(t, "name must be");
	rejects("{\"keys\": [{\"name\": \"a\", \"sha256\": \"abc\", \"role\": \"user\"}]}",
		"sha256 must be");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%.63sg\", \"role\": "
		 "\"user\"}]}", d1);
	rejects(t, "sha256 must be");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", \"role\": "
		 "\"root\"}]}", d1);
	rejects(t, "role must be");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\"}]}", d1);
	rejects(t, "role must be");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", \"role\": "
		 "\"user\", \"max_sandboxes\": 0}]}", d1);
	rejects(t, "max_sandboxes must be an integer from 1");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", \"role\": "
		 "\"user\", \"max_sandboxes\": \"3\"}]}", d1);
	rejects(t, "max_sandboxes must be");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", \"role\": "
		 "\"user\", \"rate_limit\": -1}]}", d1);
	rejects(t, "rate_limit must be an integer from 0");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", \"role\": "
		 "\"user\"}, {\"name\": \"a\", \"sha256\": \"%s\", \"role\": \"user\"}]}", d1, d2);
	rejects(t, "the name a is used twice");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"sha256\": \"%s\", \"role\": "
		 "\"user\"}, {\"name\": \"b\", \"sha256\": \"%s\", \"role\": \"user\"}]}", d1, d1);
	rejects(t, "same secret");
	snprintf(t, sizeof(t), "{\"keys\": [{\"name\": \"a\", \"name\": \"b\", \"sha256\": "
		 "\"%s\", \"role\": \"user\"}]}", d1);
	rejects(t, "malformed JSON"); /* duplicate fields */
}

static void test_the_single_default_key(void **state)
{
	(void)state;
	struct api_keys k;
	keys_single("thaw_0123456789abcdef", &k);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.keys[0].name, "default");
	assert_int_equal(k.keys[0].role, KEY_ADMIN);
	assert_ptr_equal(keys_match(&k, "thaw_0123456789abcdef"), &k.keys[0]);
	assert_null(keys_match(&k, "thaw_0123456789abcdeF"));
	keys_free(&k);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	struct api_keys k = { 0 };
	assert_int_equal(keys_load_file("/nonexistent/keys.json", &k, &e), -1);
	assert_non_null(strstr(e->msg, "keys file /nonexistent/keys.json"));
	err_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_good_file),
		cmocka_unit_test(test_uppercase_hex_is_the_same_digest),
		cmocka_unit_test(test_bad_files_are_refused_with_a_reason),
		cmocka_unit_test(test_the_single_default_key),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
