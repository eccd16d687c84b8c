/* src/common/hostkey.c: a host's key is HMAC-SHA256 of its name under the
 * fleet secret (the value below was computed independently, with
 * Python's hmac module), differs per host and per secret, and is checked
 * whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hostkey.h"

#define SECRET "fleet-secret-0123456789abcdef"
#define H2_KEY "thk1-5c33e6f017141914a7952bbc9e287ee5d91628469af948a11f57fc4ba30e8216"

static void test_derive_matches_hmac_sha256(void **state)
{
	(void)state;
	char key[HOST_KEY_LEN + 1];
	host_key_derive(SECRET, "fleet-h2", key);
	assert_string_equal(key, H2_KEY);
	assert_true(host_key_form(key));
}

static void test_keys_differ_per_host_and_secret(void **state)
{
	(void)state;
	char a[HOST_KEY_LEN + 1], b[HOST_KEY_LEN + 1], c[HOST_KEY_LEN + 1];
	host_key_derive(SECRET, "fleet-h1", a);
	host_key_derive(SECRET, "fleet-h2", b);
	host_key_derive("another-secret-0123456789", "fleet-h2", c);
	assert_string_not_equal(a, b);
	assert_string_not_equal(b, c);
}

static void test_check(void **state)
{
	(void)state;
	assert_true(host_key_check(SECRET, "fleet-h2", H2_KEY));
	assert_false(host_key_check(SECRET, "fleet-h1", H2_KEY));
	assert_false(host_key_check(SECRET, "fleet-h2", SECRET));
	char bad[] = H2_KEY;
	bad[HOST_KEY_LEN - 1] = bad[HOST_KEY_LEN - 1] == '0' ? '1' : '0';
	assert_false(host_key_check(SECRET, "fleet-h2", bad));
	assert_false(host_key_check(SECRET, "fleet-h2", H2_KEY "0"));
	assert_false(host_key_check(SECRET, "fleet-h2", ""));
	assert_false(host_key_form("thk1-5C33E6F017141914A7952BBC9E287EE5D91628469AF948A11F57FC4BA30E8216"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_derive_matches_hmac_sha256),
		cmocka_unit_test(test_keys_differ_per_host_and_secret),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
