/* The object store handle: configuration checks, key rules, dispatch to a
 * backend (file:// or S3) and the counters. */
#include "objstore.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "objstore_int.h"

#define KEY_MAX 1024
#define DEFAULT_DEADLINE_MS 30000
#define DEFAULT_ATTEMPT_MS 10000
#define DEFAULT_REGION "us-east-1"

static int key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '/' || c == '-';
}

/* Checks the characters and the components of s (len bytes). For a
 * prefix, the last component may be partial: empty, "." or "..". */
static int path_ok(const char *s, size_t len, int is_prefix)
{
	if (len > KEY_MAX || (len > 0 && s[0] == '/'))
		return 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && !key_char_ok(s[i]))
			return 0;
		if (i < len && s[i] != '/')
			continue;
		if (i == len && is_prefix)
			break;
		size_t n = i - start;
		/* "a//b", "a/", "a/./b" and "a/../b" would alias other keys in a
		 * directory (file://) or escape it. */
		if (n == 0 || (n == 1 && s[start] == '.') ||
		    (n == 2 && !memcmp(s + start, "..", 2)))
			return 0;
		start = i + 1;
	}
	return 1;
}

int objstore_key_valid(const char *key)
{
	if (!key)
		return 0;
	size_t len = strnlen(key, KEY_MAX + 1);
	return len > 0 && path_ok(key, len, 0);
}

int objstore_prefix_valid(const char *prefix)
{
	if (!prefix)
		return 0;
	return path_ok(prefix, strnlen(prefix, KEY_MAX + 1), 1);
}

static int check_key(const char *op, const char *key, struct thaw_err **err)
{
	if (objstore_key_valid(key))
		return 0;
	return err_set(err, ERR_INVALID,
		       "object store: %s: invalid key \"%.64s%s\" (1..1024 bytes of "
		       "[A-Za-z0-9._/-], no empty, \".\" or \"..\" component, no leading or "
		       "trailing '/')",
		       op, key ? key : "(null)", key && strlen(key) > 64 ? "..." : "");
}

/* "http://" or "https://" then a host; nothing after the authority but an
 * optional '/'. */
static int http_endpoint_ok(const char *e)
{
	const char *rest = NULL;
	if (!strncmp(e, "http://", 7))
		rest = e + 7;
	else if (!strncmp(e, "https://", 8))
		rest = e + 8;
	if (!rest || !*rest || *rest == '/' || *rest == ':')
		return 0;
	const char *slash = strchr(rest, '/');
	if (slash && slash[1])
		return 0;
	for (const char *p = rest; *p && p != slash; p++)
		if (*p <= ' ' || *p == '?' || *p == '#' || *p == '@' || *p == 0x7f)
			return 0;
	return 1;
}

/* S3 bucket names: 3..63 of [a-z0-9.-], starting and ending alphanumeric. */
static int bucket_ok(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
	}
	return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
}

static int region_ok(const char *r)
{
	size_t n = strlen(r);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return 0;
	return 1;
}

/* Credentials go into a header: printable ASCII only. */
static int secret_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 256)
		return 0;
	for (const char *p = s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return 1;
}

static int validate_s3(const struct objstore_config *c, struct thaw_err **err)
{
	if (!http_endpoint_ok(c->endpoint))
		return err_set(err, ERR_INVALID,
			       "object store endpoint \"%s\": want http(s)://host[:port] or "
			       "file:///absolute/dir",
			       c->endpoint);
	if (!c->bucket || !bucket_ok(c->bucket))
		return err_set(err, ERR_INVALID,
			       "object store bucket \"%s\": want 3..63 characters of [a-z0-9.-]",
			       c->bucket ? c->bucket : "");
	if (c->region && !region_ok(c->region))
		return err_set(err, ERR_INVALID,
			       "object store region \"%s\": want [a-z0-9-], at most 64", c->region);
	if (!secret_ok(c->access_key) || !secret_ok(c->secret_key))
		return err_set(err, ERR_INVALID,
			       "object store %s: access key and secret key are required "
			       "(printable ASCII, no spaces)",
			       c->endpoint);
	return 0;
}

static int validate_file(const char *dir, struct thaw_err **err)
{
	if (dir[0] != '/' || strlen(dir) > 512 || strstr(dir, "/../") ||
	    (strlen(dir) >= 3 && !strcmp(dir + strlen(dir) - 3, "/..")))
		return err_set(err, ERR_INVALID,
			       "object store endpoint file://%s: want an absolute directory "
			       "(file:///dir)",
			       dir);
	return 0;
}

static void trim_slashes(char *s, size_t keep)
{
	size_t n = strlen(s);
	while (n > keep && s[n - 1] == '/')
		s[--n] = '\0';
}

static struct objstore *handle_new(const struct objstore_config *c)
{
	struct objstore *s = xcalloc(1, sizeof(*s));
	s->endpoint = xstrdup(c->endpoint);
	trim_slashes(s->endpoint, 0);
	s->bucket = xstrdup(c->bucket ? c->bucket : "");
	s->region = xstrdup(c->region ? c->region : DEFAULT_REGION);
	s->access_key = xstrdup(c->access_key ? c->access_key : "");
	s->secret_key = xstrdup(c->secret_key ? c->secret_key : "");
	s->deadline_ms = c->deadline_ms ? c->deadline_ms : DEFAULT_DEADLINE_MS;
	s->attempt_ms = c->attempt_ms ? c->attempt_ms : DEFAULT_ATTEMPT_MS;
	return s;
}

