/* src/objstore: key rules, the file:// backend against a fresh temp dir,
 * the XML extractor, query encoding and ListObjectsV2 page parsing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "objstore.h"
#include "s3.h"
#include "s3uri.h"
#include "s3xml.h"
#include "testutil.h"

struct fx {
	char dir[64];
	char endpoint[96];
	struct objstore *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/thaw-unit-os-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->endpoint, sizeof(f->endpoint), "file://%s", f->dir);
	struct objstore_config c = { .endpoint = f->endpoint };
	struct thaw_err *e = NULL;
	if (objstore_open(&c, &f->s, &e) < 0) {
		err_free(e);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct thaw_err *e = NULL;
	objstore_close(f->s);
	int rc = fs_rm_rf(f->dir, &e);
	err_free(e);
	free(f);
	return rc;
}

/* Runs an objstore call expecting failure with code; frees the error. */
#define EXPECT_ERR(want, call)                                                                     \
	do {                                                                                       \
		struct thaw_err *e_ = NULL;                                                        \
		struct thaw_err **err = &e_;                                                       \
		assert_int_equal((call), -1);                                                      \
		assert_non_null(e_);                                                               \
		assert_int_equal(e_->code, (want));                                                \
		err_free(e_);                                                                      \
		(void)err;                                                                         \
	} while (0)

#define EXPECT_OK(call)                                                                            \
	do {                                                                                       \
		struct thaw_err *e_ = NULL;                                                        \
		struct thaw_err **err = &e_;                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ < 0)                                                                       \
			fail_msg("%s: %s", #call, err_msg(e_));                                    \
		err_free(e_);                                                                      \
		(void)err;                                                                         \
	} while (0)

