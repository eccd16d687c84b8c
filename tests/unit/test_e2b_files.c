/* src/thawd/e2b/files_entry.c: the E2B file area's pure rules. EntryInfo
 * as envd (Go) writes it, the user and path rules, the SDK's URL
 * signature (expected values computed independently with Python's
 * hashlib and base64), the multipart part rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2b/files.h"
#include "proto.h"

#define TOKEN "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"

static void test_permissions_as_go_writes_them(void **state)
{
	(void)state;
	char p[16];
	e2b_permissions(FTYPE_FILE, 0644, p);
	assert_string_equal(p, "-rw-r--r--");
	e2b_permissions(FTYPE_DIR, 0755, p);
	assert_string_equal(p, "drwxr-xr-x");
	e2b_permissions(FTYPE_SYMLINK, 0777, p);
	assert_string_equal(p, "Lrwxrwxrwx");
	e2b_permissions(FTYPE_DIR, 01777, p); /* /tmp */
	assert_string_equal(p, "dtrwxrwxrwx");
	e2b_permissions(FTYPE_FILE, 04755, p);
	assert_string_equal(p, "urwxr-xr-x");
	e2b_permissions(FTYPE_FILE, 0, p);
	assert_string_equal(p, "----------");
}

static void test_types_and_time(void **state)
{
	(void)state;
	assert_string_equal(e2b_file_type(FTYPE_FILE), "FILE_TYPE_FILE");
	assert_string_equal(e2b_file_type(FTYPE_DIR), "FILE_TYPE_DIRECTORY");
	assert_string_equal(e2b_file_type(FTYPE_SYMLINK), "FILE_TYPE_SYMLINK");
	assert_string_equal(e2b_file_type(FTYPE_OTHER), "FILE_TYPE_UNSPECIFIED");
	char t[40];
	e2b_timestamp(1700000000123456789ull, t);
	assert_string_equal(t, "2023-11-14T22:13:20.123456789Z");
	e2b_timestamp(0, t);
	assert_string_equal(t, "1970-01-01T00:00:00.000000000Z");
}

static void test_entry_json(void **state)
{
	(void)state;
	struct file_info fi = { .name = "b.txt", .owner = "user", .type = FTYPE_FILE, .size = 5,
				.mode = 0100644 & 07777, .uid = 1000, .gid = 1000,
				.mtime_ns = 1700000000000000000ull };
	json_t *o = e2b_entry_json(&fi, "/home/user/a/b.txt");
	assert_string_equal(json_string_value(json_object_get(o, "name")), "b.txt");
	assert_string_equal(json_string_value(json_object_get(o, "path")), "/home/user/a/b.txt");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "FILE_TYPE_FILE");
	assert_int_equal(json_integer_value(json_object_get(o, "size")), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "mode")), 0644);
	assert_string_equal(json_string_value(json_object_get(o, "permissions")), "-rw-r--r--");
	assert_string_equal(json_string_value(json_object_get(o, "owner")), "user");
	/* no name for the group: its number, as a string */
	assert_string_equal(json_string_value(json_object_get(o, "group")), "1000");
	assert_string_equal(json_string_value(json_object_get(o, "modifiedTime")),
			    "2023-11-14T22:13:20.000000000Z");
	assert_null(json_object_get(o, "symlinkTarget"));
	json_decref(o);
	fi.type = FTYPE_SYMLINK;
	fi.link = "/etc/\xff"; /* not UTF-8: still a string */
	o = e2b_entry_json(&fi, "/");
	assert_string_equal(json_string_value(json_object_get(o, "name")), "/");
	assert_string_equal(json_string_value(json_object_get(o, "symlinkTarget")),
			    "/etc/\xef\xbf\xbd");
	json_decref(o);
}

