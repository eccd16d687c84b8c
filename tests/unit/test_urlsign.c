/* src/common/urlsign.c: a signed URL's MAC is HMAC-SHA256 of its fields
 * under the host's key (the value below computed independently, with
 * Python's hmac module), changes with every field, is checked whole and
 * in its one form; the key file is made once and then kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "urlsign.h"

#define KEY "url-key-0123456789abcdef"
#define SB "sb-abcdefghijkl"
#define MAC "1da1bef6f5bc4e2bac75e50eb8d930072635eff6c86b5a7a1050fefb6c1d02d0"

static void test_mac_matches_hmac_sha256(void **state)
{
	(void)state;
	char mac[URLSIGN_MAC_LEN + 1];
	urlsign_mac(KEY, SB, "read", 1700000000, "/root/a b", mac);
	assert_string_equal(mac, MAC);
	assert_true(urlsign_check(KEY, SB, "read", 1700000000, "/root/a b", MAC));
}

static void test_every_field_counts(void **state)
{
	(void)state;
	assert_false(urlsign_check(KEY, "sb-abcdefghijkm", "read", 1700000000, "/root/a b", MAC));
	assert_false(urlsign_check(KEY, SB, "write", 1700000000, "/root/a b", MAC));
	assert_false(urlsign_check(KEY, SB, "read", 1700000001, "/root/a b", MAC));
	assert_false(urlsign_check(KEY, SB, "read", 1700000000, "/root/a c", MAC));
	assert_false(urlsign_check(KEY, SB, "read", 1700000000, "/root/../root/a b", MAC));
	assert_false(
		urlsign_check("another-key-0123456789", SB, "read", 1700000000, "/root/a b", MAC));
	/* A newline in the path cannot pose as another field: the path is last. */
	assert_false(urlsign_check(KEY, SB, "read\n1700000000", 0, "/root/a b", MAC));
}

static void test_only_the_exact_form(void **state)
{
	(void)state;
	char bad[] = MAC;
	bad[10] = bad[10] == '0' ? '1' : '0';
	assert_false(urlsign_check(KEY, SB, "read", 1700000000, "/root/a b", bad));
	assert_false(urlsign_check(KEY, SB, "read", 1700000000, "/root/a b", MAC "0"));
	assert_false(urlsign_check(KEY, SB, "read", 1700000000, "/root/a b", ""));
	char upper[] = MAC;
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_false(urlsign_check(KEY, SB, "read", 1700000000, "/root/a b", upper));
}

static void test_key_made_once_then_kept(void **state)
{
	(void)state;
	char dir[] = "/tmp/thaw-urlsign-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/url-signing.key", dir);
	char *a = NULL, *b = NULL;
	assert_int_equal(urlsign_key_load(path, &a, NULL), 0);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(urlsign_key_load(path, &b, NULL), 0);
	assert_string_equal(a, b);
	free(a);
	free(b);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_matches_hmac_sha256),
		cmocka_unit_test(test_every_field_counts),
		cmocka_unit_test(test_only_the_exact_form),
		cmocka_unit_test(test_key_made_once_then_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
