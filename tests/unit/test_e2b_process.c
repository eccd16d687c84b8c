/* src/thawd/e2b/process_msg.c, process_event.c: envd's process.Process
 * messages (protobuf JSON) to exec's parameters and back, and the refusal
 * of every malformed one. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2b/process_msg.h"
#include "proto.h"
#include "testutil.h"

static json_t *J(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	if (!v)
		fail_msg("test JSON does not parse: %s: %s", text, je.text);
	return v;
}

static void assert_err(struct thaw_err *e, enum err_code code, const char *mentions)
{
	assert_non_null(e);
	assert_int_equal(e->code, code);
	if (!strstr(e->msg, mentions))
		fail_msg("error \"%s\" does not mention \"%s\"", e->msg, mentions);
}

/* What the SDK's commands.run sends. */
#define SDK_RUN                                                                                    \
	"{\"process\":{\"cmd\":\"/bin/bash\",\"args\":[\"-l\",\"-c\",\"echo hi\"],"                \
	"\"envs\":{\"FOO\":\"bar\"},\"cwd\":\"/tmp\"},\"stdin\":false}"

static void start_ok(const char *text, const char *user, struct exec_params *p)
{
	json_t *m = J(text);
	struct thaw_err *e = NULL;
	if (e2b_start_parse(m, user, p, &e) < 0)
		fail_msg("%s rejected: %s", text, err_msg(e));
	json_decref(m);
}

static void start_rejects(const char *text, enum err_code code, const char *mentions)
{
	json_t *m = J(text);
	struct thaw_err *e = NULL;
	struct exec_params p;
	assert_int_equal(e2b_start_parse(m, "user", &p, &e), -1);
	assert_err(e, code, mentions);
	err_free(e);
	json_decref(m);
}

static bool env_has(char **env, const char *entry)
{
	for (size_t i = 0; env && env[i]; i++)
		if (strcmp(env[i], entry) == 0)
			return true;
	return false;
}

static void test_start_sdk_run(void **state)
{
	(void)state;
	struct exec_params p;
	start_ok(SDK_RUN, "user", &p);
	assert_string_equal(p.argv[0], "/bin/bash");
	assert_string_equal(p.argv[1], "-l");
	assert_string_equal(p.argv[2], "-c");
	assert_string_equal(p.argv[3], "echo hi");
	assert_null(p.argv[4]);
	assert_true(env_has(p.env, "FOO=bar"));
	assert_true(env_has(p.env,
			    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	/* The user's own HOME comes from the guest. */
	assert_false(env_has(p.env, "HOME=/root"));
	assert_string_equal(p.cwd, "/tmp");
	assert_string_equal(p.user, "user");
	/* No timeout, kept on disconnect, no stdin: E2B's semantics. */
	assert_int_equal(p.timeout_ms, 0);
	assert_false(p.kill_on_disconnect);
	assert_false(p.has_stdin);
	assert_false(p.stdin_open);
	assert_false(p.pty);
	assert_null(p.tag);
	exec_params_free(&p);
}

static void test_start_stdin_tag_pty(void **state)
{
	(void)state;
	struct exec_params p;
	start_ok("{\"process\":{\"cmd\":\"cat\"},\"stdin\":true,\"tag\":\"svc\"}", NULL, &p);
	assert_true(p.has_stdin);
	assert_true(p.stdin_open);
	assert_string_equal(p.tag, "svc");
	assert_null(p.user);
	assert_null(p.cwd);
	exec_params_free(&p);
	start_ok("{\"process\":{\"cmd\":\"/bin/bash\",\"args\":[\"-i\",\"-l\"],"
		 "\"envs\":{\"TERM\":\"xterm-256color\"}},\"pty\":{\"size\":{\"cols\":80,"
		 "\"rows\":\"24\"}}}",
		 "root", &p);
	assert_true(p.pty);
	assert_int_equal(p.rows, 24);
	assert_int_equal(p.cols, 80);
	assert_string_equal(p.user, "root");
	exec_params_free(&p);
	/* protobuf's empty optionals mean absent. */
	start_ok("{\"process\":{\"cmd\":\"true\",\"cwd\":\"\",\"envs\":{}},\"tag\":\"\"}", "user",
		 &p);
	assert_null(p.cwd);
	assert_null(p.tag);
	exec_params_free(&p);
}

static void test_start_rejects_bad_messages(void **state)
{
	(void)state;
	start_rejects("{}", ERR_INVALID, "process");
	start_rejects("{\"process\":{}}", ERR_INVALID, "process.cmd");
	start_rejects("{\"process\":{\"cmd\":\"\"}}", ERR_INVALID, "process.cmd");
	start_rejects("{\"process\":{\"cmd\":7}}", ERR_INVALID, "process.cmd");
	start_rejects("{\"process\":{\"cmd\":\"a\\u0000b\"}}", ERR_INVALID, "process.cmd");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"args\":\"-l\"}}", ERR_INVALID,
		      "process.args");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"args\":[\"-l\",3]}}", ERR_INVALID,
		      "process.args[1]");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"envs\":[]}}", ERR_INVALID, "process.envs");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"envs\":{\"1X\":\"a\"}}}", ERR_INVALID,
		      "env name");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"envs\":{\"X\":1}}}", ERR_INVALID,
		      "env value");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"cwd\":\"tmp\"}}", ERR_INVALID, "absolute");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"cwd\":5}}", ERR_INVALID, "process.cwd");
	start_rejects("{\"process\":{\"cmd\":\"ls\",\"shell\":true}}", ERR_INVALID, "\"shell\"");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"detach\":true}", ERR_INVALID, "\"detach\"");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"stdin\":\"yes\"}", ERR_INVALID, "stdin");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"tag\":[]}", ERR_INVALID, "tag");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"tag\":\"\\u0001\"}", ERR_INVALID, "tag");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"pty\":{}}", ERR_INVALID, "pty.size");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"pty\":{\"size\":{\"cols\":0,\"rows\":2}}}",
		      ERR_INVALID, "cols");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"pty\":{\"size\":{\"cols\":80}}}",
		      ERR_INVALID, "rows");
	start_rejects("{\"process\":{\"cmd\":\"ls\"},\"pty\":{\"size\":{\"cols\":-1,\"rows\":2}}}",
		      ERR_INVALID, "cols");
	start_rejects("[1]", ERR_INVALID, "object");
}