static void handle_free(struct objstore *s)
{
	free(s->endpoint);
	free(s->bucket);
	free(s->region);
	if (s->secret_key)
		explicit_bzero(s->secret_key, strlen(s->secret_key));
	free(s->access_key);
	free(s->secret_key);
	free(s->dir);
	free(s);
}

int objstore_open(const struct objstore_config *c, struct objstore **out, struct thaw_err **err)
{
	if (!c || !c->endpoint || !*c->endpoint)
		return err_set(err, ERR_INVALID, "object store: no endpoint configured");
	int is_file = !strncmp(c->endpoint, "file://", 7);
	if (is_file ? validate_file(c->endpoint + 7, err) : validate_s3(c, err))
		return -1;
	struct objstore *s = handle_new(c);
	int rc;
	if (is_file) {
		s->dir = xstrdup(c->endpoint + 7);
		trim_slashes(s->dir, 1);
		s->ops = &filestore_ops;
		rc = filestore_init(s, err);
	} else {
		s->ops = &s3_ops;
		rc = s3_init(s, err);
	}
	if (rc < 0) {
		handle_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void objstore_close(struct objstore *s)
{
	if (!s)
		return;
	s->ops->close(s);
	handle_free(s);
}

/* Counts a failure and names the operation in the message. */
static int op_failed(struct objstore *s, const char *op, const char *key, struct thaw_err **err)
{
	atomic_fetch_add(&s->errors, 1);
	return err_wrap(err, "object store: %s %s", op, key);
}

static void count_put(struct objstore *s, uint64_t len)
{
	atomic_fetch_add(&s->puts, 1);
	atomic_fetch_add(&s->bytes_uploaded, len);
}

static void count_get(struct objstore *s, uint64_t len)
{
	atomic_fetch_add(&s->gets, 1);
	atomic_fetch_add(&s->bytes_fetched, len);
}

int objstore_put_fd(struct objstore *s, const char *key, int fd, uint64_t len,
		    struct thaw_err **err)
{
	if (check_key("PUT", key, err))
		return -1;
	if (fd < 0)
		return err_set(err, ERR_INVALID, "object store: PUT %s: no file", key);
	if (s->ops->put_fd(s, key, fd, len, err) < 0)
		return op_failed(s, "PUT", key, err);
	count_put(s, len);
	return 0;
}

int objstore_put_buf(struct objstore *s, const char *key, const void *data, size_t len,
		     struct thaw_err **err)
{
	if (check_key("PUT", key, err))
		return -1;
	if (!data && len)
		return err_set(err, ERR_INVALID, "object store: PUT %s: no data", key);
	if (s->ops->put_buf(s, key, data ? data : "", len, err) < 0)
		return op_failed(s, "PUT", key, err);
	count_put(s, len);
	return 0;
}

int objstore_get_range(struct objstore *s, const char *key, uint64_t off, size_t len, void *buf,
		       struct thaw_err **err)
{
	if (check_key("GET", key, err))
		return -1;
	if (len == 0)
		return 0;
	if (off > UINT64_MAX - len)
		return err_set(err, ERR_INVALID, "object store: GET %s: range overflows", key);
	if (s->ops->get_range(s, key, off, len, buf, err) < 0)
		return op_failed(s, "GET", key, err);
	count_get(s, len);
	return 0;
}

int objstore_get_all(struct objstore *s, const char *key, size_t max, char **out, size_t *out_len,
		     struct thaw_err **err)
{
	if (check_key("GET", key, err))
		return -1;
	char *data = NULL;
	size_t n = 0;
	if (s->ops->get_all(s, key, max, &data, &n, err) < 0)
		return op_failed(s, "GET", key, err);
	count_get(s, n);
	*out = data;
	if (out_len)
		*out_len = n;
	return 0;
}

int objstore_head(struct objstore *s, const char *key, uint64_t *size, struct thaw_err **err)
{
	if (check_key("HEAD", key, err))
		return -1;
	uint64_t n = 0;
	if (s->ops->head(s, key, &n, err) < 0) {
		/* A missing object is an answer, not a failure of the store. */
		if (!err || !*err || (*err)->code != ERR_NOT_FOUND)
			atomic_fetch_add(&s->errors, 1);
		return err_wrap(err, "object store: HEAD %s", key);
	}
	if (size)
		*size = n;
	return 0;
}

int objstore_list(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		  struct thaw_err **err)
{
	if (!prefix)
		prefix = "";
	if (!objstore_prefix_valid(prefix))
		return err_set(err, ERR_INVALID, "object store: LIST: invalid prefix \"%.64s\"",
			       prefix);
	if (s->ops->list(s, prefix, fn, ctx, err) < 0)
		return op_failed(s, "LIST", *prefix ? prefix : "(all)", err);
	return 0;
}

int objstore_delete(struct objstore *s, const char *key, struct thaw_err **err)
{
	if (check_key("DELETE", key, err))
		return -1;
	if (s->ops->del(s, key, err) < 0)
		return op_failed(s, "DELETE", key, err);
	return 0;
}

void objstore_get_stats(struct objstore *s, struct objstore_stats *out)
{
	out->gets = atomic_load(&s->gets);
	out->bytes_fetched = atomic_load(&s->bytes_fetched);
	out->puts = atomic_load(&s->puts);
	out->bytes_uploaded = atomic_load(&s->bytes_uploaded);
	out->retries = atomic_load(&s->retries);
	out->errors = atomic_load(&s->errors);
}

const char *objstore_endpoint(const struct objstore *s)
{
	return s->endpoint;
}

const char *objstore_bucket(const struct objstore *s)
{
	return s->bucket;
}