static void test_users(void **state)
{
	(void)state;
	char u[E2B_USER_MAX + 1], home[E2B_USER_MAX + 8];
	assert_int_equal(e2b_user_from_auth(NULL, u, NULL), 0);
	assert_string_equal(u, "user");
	assert_int_equal(e2b_user_from_auth("Basic cm9vdDo=", u, NULL), 0); /* "root:" */
	assert_string_equal(u, "root");
	assert_int_equal(e2b_user_from_auth("Basic Og==", u, NULL), 0); /* ":" */
	assert_string_equal(u, "user");
	struct thaw_err *err = NULL;
	assert_int_equal(e2b_user_from_auth("Bearer x", u, &err), -1);
	assert_int_equal(err->code, ERR_INVALID);
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_user_from_auth("Basic cm9vdA==", u, &err), -1); /* "root": no ':' */
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_user_from_auth("Basic Li4vZXRjOg==", u, &err), -1); /* "../etc:" */
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_user_from_auth("Basic !!!", u, &err), -1);
	err_free(err);
	assert_int_equal(e2b_user_check("a-b.c_1", NULL), 0);
	assert_int_equal(e2b_user_check("-x", NULL), -1);
	assert_int_equal(e2b_user_check("", NULL), -1);
	assert_int_equal(e2b_user_check("a/b", NULL), -1);
	assert_int_equal(e2b_user_check("..", NULL), -1);
	assert_int_equal(e2b_user_check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL), -1); /* 33 */
	e2b_user_home("root", home);
	assert_string_equal(home, "/root");
	e2b_user_home("user", home);
	assert_string_equal(home, "/home/user");
}

static void test_paths(void **state)
{
	(void)state;
	char out[FILE_PATH_MAX + 1];
	assert_int_equal(e2b_path_resolve("/etc/x", 6, "/home/user", out, NULL), 0);
	assert_string_equal(out, "/etc/x");
	assert_int_equal(e2b_path_resolve("a/b.txt", 7, "/home/user", out, NULL), 0);
	assert_string_equal(out, "/home/user/a/b.txt");
	assert_int_equal(e2b_path_resolve("~", 1, "/root", out, NULL), 0);
	assert_string_equal(out, "/root");
	assert_int_equal(e2b_path_resolve("~/x", 3, "/root", out, NULL), 0);
	assert_string_equal(out, "/root/x");
	assert_int_equal(e2b_path_resolve("~x", 2, "/root", out, NULL), 0);
	assert_string_equal(out, "/root/~x");
	struct thaw_err *err = NULL;
	assert_int_equal(e2b_path_resolve("", 0, "/root", out, &err), -1);
	assert_int_equal(err->code, ERR_INVALID);
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_path_resolve("/a\0b", 4, "/root", out, &err), -1);
	assert_non_null(strstr(err->msg, "NUL"));
	err_free(err);
	err = NULL;
	char *long_path = malloc(FILE_PATH_MAX + 2);
	memset(long_path, 'a', FILE_PATH_MAX + 1);
	long_path[0] = '/';
	long_path[FILE_PATH_MAX + 1] = '\0';
	assert_int_equal(e2b_path_resolve(long_path, FILE_PATH_MAX + 1, "/root", out, &err), -1);
	assert_int_equal(err->code, ERR_INVALID);
	err_free(err);
	/* relative: the home counts toward the limit */
	long_path[FILE_PATH_MAX - 4] = '\0';
	assert_int_equal(
		e2b_path_resolve(long_path + 1, FILE_PATH_MAX - 5, "/home/user", out, NULL), -1);
	free(long_path);
}

static void test_signature(void **state)
{
	(void)state;
	char sig[E2B_SIGNATURE_LEN + 1];
	e2b_signature("/home/user/a.txt", "read", "user", TOKEN, NULL, sig);
	assert_string_equal(sig, "v1_pcipzJ4GtevZHrGIyKI7PmdycrF2ozDaCLuIfXx7srY");
	e2b_signature("a b.txt", "write", NULL, TOKEN, "1700000000", sig);
	assert_string_equal(sig, "v1_cqi1iOM9Ow/PrUjzB5l7QxMQVFQ+VuKSV8+d7CUP0Cs");
	const char *good = "v1_pcipzJ4GtevZHrGIyKI7PmdycrF2ozDaCLuIfXx7srY";
	assert_true(e2b_signature_matches(good, "/home/user/a.txt", "read", "user", TOKEN, ""));
	/* every field counts */
	assert_false(e2b_signature_matches(good, "/home/user/b.txt", "read", "user", TOKEN, ""));
	assert_false(e2b_signature_matches(good, "/home/user/a.txt", "write", "user", TOKEN, ""));
	assert_false(e2b_signature_matches(good, "/home/user/a.txt", "read", "root", TOKEN, ""));
	assert_false(e2b_signature_matches(good, "/home/user/a.txt", "read", "user", "x", ""));
	assert_false(e2b_signature_matches(good, "/home/user/a.txt", "read", "user", TOKEN, "1"));
	assert_false(e2b_signature_matches("v1_pcipzJ4GtevZHrGIyKI7PmdycrF2ozDaCLuIfXx7srZ",
					   "/home/user/a.txt", "read", "user", TOKEN, ""));
	assert_false(e2b_signature_matches("", "/home/user/a.txt", "read", "user", TOKEN, ""));
	assert_false(e2b_signature_matches("v1_pcipzJ4GtevZHrGIyKI7PmdycrF2ozDaCLuIfXx7srY=",
					   "/home/user/a.txt", "read", "user", TOKEN, ""));
}