/* Huge arguments: too many of them, or too many bytes for one frame. */
static void test_start_rejects_huge_args(void **state)
{
	(void)state;
	json_t *m = J("{\"process\":{\"cmd\":\"echo\",\"args\":[]}}");
	json_t *args = json_object_get(json_object_get(m, "process"), "args");
	for (int i = 0; i < EXEC_MAX_ARGS; i++)
		json_array_append_new(args, json_string("x"));
	struct thaw_err *e = NULL;
	struct exec_params p;
	assert_int_equal(e2b_start_parse(m, "user", &p, &e), -1);
	assert_err(e, ERR_INVALID, "process.args");
	err_free(e);
	e = NULL;
	json_array_clear(args);
	char *big = malloc(PROTO_MAX_PAYLOAD + 1);
	memset(big, 'a', PROTO_MAX_PAYLOAD);
	big[PROTO_MAX_PAYLOAD] = '\0';
	json_array_append_new(args, json_string(big));
	free(big);
	assert_int_equal(e2b_start_parse(m, "user", &p, &e), -1);
	assert_err(e, ERR_INVALID, "exceed");
	err_free(e);
	json_decref(m);
}

static void test_selector(void **state)
{
	(void)state;
	struct e2b_selector s;
	struct thaw_err *e = NULL;
	json_t *m = J("{\"pid\":42}");
	assert_int_equal(e2b_selector_parse(m, &s, &e), 0);
	assert_int_equal(s.pid, 42);
	assert_string_equal(s.tag, "");
	json_decref(m);
	m = J("{\"pid\":\"43\"}");
	assert_int_equal(e2b_selector_parse(m, &s, &e), 0);
	assert_int_equal(s.pid, 43);
	json_decref(m);
	m = J("{\"tag\":\"web\"}");
	assert_int_equal(e2b_selector_parse(m, &s, &e), 0);
	assert_int_equal(s.pid, 0);
	assert_string_equal(s.tag, "web");
	json_decref(m);
	static const char *const bad[] = {
		"{}",
		"{\"pid\":1,\"tag\":\"a\"}",
		"{\"pid\":0}",
		"{\"pid\":-3}",
		"{\"pid\":1.5}",
		"{\"pid\":\"1x\"}",
		"{\"pid\":99999999}",
		"{\"tag\":\"\"}",
		"{\"tag\":5}",
		"{\"name\":\"a\"}",
		"[]",
		"{\"pid\":\" 5\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = J(bad[i]);
		if (e2b_selector_parse(m, &s, &e) != -1)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(e->code, ERR_INVALID);
		err_free(e);
		e = NULL;
		json_decref(m);
	}
	char longtag[100];
	snprintf(longtag, sizeof(longtag), "{\"tag\":\"%0*d\"}", PROC_TAG_MAX + 1, 0);
	m = J(longtag);
	assert_int_equal(e2b_selector_parse(m, &s, &e), -1);
	err_free(e);
	json_decref(m);
}

