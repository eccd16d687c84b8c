/* src/common/scram.c: PostgreSQL's SCRAM-SHA-256 verifier, computed on the
 * host for the postgres template's clone hook. The expected value comes
 * from Python's hashlib and hmac (RFC 5802's definitions); the e2e test
 * (tests/e2e/test_postgres.py) logs in with it against a real server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "scram.h"

static void test_verifier_matches_an_independent_computation(void **state)
{
	(void)state;
	unsigned char salt[16];
	for (int i = 0; i < 16; i++)
		salt[i] = (unsigned char)i;
	struct buf b = { 0 };
	struct thaw_err *e = NULL;
	assert_int_equal(scram_verifier("pencil-Secret.1", salt, sizeof(salt), &b, &e), 0);
	assert_string_equal(buf_cstr(&b), "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$"
					  "M240GUvxOC90/KSV0BNP5XMu3q+/itiBssBPT1KP4Jg=:"
					  "q09nN7v5hUKx9NZc5W36dxHzq5/rJc6XLrWcJIS4tKU=");
	buf_free(&b);
}

static void test_non_printable_passwords_are_refused(void **state)
{
	(void)state;
	unsigned char salt[16] = { 0 };
	struct buf b = { 0 };
	struct thaw_err *e = NULL;
	assert_int_equal(scram_verifier("tab\there", salt, sizeof(salt), &b, &e), -1);
	assert_int_equal(e->code, ERR_INVALID);
	assert_int_equal(b.len, 0);
	err_free(e);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verifier_matches_an_independent_computation),
		cmocka_unit_test(test_non_printable_passwords_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
