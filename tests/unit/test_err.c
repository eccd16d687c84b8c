/* src/common/err.c: the error contract (first cause wins, context is
 * prefixed, errno is captured and mapped, messages stay bounded). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

#define MSG_MAX (sizeof(((struct thaw_err *)0)->msg) - 1)

static void test_set_fills_code_and_message(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	assert_int_equal(err_set(&e, ERR_INVALID, "bad %s=%d", "x", 3), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_INVALID);
	assert_int_equal(e->sys_errno, 0);
	assert_string_equal(err_msg(e), "bad x=3");
	err_free(e);
}

static void test_set_keeps_the_first_error(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	err_set(&e, ERR_NOT_FOUND, "first");
	struct thaw_err *first = e;
	assert_int_equal(err_set(&e, ERR_CONFLICT, "second"), -1);
	assert_ptr_equal(e, first);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	assert_string_equal(e->msg, "first");
	errno = EACCES;
	assert_int_equal(err_sys(&e, "third"), -1);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	assert_int_equal(e->sys_errno, 0);
	assert_string_equal(e->msg, "first");
	err_free(e);
}

static void test_null_err_pointer_is_allowed(void **state)
{
	(void)state;
	assert_int_equal(err_set(NULL, ERR_INVALID, "ignored"), -1);
	errno = ENOENT;
	assert_int_equal(err_sys(NULL, "ignored"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(err_wrap(NULL, "ignored"), -1);
	err_free(NULL);
	assert_string_equal(err_msg(NULL), "(no error)");
}

static void test_wrap_prefixes_context(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	err_set(&e, ERR_CORRUPT, "bad checksum");
	assert_int_equal(err_wrap(&e, "reading %s", "meta.json"), -1);
	assert_string_equal(e->msg, "reading meta.json: bad checksum");
	err_wrap(&e, "restoring %s", "sb-x");
	assert_string_equal(e->msg, "restoring sb-x: reading meta.json: bad checksum");
	assert_int_equal(e->code, ERR_CORRUPT);
	err_free(e);
}

static void test_wrap_without_an_error_does_nothing(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	assert_int_equal(err_wrap(&e, "context"), -1);
	assert_null(e);
}

static void test_sys_captures_errno_text_and_code(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	char want[256];
	snprintf(want, sizeof(want), "opening /x: %s", strerror(ENOENT));
	errno = ENOENT;
	assert_int_equal(err_sys(&e, "opening %s", "/x"), -1);
	assert_int_equal(errno, ENOENT); /* preserved for the caller */
	assert_non_null(e);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	assert_int_equal(e->sys_errno, ENOENT);
	assert_string_equal(e->msg, want);
	err_free(e);
}

static enum err_code code_for_errno(int en)
{
	struct thaw_err *e = NULL;
	errno = en;
	err_sys(&e, "op");
	assert_non_null(e);
	assert_int_equal(e->sys_errno, en);
	enum err_code c = e->code;
	err_free(e);
	return c;
}

static void test_sys_maps_errno_to_codes(void **state)
{
	(void)state;
	assert_int_equal(code_for_errno(ENOENT), ERR_NOT_FOUND);
	assert_int_equal(code_for_errno(ENOSPC), ERR_UNAVAILABLE);
	assert_int_equal(code_for_errno(EDQUOT), ERR_UNAVAILABLE);
	assert_int_equal(code_for_errno(ENOMEM), ERR_UNAVAILABLE);
	assert_int_equal(code_for_errno(EAGAIN), ERR_UNAVAILABLE);
	assert_int_equal(code_for_errno(ETIMEDOUT), ERR_TIMEOUT);
	assert_int_equal(code_for_errno(EACCES), ERR_INTERNAL);
	assert_int_equal(code_for_errno(EIO), ERR_INTERNAL);
}

static void test_code_names(void **state)
{
	(void)state;
	assert_string_equal(err_code_name(ERR_INTERNAL), "internal");
	assert_string_equal(err_code_name(ERR_INVALID), "invalid_request");
	assert_string_equal(err_code_name(ERR_NOT_FOUND), "not_found");
	assert_string_equal(err_code_name(ERR_CONFLICT), "conflict");
	assert_string_equal(err_code_name(ERR_UNAUTHORIZED), "unauthorized");
	assert_string_equal(err_code_name(ERR_TOO_LARGE), "too_large");
	assert_string_equal(err_code_name(ERR_CORRUPT), "corrupt");
	assert_string_equal(err_code_name(ERR_TIMEOUT), "timeout");
	assert_string_equal(err_code_name(ERR_UNAVAILABLE), "unavailable");
	assert_string_equal(err_code_name(ERR_GUEST), "guest_error");
	assert_string_equal(err_code_name(ERR_LIMIT), "limit_reached");
	assert_string_equal(err_code_name(ERR_FORBIDDEN), "forbidden");
	assert_string_equal(err_code_name((enum err_code)(ERR_FORBIDDEN + 1)), "internal");
	assert_string_equal(err_code_name((enum err_code)-1), "internal");
}

static char *long_string(size_t n, char c)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_long_messages_are_truncated(void **state)
{
	(void)state;
	char *big = long_string(5000, 'm');
	struct thaw_err *e = NULL;
	err_set(&e, ERR_INVALID, "%s", big);
	assert_int_equal(strlen(e->msg), MSG_MAX);
	assert_int_equal(e->msg[MSG_MAX - 1], 'm');

	/* Wrapping a full message keeps the prefix and stays bounded. */
	err_wrap(&e, "ctx");
	assert_int_equal(strlen(e->msg), MSG_MAX);
	assert_memory_equal(e->msg, "ctx: mmm", 8);
	err_free(e);

	/* An overlong context is cut, the cause still follows it. */
	e = NULL;
	err_set(&e, ERR_INVALID, "cause");
	err_wrap(&e, "%s", big);
	assert_true(strlen(e->msg) <= MSG_MAX);
	assert_non_null(strstr(e->msg, ": cause"));
	err_free(e);

	/* err_sys with a message that fills the buffer. */
	e = NULL;
	errno = EIO;
	err_sys(&e, "%s", big);
	assert_int_equal(strlen(e->msg), MSG_MAX);
	assert_int_equal(e->sys_errno, EIO);
	err_free(e);
	free(big);
}

static void test_cleanup_attribute_frees(void **state)
{
	(void)state;
	/* Leak-checked under ASan. */
	_cleanup_err_ struct thaw_err *e = NULL;
	err_set(&e, ERR_GUEST, "guest said no");
	assert_int_equal(e->code, ERR_GUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_fills_code_and_message),
		cmocka_unit_test(test_set_keeps_the_first_error),
		cmocka_unit_test(test_null_err_pointer_is_allowed),
		cmocka_unit_test(test_wrap_prefixes_context),
		cmocka_unit_test(test_wrap_without_an_error_does_nothing),
		cmocka_unit_test(test_sys_captures_errno_text_and_code),
		cmocka_unit_test(test_sys_maps_errno_to_codes),
		cmocka_unit_test(test_code_names),
		cmocka_unit_test(test_long_messages_are_truncated),
		cmocka_unit_test(test_cleanup_attribute_frees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