static void test_proc_request(void **state)
{
	(void)state;
	static const char *const extra[] = { "signal", NULL };
	struct e2b_selector s;
	struct thaw_err *e = NULL;
	json_t *m = J("{\"process\":{\"pid\":7},\"signal\":\"SIGNAL_SIGKILL\"}");
	assert_int_equal(e2b_proc_request(m, extra, &s, &e), 0);
	assert_int_equal(s.pid, 7);
	json_decref(m);
	m = J("{\"process\":{\"pid\":7},\"input\":{}}");
	assert_int_equal(e2b_proc_request(m, extra, &s, &e), -1);
	assert_err(e, ERR_INVALID, "\"input\"");
	err_free(e);
	e = NULL;
	json_decref(m);
	m = J("{\"signal\":9}");
	assert_int_equal(e2b_proc_request(m, extra, &s, &e), -1);
	assert_err(e, ERR_INVALID, "process");
	err_free(e);
	json_decref(m);
}

static void test_signal(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	int signo = 0;
	static const struct {
		const char *json;
		int signo;
	} ok[] = { { "\"SIGNAL_SIGKILL\"", SIGKILL },
		   { "\"SIGNAL_SIGTERM\"", SIGTERM },
		   { "9", SIGKILL },
		   { "15", SIGTERM } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		json_t *v = json_loads(ok[i].json, JSON_DECODE_ANY, NULL);
		assert_int_equal(e2b_signal_parse(v, &signo, &e), 0);
		assert_int_equal(signo, ok[i].signo);
		json_decref(v);
	}
	static const char *const bad[] = {
		"\"SIGNAL_UNSPECIFIED\"", "0", "2", "\"SIGKILL\"", "\"9\"", "null", "{}", "9.0"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_int_equal(e2b_signal_parse(v, &signo, &e), -1);
		assert_err(e, ERR_INVALID, "SIGNAL_SIGKILL");
		err_free(e);
		e = NULL;
		json_decref(v);
	}
	assert_int_equal(e2b_signal_parse(NULL, &signo, &e), -1);
	err_free(e);
}

static void input_ok(const char *text, const char *want, size_t want_len)
{
	json_t *m = J(text);
	struct buf b = { 0 };
	struct thaw_err *e = NULL;
	if (e2b_input_parse(m, &b, &e) < 0)
		fail_msg("%s rejected: %s", text, err_msg(e));
	assert_int_equal(b.len, want_len);
	assert_memory_equal(b.data, want, want_len);
	buf_free(&b);
	json_decref(m);
}

