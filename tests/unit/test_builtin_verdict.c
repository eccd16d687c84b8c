/* src/thawd/ops/files.c builtin_verdict: what a built-in guest command's
 * end means: its errno exit status becomes the error code, and an agent
 * too old for the command or its arguments is a 409 "bake its template
 * again", not a 400 that blames the request. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ops/files.h"

#define OK (-1)

/* The error code of a command that exited so, or OK; a failure keeps
 * the guest's message. */
static int verdict_of(int exit_code, const char *stderr_text)
{
	struct agent_exec_result res = { .exit_code = exit_code };
	buf_append_str(&res.err, stderr_text);
	struct thaw_err *err = NULL;
	int rc = builtin_verdict(&res, "the file operation on /x", &err);
	buf_free(&res.err);
	if (rc == 0)
		return OK;
	assert_non_null(strstr(err_msg(err), stderr_text));
	int code = (int)err->code;
	err_free(err);
	return code;
}

static void test_errno_becomes_the_code(void **state)
{
	(void)state;
	assert_int_equal(verdict_of(0, ""), OK);
	assert_int_equal(verdict_of(ENOENT, "stat /x: No such file or directory"), ERR_NOT_FOUND);
	assert_int_equal(verdict_of(EEXIST, "move to /x: File exists"), ERR_CONFLICT);
	assert_int_equal(verdict_of(ENOTDIR, "list /x: Not a directory"), ERR_INVALID);
	assert_int_equal(verdict_of(EXDEV, "move /x: Invalid cross-device link"), ERR_CONFLICT);
	assert_int_equal(verdict_of(ENOSPC, "write /x: No space left on device"), ERR_TOO_LARGE);
	assert_int_equal(verdict_of(EINVAL, "write /x: Invalid argument"), ERR_INVALID);
}

static void test_an_older_agent_says_bake_again(void **state)
{
	(void)state;
	const char *old[] = { "unknown built-in command thaw:file-move\n",
			      "thaw:file-list takes 1 argument(s), not 3\n" };
	for (size_t i = 0; i < 2; i++) {
		struct agent_exec_result res = { .exit_code = EINVAL };
		buf_append_str(&res.err, old[i]);
		struct thaw_err *err = NULL;
		assert_int_equal(builtin_verdict(&res, "the file operation on /x", &err), -1);
		assert_int_equal(err->code, ERR_CONFLICT);
		assert_non_null(strstr(err_msg(err), "bake its template again"));
		err_free(err);
		buf_free(&res.err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_becomes_the_code),
		cmocka_unit_test(test_an_older_agent_says_bake_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