static void test_expiration(void **state)
{
	(void)state;
	struct thaw_err *err = NULL;
	assert_int_equal(e2b_expiration_check(NULL, 1000, NULL), 0);
	assert_int_equal(e2b_expiration_check("", 1000, NULL), 0);
	assert_int_equal(e2b_expiration_check("1000", 1000, NULL), 0);
	assert_int_equal(e2b_expiration_check("999", 1000, &err), -1);
	assert_int_equal(err->code, ERR_UNAUTHORIZED);
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_expiration_check("-5", 1000, &err), -1);
	assert_int_equal(err->code, ERR_INVALID);
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_expiration_check("12x", 1000, &err), -1);
	assert_int_equal(err->code, ERR_INVALID);
	err_free(err);
	assert_int_equal(e2b_expiration_check("9999999999999999", 1000, NULL), -1);
}

static void test_part_targets(void **state)
{
	(void)state;
	const char *t = NULL;
	struct thaw_err *err = NULL;
	assert_int_equal(e2b_part_target("file", "/a", NULL, 0, &t, NULL), 0);
	assert_string_equal(t, "/a");
	assert_int_equal(e2b_part_target("file", "x", "/q", 0, &t, NULL), 0);
	assert_string_equal(t, "/q");
	assert_int_equal(e2b_part_target("file", "x", "/q", 1, &t, &err), -1);
	assert_non_null(strstr(err->msg, "one file"));
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_part_target("other", "/a", NULL, 0, &t, &err), -1);
	assert_non_null(strstr(err->msg, "\"file\""));
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_part_target("file", NULL, NULL, 0, &t, &err), -1);
	assert_non_null(strstr(err->msg, "filename"));
	err_free(err);
	err = NULL;
	assert_int_equal(e2b_part_target("file", "/a", NULL, E2B_UPLOAD_PARTS_MAX - 1, &t, NULL),
			 0);
	assert_int_equal(e2b_part_target("file", "/a", NULL, E2B_UPLOAD_PARTS_MAX, &t, &err), -1);
	assert_int_equal(err->code, ERR_INVALID);
	err_free(err);
}

/* "type name" of each event, joined by ", " */
static void events_are(const char *dir, const char *type, const char *path, const char *from,
		       const char *want)
{
	json_t *ev[2];
	size_t n = e2b_watch_events(dir, type, path, from, ev);
	char got[256] = "";
	for (size_t i = 0; i < n; i++) {
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s %s", i ? ", " : "",
			 json_string_value(json_object_get(ev[i], "type")),
			 json_string_value(json_object_get(ev[i], "name")));
		json_decref(ev[i]);
	}
	assert_string_equal(got, want);
}

static void test_watch_events(void **state)
{
	(void)state;
	events_are("/w", "create", "/w/a", NULL, "EVENT_TYPE_CREATE a");
	events_are("/w", "write", "/w/sub/a", NULL, "EVENT_TYPE_WRITE sub/a");
	events_are("/w", "remove", "/w/a", NULL, "EVENT_TYPE_REMOVE a");
	events_are("/", "create", "/a", NULL, "EVENT_TYPE_CREATE a");
	events_are("/w", "rename", "/w/b", "/w/a", "EVENT_TYPE_RENAME a, EVENT_TYPE_CREATE b");
	events_are("/w", "rename", "/w/b", NULL, "EVENT_TYPE_CREATE b");
	/* thaw's whole-file write: its temp file never shows */
	events_are("/w", "create", "/w/.thaw-write-Ab12cD", NULL, "");
	events_are("/w", "write", "/w/.thaw-write-Ab12cD", NULL, "");
	events_are("/w", "rename", "/w/f", "/w/.thaw-write-Ab12cD",
		   "EVENT_TYPE_CREATE f, EVENT_TYPE_WRITE f");
	events_are("/w", "ready", "/w", NULL, "");
	events_are("/w", "overflow", "", NULL, "");
	events_are("/w", "gone", "/w", NULL, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_permissions_as_go_writes_them),
		cmocka_unit_test(test_types_and_time),
		cmocka_unit_test(test_entry_json),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_expiration),
		cmocka_unit_test(test_part_targets),
		cmocka_unit_test(test_watch_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