static void test_input(void **state)
{
	(void)state;
	input_ok("{\"stdin\":\"aGVsbG8K\"}", "hello\n", 6);
	input_ok("{\"pty\":\"bHMK\"}", "ls\n", 3);
	/* Unpadded and URL-safe: protobuf JSON too. */
	input_ok("{\"stdin\":\"aGk\"}", "hi", 2);
	input_ok("{\"stdin\":\"-_8\"}", "\xfb\xff", 2);
	input_ok("{\"stdin\":\"\"}", "", 0);
	static const char *const bad[] = {
		"{}",
		"{\"stdin\":\"aGk=\",\"pty\":\"aGk=\"}",
		"{\"stdin\":\"a\"}",
		"{\"stdin\":\"a*b=\"}",
		"{\"stdin\":\"aG k\"}",
		"{\"stdin\":5}",
		"{\"keys\":\"aGk=\"}",
		"\"aGk=\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *m = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		struct buf b = { 0 };
		struct thaw_err *e = NULL;
		if (e2b_input_parse(m, &b, &e) != -1)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(e->code, ERR_INVALID);
		assert_int_equal(b.len, 0);
		buf_free(&b);
		err_free(e);
		json_decref(m);
	}
	struct thaw_err *e = NULL;
	struct buf b = { 0 };
	assert_int_equal(e2b_input_parse(NULL, &b, &e), -1);
	err_free(e);
	e = NULL;
	/* Past PROC_STDIN_MAX: refused before any decoding. */
	size_t n = PROC_STDIN_MAX / 3 * 4 + 8;
	char *big = malloc(n + 1);
	memset(big, 'A', n);
	big[n] = '\0';
	json_t *m = json_pack("{s:s}", "stdin", big);
	free(big);
	assert_int_equal(e2b_input_parse(m, &b, &e), -1);
	assert_err(e, ERR_INVALID, "input.stdin is over");
	err_free(e);
	json_decref(m);
}

static void test_pty_size(void **state)
{
	(void)state;
	uint32_t rows = 0, cols = 0;
	struct thaw_err *e = NULL;
	json_t *m = J("{\"size\":{\"cols\":120,\"rows\":40}}");
	assert_int_equal(e2b_pty_size_parse(m, &rows, &cols, &e), 0);
	assert_int_equal(rows, 40);
	assert_int_equal(cols, 120);
	json_decref(m);
	static const char *const bad[] = { "{}",
					   "{\"size\":{}}",
					   "{\"size\":{\"cols\":10000,\"rows\":1}}",
					   "{\"size\":{\"cols\":1,\"rows\":1,\"x\":1}}",
					   "{\"size\":{\"cols\":1,\"rows\":true}}",
					   "{\"size\":[1,1]}",
					   "{\"size\":{\"cols\":1,\"rows\":1},\"mode\":1}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = J(bad[i]);
		if (e2b_pty_size_parse(m, &rows, &cols, &e) != -1)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(e->code, ERR_INVALID);
		err_free(e);
		e = NULL;
		json_decref(m);
	}
}

static void test_user_from_auth(void **state)
{
	(void)state;
	char user[E2B_USER_MAX + 1];
	struct thaw_err *e = NULL;
	assert_int_equal(e2b_user_from_auth(NULL, user, &e), 0);
	assert_string_equal(user, "user");
	assert_int_equal(e2b_user_from_auth("Basic cm9vdDo=", user, &e), 0); /* root: */
	assert_string_equal(user, "root");
	assert_int_equal(e2b_user_from_auth("basic dXNlcjI6", user, &e), 0); /* user2: */
	assert_string_equal(user, "user2");
	static const char *const bad[] = {
		"Bearer abc",
		"Basic ",
		"Basic !!!!",
		"Basic cm9vdA==" /* "root": no ':' */,
		"Basic LXg6" /* -x: */,
		"Basic YSBiOg==" /* "a b:" */,
		"Basic",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (e2b_user_from_auth(bad[i], user, &e) != -1)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(e->code, ERR_INVALID);
		err_free(e);
		e = NULL;
	}
}

