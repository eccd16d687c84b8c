/* src/thawd/config.c: --listen parsing, and config_load's option table. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static void listen_ok(const char *s, const char *addr, int port)
{
	char *a = NULL;
	int p = -1;
	if (config_parse_listen(s, &a, &p) != 0)
		fail_msg("\"%s\" rejected", s);
	assert_string_equal(a, addr);
	assert_int_equal(p, port);
	free(a);
}

static void listen_rejects(const char *s)
{
	char *a = (char *)"untouched";
	int p = 1234;
	if (config_parse_listen(s, &a, &p) != -1)
		fail_msg("\"%s\" accepted", s);
	/* Out-parameters are set only on success. */
	assert_string_equal(a, "untouched");
	assert_int_equal(p, 1234);
}

static void test_listen_accepts_host_and_port(void **state)
{
	(void)state;
	listen_ok("127.0.0.1:7420", "127.0.0.1", 7420);
	listen_ok("0.0.0.0:1", "0.0.0.0", 1);
	listen_ok("localhost:65535", "localhost", 65535);
	/* The port follows the last colon. */
	listen_ok("[::1]:8080", "[::1]", 8080);
}

static void test_listen_rejects_malformed(void **state)
{
	(void)state;
	listen_rejects(":80");
	listen_rejects("host");
	listen_rejects("");
	listen_rejects("h:");
	listen_rejects("h:0");
	listen_rejects("h:65536");
	listen_rejects("h:12x");
	listen_rejects("h:-1");
	listen_rejects("h:99999999999999999999");
	listen_rejects("h:80:");
}