static void test_key_rules(void **state)
{
	(void)state;
	const char *good[] = {
		"a",	"templates/default/b-1/manifest.json", "data/x_y-z.1", ".hidden", "a/...",
		"a/..b"
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_true(objstore_key_valid(good[i]));
	const char *bad[] = { "",      "/a",	 "a//b", "a/",	"..",	"a/../b", "a/..", "./a",
			      "a/./b", "sp ace", "a\\b", "a?b", "a%20", "é",	  "a\nb" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_false(objstore_key_valid(bad[i]));
	assert_false(objstore_key_valid(NULL));
	char key[1026];
	memset(key, 'k', sizeof(key));
	key[1024] = '\0';
	assert_true(objstore_key_valid(key));
	key[1024] = 'k';
	key[1025] = '\0';
	assert_false(objstore_key_valid(key));
}

static void test_open_validates(void **state)
{
	(void)state;
	struct {
		struct objstore_config c;
	} bad[] = {
		{ { .endpoint = NULL } },
		{ { .endpoint = "file://relative" } },
		{ { .endpoint = "file:///a/../b" } },
		{ { .endpoint = "ftp://x",
		    .bucket = "b-1",
		    .access_key = "a",
		    .secret_key = "s" } },
		{ { .endpoint = "http://",
		    .bucket = "b-1",
		    .access_key = "a",
		    .secret_key = "s" } },
		{ { .endpoint = "http://h/path",
		    .bucket = "b-1",
		    .access_key = "a",
		    .secret_key = "s" } },
		{ { .endpoint = "http://h", .bucket = "B", .access_key = "a", .secret_key = "s" } },
		{ { .endpoint = "http://h", .bucket = "bkt", .secret_key = "s" } },
		{ { .endpoint = "http://h",
		    .bucket = "bkt",
		    .access_key = "a b",
		    .secret_key = "s" } },
		{ { .endpoint = "http://h",
		    .bucket = "bkt",
		    .region = "US EAST",
		    .access_key = "a",
		    .secret_key = "s" } },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct objstore *s = NULL;
		EXPECT_ERR(ERR_INVALID, objstore_open(&bad[i].c, &s, err));
		assert_null(s);
	}
	struct objstore_config ok = { .endpoint = "http://127.0.0.1:9/",
				      .bucket = "my.bucket",
				      .access_key = "AK",
				      .secret_key = "SK" };
	struct objstore *s = NULL;
	EXPECT_OK(objstore_open(&ok, &s, err));
	assert_string_equal(objstore_endpoint(s), "http://127.0.0.1:9");
	assert_string_equal(objstore_bucket(s), "my.bucket");
	objstore_close(s);
}

static void test_file_put_get_head(void **state)
{
	struct fx *f = *state;
	EXPECT_OK(objstore_put_buf(f->s, "a/b/c.txt", "hello world", 11, err));
	uint64_t size = 0;
	EXPECT_OK(objstore_head(f->s, "a/b/c.txt", &size, err));
	assert_int_equal(size, 11);
	char buf[16] = { 0 };
	EXPECT_OK(objstore_get_range(f->s, "a/b/c.txt", 6, 5, buf, err));
	assert_memory_equal(buf, "world", 5);
	char *all = NULL;
	size_t len = 0;
	EXPECT_OK(objstore_get_all(f->s, "a/b/c.txt", 100, &all, &len, err));
	assert_int_equal(len, 11);
	assert_string_equal(all, "hello world");
	free(all);
	EXPECT_ERR(ERR_TOO_LARGE, objstore_get_all(f->s, "a/b/c.txt", 10, &all, &len, err));
	/* An overwrite replaces the whole object. */
	EXPECT_OK(objstore_put_buf(f->s, "a/b/c.txt", "x", 1, err));
	EXPECT_OK(objstore_head(f->s, "a/b/c.txt", &size, err));
	assert_int_equal(size, 1);
	EXPECT_OK(objstore_put_buf(f->s, "empty", NULL, 0, err));
	EXPECT_OK(objstore_get_all(f->s, "empty", 0, &all, &len, err));
	assert_int_equal(len, 0);
	assert_string_equal(all, "");
	free(all);
}

static void test_file_missing_and_short(void **state)
{
	struct fx *f = *state;
	char buf[32];
	uint64_t size;
	char *all;
	size_t len;
	EXPECT_ERR(ERR_NOT_FOUND, objstore_head(f->s, "nope", &size, err));
	EXPECT_ERR(ERR_NOT_FOUND, objstore_get_range(f->s, "nope", 0, 1, buf, err));
	EXPECT_ERR(ERR_NOT_FOUND, objstore_get_all(f->s, "nope/deeper", 10, &all, &len, err));
	EXPECT_OK(objstore_put_buf(f->s, "short", "0123456789", 10, err));
	EXPECT_ERR(ERR_CORRUPT, objstore_get_range(f->s, "short", 5, 10, buf, err));
	EXPECT_ERR(ERR_CORRUPT, objstore_get_range(f->s, "short", 10, 1, buf, err));
	EXPECT_ERR(ERR_CORRUPT, objstore_get_range(f->s, "short", 1000, 1, buf, err));
	EXPECT_OK(objstore_get_range(f->s, "short", 9, 1, buf, err));
	assert_int_equal(buf[0], '9');
	/* A directory of keys is not an object. */
	EXPECT_OK(objstore_put_buf(f->s, "d/x", "1", 1, err));
	EXPECT_ERR(ERR_NOT_FOUND, objstore_head(f->s, "d", &size, err));
	EXPECT_ERR(ERR_CONFLICT, objstore_put_buf(f->s, "d", "1", 1, err));
	EXPECT_ERR(ERR_CONFLICT, objstore_put_buf(f->s, "d/x/y", "1", 1, err));
}

static void test_file_invalid_keys(void **state)
{
	struct fx *f = *state;
	char buf[4];
	uint64_t size;
	EXPECT_ERR(ERR_INVALID, objstore_put_buf(f->s, "../escape", "x", 1, err));
	EXPECT_ERR(ERR_INVALID, objstore_put_buf(f->s, "/etc/passwd", "x", 1, err));
	EXPECT_ERR(ERR_INVALID, objstore_get_range(f->s, "a/../../x", 0, 1, buf, err));
	EXPECT_ERR(ERR_INVALID, objstore_head(f->s, "", &size, err));
	EXPECT_ERR(ERR_INVALID, objstore_delete(f->s, "a//b", err));
	char path[160];
	snprintf(path, sizeof(path), "%s/../escape", f->dir);
	assert_false(fs_exists(path));
}

static int collect(const char *key, uint64_t size, int64_t modified, void *ctx)
{
	struct buf *b = ctx;
	/* The file backend's times are the files' (now, give or take). */
	int64_t now = (int64_t)time(NULL);
	assert_true(modified > now - 3600 && modified <= now + 1);
	buf_printf(b, "%s=%llu;", key, (unsigned long long)size);
	return 0;
}

static int stop_at_second(const char *key, uint64_t size, int64_t modified, void *ctx)
{
	(void)key;
	(void)size;
	(void)modified;
	return ++*(int *)ctx == 2 ? -1 : 0;
}

static void test_file_list_delete(void **state)
{
	struct fx *f = *state;
	const char *keys[] = { "t/b", "t/a/2", "t/a/1", "t/ab", "u/x", "t.z" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		EXPECT_OK(objstore_put_buf(f->s, keys[i], "abcdef", i, err));
	struct buf b = { 0 };
	EXPECT_OK(objstore_list(f->s, "t/", collect, &b, err));
	assert_string_equal(buf_cstr(&b), "t/a/1=2;t/a/2=1;t/ab=3;t/b=0;");
	buf_reset(&b);
	EXPECT_OK(objstore_list(f->s, "t/a", collect, &b, err));
	assert_string_equal(buf_cstr(&b), "t/a/1=2;t/a/2=1;t/ab=3;");
	buf_reset(&b);
	EXPECT_OK(objstore_list(f->s, "", collect, &b, err));
	assert_string_equal(buf_cstr(&b), "t.z=5;t/a/1=2;t/a/2=1;t/ab=3;t/b=0;u/x=4;");
	buf_reset(&b);
	EXPECT_OK(objstore_list(f->s, "none/", collect, &b, err));
	assert_string_equal(buf_cstr(&b), "");
	int n = 0;
	EXPECT_ERR(ERR_INTERNAL, objstore_list(f->s, "t/", stop_at_second, &n, err));
	EXPECT_ERR(ERR_INVALID, objstore_list(f->s, "../", collect, &b, err));
	/* Delete: twice is fine; emptied directories go. */
	EXPECT_OK(objstore_delete(f->s, "t/a/1", err));
	EXPECT_OK(objstore_delete(f->s, "t/a/1", err));
	EXPECT_OK(objstore_delete(f->s, "t/a/2", err));
	char path[160];
	snprintf(path, sizeof(path), "%s/t/a", f->dir);
	assert_false(fs_exists(path));
	buf_reset(&b);
	EXPECT_OK(objstore_list(f->s, "t/", collect, &b, err));
	assert_string_equal(buf_cstr(&b), "t/ab=3;t/b=0;");
	buf_free(&b);
}

/* A put that fails leaves neither the object nor a temporary file; a
 * temporary file of a writer that died is never listed. */
static void test_file_atomic(void **state)
{
	struct fx *f = *state;
	char path[200];
	EXPECT_OK(objstore_put_buf(f->s, "at/obj", "old", 3, err));
	int fd = open("/dev/null", O_WRONLY);
	assert_true(fd >= 0);
	/* /dev/null cannot be read: the put fails and "old" stays. */
	EXPECT_ERR(ERR_INTERNAL, objstore_put_fd(f->s, "at/obj", fd, 10, err));
	close(fd);
	fd = open("/dev/zero", O_RDONLY);
	EXPECT_OK(objstore_put_fd(f->s, "at/zero", fd, 5000, err));
	close(fd);
	char *all;
	size_t len;
	EXPECT_OK(objstore_get_all(f->s, "at/obj", 100, &all, &len, err));
	assert_string_equal(all, "old");
	free(all);
	snprintf(path, sizeof(path), "%s/at/obj~tmp.dead01", f->dir);
	struct thaw_err *e = NULL;
	assert_int_equal(fs_write_atomic(path, "junk", 4, 0644, &e), 0);
	struct buf b = { 0 };
	EXPECT_OK(objstore_list(f->s, "at/", collect, &b, err));
	assert_string_equal(buf_cstr(&b), "at/obj=3;at/zero=5000;");
	buf_free(&b);
	/* A source shorter than the length given fails the put. */
	char src[] = "/tmp/thaw-unit-os-src-XXXXXX";
	fd = mkstemp(src);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	EXPECT_ERR(ERR_INVALID, objstore_put_fd(f->s, "at/short", fd, 10, err));
	close(fd);
	unlink(src);
	uint64_t size;
	EXPECT_ERR(ERR_NOT_FOUND, objstore_head(f->s, "at/short", &size, err));
}

static void test_stats(void **state)
{
	struct fx *f = *state;
	char buf[4];
	uint64_t size;
	EXPECT_OK(objstore_put_buf(f->s, "s/a", "abcd", 4, err));
	EXPECT_OK(objstore_get_range(f->s, "s/a", 1, 2, buf, err));
	EXPECT_ERR(ERR_CORRUPT, objstore_get_range(f->s, "s/a", 3, 2, buf, err));
	EXPECT_ERR(ERR_NOT_FOUND, objstore_head(f->s, "s/none", &size, err));
	struct objstore_stats st;
	objstore_get_stats(f->s, &st);
	assert_int_equal(st.puts, 1);
	assert_int_equal(st.bytes_uploaded, 4);
	assert_int_equal(st.gets, 1);
	assert_int_equal(st.bytes_fetched, 2);
	assert_int_equal(st.errors, 1); /* a missing object is no failure */
	assert_int_equal(st.retries, 0);
}

static char *text(const char *s, size_t max)
{
	char *out = NULL;
	return s3xml_text(s, strlen(s), max, &out) < 0 ? NULL : out;
}

static void test_xml_text(void **state)
{
	(void)state;
	char *t = text("a&amp;b&lt;c&gt;&quot;d&quot;&apos;", 100);
	assert_string_equal(t, "a&b<c>\"d\"'");
	free(t);
	t = text("&#65;&#x42;&#xe9;", 100);
	assert_string_equal(t, "AB\xc3\xa9");
	free(t);
	t = text("", 0);
	assert_string_equal(t, "");
	free(t);
	const char *bad[] = { "&",    "&amp",		"&nbsp;",   "&#;",
			      "&#x;", "&#0;",		"&#xD800;", "&#x110000;",
			      "a<b",  "&#99999999999;", "&#xZZ;" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_null(text(bad[i], 100));
	assert_null(text("abcdef", 5));
	assert_null(text("&amp;&amp;", 1));
	char *out = NULL;
	assert_int_equal(s3xml_text("a\0b", 3, 10, &out), -1);
}

static void test_xml_next(void **state)
{
	(void)state;
	const char *doc = "<R xmlns=\"x\"><KeyCount>2</KeyCount><Key>a&amp;b</Key>"
			  "<Key attr='1'>c</Key ><Empty/><Open>never closed";
	size_t len = strlen(doc), pos = 0, start, n;
	assert_int_equal(s3xml_next(doc, len, &pos, "Key", &start, &n), 1);
	assert_int_equal(n, 7);
	assert_memory_equal(doc + start, "a&amp;b", 7);
	assert_int_equal(s3xml_next(doc, len, &pos, "Key", &start, &n), 1);
	assert_memory_equal(doc + start, "c", 1);
	assert_int_equal(s3xml_next(doc, len, &pos, "Key", &start, &n), 0);
	pos = 0;
	assert_int_equal(s3xml_next(doc, len, &pos, "Empty", &start, &n), 1);
	assert_int_equal(n, 0);
	pos = 0;
	assert_int_equal(s3xml_next(doc, len, &pos, "Open", &start, &n), -1);
	pos = 0;
	assert_int_equal(s3xml_next(doc, len, &pos, "Missing", &start, &n), 0);
	char *v = NULL;
	assert_int_equal(s3xml_get(doc, len, "KeyCount", 10, &v), 1);
	assert_string_equal(v, "2");
	free(v);
	/* Truncated documents at every length: never a crash. */
	for (size_t cut = 0; cut <= len; cut++) {
		pos = 0;
		while (s3xml_next(doc, cut, &pos, "Key", &start, &n) == 1)
			assert_true(start + n <= cut);
	}
}

static void test_query_encoding(void **state)
{
	(void)state;
	struct buf b = { 0 };
	s3uri_encode(&b, "a b/c~d_e.f-g+h=i&j%", 1);
	assert_string_equal(buf_cstr(&b), "a%20b/c~d_e.f-g%2Bh%3Di%26j%25");
	buf_reset(&b);
	s3uri_encode(&b, "a/b\xc3\xa9", 0);
	assert_string_equal(buf_cstr(&b), "a%2Fb%C3%A9");
	buf_reset(&b);
	struct s3_param q[] = { { "prefix", "data/x y" },
				{ "list-type", "2" },
				{ "continuation-token", "1vz/N2u+a==" } };
	s3uri_query(&b, q, 3);
	assert_string_equal(buf_cstr(&b), "?continuation-token=1vz%2FN2u%2Ba%3D%3D&list-type=2"
					  "&prefix=data%2Fx%20y");
	buf_reset(&b);
	struct s3_param mp[] = { { "uploadId", "u" }, { "partNumber", "10" } };
	s3uri_query(&b, mp, 2);
	assert_string_equal(buf_cstr(&b), "?partNumber=10&uploadId=u");
	buf_reset(&b);
	s3uri_query(&b, mp, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
}

static int count_keys(const char *key, uint64_t size, int64_t modified, void *ctx)
{
	struct buf *b = ctx;
	buf_printf(b, "%s=%llu", key, (unsigned long long)size);
	if (modified >= 0)
		buf_printf(b, "@%lld", (long long)modified);
	buf_printf(b, ";");
	return 0;
}

static void test_list_parse(void **state)
{
	(void)state;
	const char *page = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name>"
			   "<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
			   "<Contents><Key>p/a&amp;</Key><ETag>&quot;e&quot;</ETag>"
			   "<LastModified>2026-12-06T09:13:56.628Z</LastModified>"
			   "<Size>12</Size></Contents>"
			   "<Contents><Key>p/b</Key><Size>0</Size></Contents>"
			   "<NextContinuationToken>t/+=</NextContinuationToken></ListBucketResult>";
	struct buf b = { 0 };
	char *last = NULL, *next = NULL;
	struct thaw_err *e = NULL;
	assert_int_equal(s3_list_parse(page, strlen(page), "p/", &last, count_keys, &b, &next, &e),
			 0);
	assert_string_equal(buf_cstr(&b), "p/a&=12@1796548436;p/b=0;");
	assert_string_equal(next, "t/+=");
	assert_string_equal(last, "p/b");
	free(next);
	/* The next page must go on after the last key. */
	const char *again = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<Contents><Key>p/a</Key><Size>1</Size></Contents></ListBucketResult>";
	assert_int_equal(
		s3_list_parse(again, strlen(again), "p/", &last, count_keys, &b, &next, &e), -1);
	assert_int_equal(e->code, ERR_CORRUPT);
	err_free(e);
	free(last);
	/* Byte order ("a-b/" first) and a directory walk's order ("a/"
	 * first, s3rver's) are both taken; going back is not. */
	const char *walk = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			   "<Contents><Key>p/a/x</Key><Size>1</Size></Contents>"
			   "<Contents><Key>p/a-b/y</Key><Size>1</Size></Contents>"
			   "<Contents><Key>p/a0</Key><Size>1</Size></Contents></ListBucketResult>";
	const char *bytes = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<Contents><Key>p/a-b/y</Key><Size>1</Size></Contents>"
			    "<Contents><Key>p/a/x</Key><Size>1</Size></Contents>"
			    "<Contents><Key>p/a0</Key><Size>1</Size></Contents></ListBucketResult>";
	const char *back = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			   "<Contents><Key>p/a0</Key><Size>1</Size></Contents>"
			   "<Contents><Key>p/a/x</Key><Size>1</Size></Contents></ListBucketResult>";
	last = NULL;
	e = NULL;
	assert_int_equal(s3_list_parse(walk, strlen(walk), "p/", &last, count_keys, &b, &next, &e), 0);
	free(last);
	last = NULL;
	assert_int_equal(s3_list_parse(bytes, strlen(bytes), "p/", &last, count_keys, &b, &next, &e),
			 0);
	free(last);
	last = NULL;
	assert_int_equal(s3_list_parse(back, strlen(back), "p/", &last, count_keys, &b, &next, &e),
			 -1);
	assert_int_equal(e->code, ERR_CORRUPT);
	err_free(e);
	free(last);
	const char *bad[] = {
		"<Error><Code>x</Code></Error>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>p/a</Key><Size>-1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>p/a</Key><Size>1x</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>p/a</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>p/a</Key><Size>1</Size>"
		"<LastModified>yesterday</LastModified></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>p/a</Key><Size>1</Size>"
		"<LastModified>2026-12-06T09:13:56+05:00</LastModified></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>q/a</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>p/a</Key><Size>1</Size>",
		"<ListBucketResult><Contents><Key>p/&bad;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
		"</NextContinuationToken></ListBucketResult>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		last = next = NULL;
		e = NULL;
		assert_int_equal(s3_list_parse(bad[i], strlen(bad[i]), "p/", &last, count_keys, &b,
					       &next, &e),
				 -1);
		assert_int_equal(e->code, ERR_CORRUPT);
		assert_null(next);
		err_free(e);
		free(last);
	}
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_rules),
		cmocka_unit_test(test_open_validates),
		cmocka_unit_test_setup_teardown(test_file_put_get_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_missing_and_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_invalid_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_list_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test(test_xml_text),
		cmocka_unit_test(test_xml_next),
		cmocka_unit_test(test_query_encoding),
		cmocka_unit_test(test_list_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