static void test_headers(void **state)
{
	(void)state;
	unsigned ka = 99;
	uint64_t ms = 99;
	struct thaw_err *e = NULL;
	assert_int_equal(e2b_keepalive_parse(NULL, &ka, &e), 0);
	assert_int_equal(ka, 0);
	assert_int_equal(e2b_keepalive_parse("50", &ka, &e), 0);
	assert_int_equal(ka, 50);
	assert_int_equal(e2b_timeout_parse(NULL, &ms, &e), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(e2b_timeout_parse("60000", &ms, &e), 0);
	assert_int_equal(ms, 60000);
	static const char *const bad_ka[] = { "", "-1", "+5", " 5", "5s", "3601", "1e3" };
	for (size_t i = 0; i < sizeof(bad_ka) / sizeof(bad_ka[0]); i++) {
		assert_int_equal(e2b_keepalive_parse(bad_ka[i], &ka, &e), -1);
		assert_err(e, ERR_INVALID, "Keepalive-Ping-Interval");
		err_free(e);
		e = NULL;
	}
	static const char *const bad_to[] = { "", "abc", "12345678901", "-5" };
	for (size_t i = 0; i < sizeof(bad_to) / sizeof(bad_to[0]); i++) {
		assert_int_equal(e2b_timeout_parse(bad_to[i], &ms, &e), -1);
		assert_err(e, ERR_INVALID, "Connect-Timeout-Ms");
		err_free(e);
		e = NULL;
	}
}

static void assert_json(json_t *got, const char *want)
{
	json_t *w = J(want);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("got %s, want %s", g, want);
	}
	json_decref(w);
	json_decref(got);
}

static void test_events(void **state)
{
	(void)state;
	assert_json(e2b_event_start(42), "{\"event\":{\"start\":{\"pid\":42}}}");
	assert_json(e2b_event_data("stdout", (const uint8_t *)"hi\n", 3),
		    "{\"event\":{\"data\":{\"stdout\":\"aGkK\"}}}");
	assert_json(e2b_event_data("pty", (const uint8_t *)"\xff", 1),
		    "{\"event\":{\"data\":{\"pty\":\"/w==\"}}}");
	assert_json(e2b_event_keepalive(), "{\"event\":{\"keepalive\":{}}}");
	assert_json(e2b_event_end(0, 0),
		    "{\"event\":{\"end\":{\"exitCode\":0,\"exited\":true,\"status\":\"exit status "
		    "0\"}}}");
	assert_json(e2b_event_end(3, 0),
		    "{\"event\":{\"end\":{\"exitCode\":3,\"exited\":true,\"status\":\"exit status "
		    "3\",\"error\":\"exit status 3\"}}}");
	assert_json(e2b_event_end(137, SIGKILL),
		    "{\"event\":{\"end\":{\"exitCode\":-1,\"exited\":false,\"status\":\"signal: "
		    "killed\",\"error\":\"signal: killed\"}}}");
	assert_json(e2b_event_end(128 + 40, 40),
		    "{\"event\":{\"end\":{\"exitCode\":-1,\"exited\":false,\"status\":\"signal: "
		    "signal 40\",\"error\":\"signal: signal 40\"}}}");
}

static void test_process_info(void **state)
{
	(void)state;
	struct agent_proc p = { .pid = 12, .running = true };
	p.cmd = "/bin/bash -l -c sleep 30 && echo  done";
	snprintf(p.tag, sizeof(p.tag), "svc");
	assert_json(
		e2b_process_info(&p),
		"{\"pid\":12,\"tag\":\"svc\",\"config\":{\"cmd\":\"/bin/bash\",\"args\":[\"-l\","
		"\"-c\",\"sleep 30 && echo  done\"],\"envs\":{}}}");
	p.cmd = "/bin/bash -i -l";
	p.tag[0] = '\0';
	assert_json(e2b_process_info(&p),
		    "{\"pid\":12,\"config\":{\"cmd\":\"/bin/bash\",\"args\":[\"-i\",\"-l\"],"
		    "\"envs\":{}}}");
	/* What the guest says is hostile: not UTF-8, or nothing. */
	p.cmd = "ls \xff";
	assert_json(e2b_process_info(&p),
		    "{\"pid\":12,\"config\":{\"cmd\":\"ls\",\"args\":[\"\xef\xbf\xbd\"],"
		    "\"envs\":{}}}");
	p.cmd = NULL;
	assert_json(e2b_process_info(&p),
		    "{\"pid\":12,\"config\":{\"cmd\":\"\",\"args\":[],\"envs\":{}}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_sdk_run),
		cmocka_unit_test(test_start_stdin_tag_pty),
		cmocka_unit_test(test_start_rejects_bad_messages),
		cmocka_unit_test(test_start_rejects_huge_args),
		cmocka_unit_test(test_selector),
		cmocka_unit_test(test_proc_request),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_input),
		cmocka_unit_test(test_pty_size),
		cmocka_unit_test(test_user_from_auth),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_process_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