static void clear_env(void)
{
	static const char *const vars[] = {
		"THAW_LISTEN", "THAW_DATA_DIR", "THAW_RECIPES_DIR", "THAW_AGENT", "THAW_QEMU",
		"THAW_ACCEL", "THAW_STORE", "THAW_STORE_SIZE_GB", "THAW_MAX_SANDBOXES",
		"THAW_DEFAULT_TIMEOUT", "THAW_MAX_TIMEOUT", "THAW_MAX_EXEC_OUTPUT_MB",
		"THAW_LOG_LEVEL", "THAW_KEYS_FILE",
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

/* config_load with stderr (usage errors) sent to /dev/null, so the test
 * prints nothing but cmocka's report. */
static int load(int argc, char **argv, struct thawd_config *c, bool *teardown)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(saved >= 0 && devnull >= 0);
	dup2(devnull, STDERR_FILENO);
	close(devnull);
	int rc = config_load(argc, argv, c, teardown);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	return rc;
}

static void test_load_defaults(void **state)
{
	(void)state;
	char *argv[] = { (char *)"thawd", NULL };
	clear_env();
	struct thawd_config c;
	bool teardown = false;
	assert_int_equal(load(1, argv, &c, &teardown), 0);
	assert_false(teardown);
	assert_string_equal(c.listen_addr, "127.0.0.1");
	assert_int_equal(c.listen_port, 7420);
	assert_string_equal(c.data_dir, "/var/lib/thaw");
	assert_int_equal(c.max_sandboxes, 0); /* what memory holds */
	assert_int_equal(c.memory_reserve_mb, 1024);
	assert_int_equal(c.sandbox_memory_mb, 0);
	assert_int_equal(c.default_timeout_s, 300);
	assert_int_equal(c.max_timeout_s, 86400);
	assert_int_equal(c.max_exec_output_mb, 64);
	assert_true(c.store_bytes == 64ull << 30);
	assert_non_null(c.agent_path);
	config_free(&c);
}

static void test_load_options_and_environment(void **state)
{
	(void)state;
	clear_env();
	setenv("THAW_MAX_SANDBOXES", "9", 1); /* the option below wins */
	setenv("THAW_MAX_TIMEOUT", "600", 1);
	char *argv[] = {
		(char *)"thawd",
		(char *)"--listen",
		(char *)"0.0.0.0:8000",
		(char *)"--data-dir=/srv/thaw/",
		(char *)"--max-sandboxes=4",
		(char *)"--teardown",
		(char *)"--store-size",
		(char *)"2",
		NULL,
	};
	struct thawd_config c;
	bool teardown = false;
	assert_int_equal(load(8, argv, &c, &teardown), 0);
	assert_true(teardown);
	assert_string_equal(c.listen_addr, "0.0.0.0");
	assert_int_equal(c.listen_port, 8000);
	assert_string_equal(c.data_dir, "/srv/thaw"); /* trailing slash dropped */
	assert_int_equal(c.max_sandboxes, 4);
	assert_int_equal(c.max_timeout_s, 600);
	assert_true(c.store_bytes == 2ull << 30);
	assert_null(c.keys_file); /* none: DATA/api-key */
	config_free(&c);
	clear_env();
}

static void test_keys_file_option(void **state)
{
	(void)state;
	clear_env();
	setenv("THAW_KEYS_FILE", "/etc/thaw/keys.json", 1);
	char *from_env[] = { (char *)"thawd", NULL };
	struct thawd_config c;
	bool teardown = false;
	assert_int_equal(load(1, from_env, &c, &teardown), 0);
	assert_string_equal(c.keys_file, "/etc/thaw/keys.json");
	config_free(&c);
	char *option[] = { (char *)"thawd", (char *)"--keys-file=/srv/k.json", NULL };
	assert_int_equal(load(2, option, &c, &teardown), 0);
	assert_string_equal(c.keys_file, "/srv/k.json"); /* the option wins */
	config_free(&c);
	char *empty[] = { (char *)"thawd", (char *)"--keys-file=", NULL };
	assert_int_equal(load(2, empty, &c, &teardown), -1);
	clear_env();
}

static void test_load_rejects_bad_arguments(void **state)
{
	(void)state;
	struct thawd_config c;
	bool teardown = false;
	clear_env();
	char *unknown[] = { (char *)"thawd", (char *)"--frobnicate", NULL };
	assert_int_equal(load(2, unknown, &c, &teardown), -1);
	assert_null(c.data_dir); /* freed and cleared */
	char *missing[] = { (char *)"thawd", (char *)"--listen", NULL };
	assert_int_equal(load(2, missing, &c, &teardown), -1);
	char *bad_listen[] = { (char *)"thawd", (char *)"--listen=h:0", NULL };
	assert_int_equal(load(2, bad_listen, &c, &teardown), -1);
	char *timeouts[] = { (char *)"thawd", (char *)"--default-timeout=100",
			     (char *)"--max-timeout=50", NULL };
	assert_int_equal(load(3, timeouts, &c, &teardown), -1);
	char *comma[] = { (char *)"thawd", (char *)"--data-dir=/srv/a,b", NULL };
	assert_int_equal(load(2, comma, &c, &teardown), -1);
	/* 71 characters: DATA/run/<id>/qmp.sock would not fit a socket path. */
	char opt[128] = "--data-dir=/";
	memset(opt + strlen(opt), 'd', 70);
	char *too_long[] = { (char *)"thawd", opt, NULL };
	assert_int_equal(load(2, too_long, &c, &teardown), -1);
	opt[strlen(opt) - 1] = '\0'; /* 70 is the limit */
	assert_int_equal(load(2, too_long, &c, &teardown), 0);
	config_free(&c);
}

static void test_cpu_model_and_bucket_collector(void **state)
{
	(void)state;
	struct thawd_config c;
	bool teardown = false;
	clear_env();
	char *none[] = { (char *)"thawd", NULL };
	assert_int_equal(load(1, none, &c, &teardown), 0);
	assert_null(c.cpu_model); /* host under KVM, max under TCG */
	assert_int_equal(c.s3_gc_interval_s, 21600);
	assert_int_equal(c.s3_gc_grace_s, 86400);
	config_free(&c);
	char *named[] = { (char *)"thawd", (char *)"--cpu-model=Skylake-Server-v4",
			  (char *)"--s3-gc-interval=0", (char *)"--s3-gc-grace=7200", NULL };
	assert_int_equal(load(4, named, &c, &teardown), 0);
	assert_string_equal(c.cpu_model, "Skylake-Server-v4");
	assert_int_equal(c.s3_gc_interval_s, 0);
	assert_int_equal(c.s3_gc_grace_s, 7200);
	config_free(&c);
	/* A model, never QEMU properties; a grace shorter than an upload. */
	static const char *const bad[] = { "--cpu-model=max,+avx512f", "--cpu-model=",
					   "--s3-gc-grace=60", "--s3-gc-interval=-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { (char *)"thawd", (char *)bad[i], NULL };
		assert_int_equal(load(2, argv, &c, &teardown), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_accepts_host_and_port),
		cmocka_unit_test(test_listen_rejects_malformed),
		cmocka_unit_test(test_load_defaults),
		cmocka_unit_test(test_cpu_model_and_bucket_collector),
		cmocka_unit_test(test_load_options_and_environment),
		cmocka_unit_test(test_keys_file_option),
		cmocka_unit_test(test_load_rejects_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
