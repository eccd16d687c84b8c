/* The S3 backend: objects at endpoint/bucket/key (path style), one
 * request per operation through s3_request (retries, deadlines), the
 * answers checked before anything is believed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "objstore_int.h"
#include "s3http.h"
#include "s3.h"
#include "s3uri.h"
#include "s3xml.h"
#include "sha256.h"

int s3_init(struct objstore *s, struct thaw_err **err)
{
	struct s3_pool *p;
	if (s3_pool_new(&p, err) < 0)
		return -1;
	s->impl = p;
	return 0;
}

static void s3_close(struct objstore *s)
{
	s3_pool_free(s->impl);
	s->impl = NULL;
}

static int expect_2xx(const struct s3_resp *resp, struct thaw_err **err)
{
	if (resp->status >= 200 && resp->status < 300)
		return 0;
	return s3_status_err(resp, err);
}

int s3_put_single(struct objstore *s, const char *key, const void *data, int fd, uint64_t len,
		  struct thaw_err **err)
{
	char sha[SHA256_HEX_LEN + 1];
	/* A buffer is hashed (the store checks it); a file goes unsigned
	 * rather than being read twice. */
	if (fd < 0)
		sha256_hex(data, len, sha);
	struct s3_req r = { .method = "PUT",
			    .key = key,
			    .what = "PUT",
			    .data = data,
			    .fd = fd,
			    .len = len,
			    .payload_sha256 = fd < 0 ? sha : NULL,
			    .max_body = 64u << 10 };
	_cleanup_resp_ struct s3_resp resp = { 0 };
	if (s3_request(s, &r, &resp, err) < 0)
		return -1;
	return expect_2xx(&resp, err);
}

static int s3_put_fd(struct objstore *s, const char *key, int fd, uint64_t len,
		     struct thaw_err **err)
{
	if (len > OBJSTORE_MULTIPART_MIN)
		return s3_multipart_put(s, key, fd, len, err);
	return s3_put_single(s, key, NULL, fd, len, err);
}

static int s3_put_buf(struct objstore *s, const char *key, const void *data, size_t len,
		      struct thaw_err **err)
{
	return s3_put_single(s, key, data, -1, len, err);
}

/* A 206 must say it holds exactly the bytes asked for; a short object
 * answers fewer (or 416). */
static int check_range(const struct s3_resp *resp, uint64_t off, size_t len, struct thaw_err **err)
{
	unsigned long long a, b, total;
	uint64_t want_end = off + len - 1;
	if (resp->status == 416)
		return err_set(err, ERR_CORRUPT,
			       "bytes %" PRIu64 "..%" PRIu64 " are past the object's end", off,
			       want_end);
	if (resp->status == 200) { /* Range ignored: fine only if it was the whole object */
		if (off == 0 && resp->got == len && resp->content_length == (int64_t)len)
			return 0;
		return err_set(err, ERR_CORRUPT, "object of %zu bytes, %zu wanted", resp->got, len);
	}
	if (resp->status != 206)
		return s3_status_err(resp, err);
	if (sscanf(resp->content_range, "bytes %llu-%llu/%llu", &a, &b, &total) != 3 || a != off)
		return err_set(err, ERR_CORRUPT,
			       "bad Content-Range \"%s\" for bytes %" PRIu64 "..%" PRIu64,
			       resp->content_range, off, want_end);
	if (b != want_end || resp->got != len)
		return err_set(err, ERR_CORRUPT,
			       "short object: %zu of %zu bytes at %" PRIu64 " (Content-Range %s)",
			       resp->got, len, off, resp->content_range);
	return 0;
}

static int s3_get_range(struct objstore *s, const char *key, uint64_t off, size_t len, void *buf,
			struct thaw_err **err)
{
	struct s3_req r = { .method = "GET",
			    .key = key,
			    .what = "GET",
			    .fd = -1,
			    .ranged = 1,
			    .range_off = off,
			    .range_len = len,
			    .dst = buf };
	_cleanup_resp_ struct s3_resp resp = { 0 };
	if (s3_request(s, &r, &resp, err) < 0)
		return -1;
	return check_range(&resp, off, len, err);
}

static int s3_get_all(struct objstore *s, const char *key, size_t max, char **out, size_t *out_len,
		      struct thaw_err **err)
{
	struct s3_req r = { .method = "GET", .key = key, .what = "GET", .fd = -1, .max_body = max };
	_cleanup_resp_ struct s3_resp resp = { 0 };
	if (s3_request(s, &r, &resp, err) < 0)
		return -1;
	if (expect_2xx(&resp, err) < 0)
		return -1;
	if (resp.status != 200 ||
	    (resp.content_length >= 0 && (uint64_t)resp.content_length != resp.body.len))
		return err_set(err, ERR_CORRUPT, "answer %ld with %zu of %" PRId64 " bytes",
			       resp.status, resp.body.len, resp.content_length);
	*out = buf_steal(&resp.body, out_len);
	return 0;
}

static int s3_head(struct objstore *s, const char *key, uint64_t *size, struct thaw_err **err)
{
	struct s3_req r = { .method = "HEAD", .key = key, .what = "HEAD", .fd = -1 };
	_cleanup_resp_ struct s3_resp resp = { 0 };
	if (s3_request(s, &r, &resp, err) < 0 || expect_2xx(&resp, err) < 0)
		return -1;
	if (resp.content_length < 0)
		return err_set(err, ERR_CORRUPT, "answer without Content-Length");
	*size = (uint64_t)resp.content_length;
	return 0;
}

static int s3_del(struct objstore *s, const char *key, struct thaw_err **err)
{
	struct s3_req r = {
		.method = "DELETE", .key = key, .what = "DELETE", .fd = -1, .max_body = 64u << 10
	};
	_cleanup_resp_ struct s3_resp resp = { 0 };
	if (s3_request(s, &r, &resp, err) < 0)
		return -1;
	if (resp.status == 404)
		return 0;
	return expect_2xx(&resp, err);
}

static int s3_list(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		   struct thaw_err **err)
{
	return s3_list_pages(s, prefix, 0, fn, ctx, err);
}

const struct objstore_ops s3_ops = {
	.put_fd = s3_put_fd,
	.put_buf = s3_put_buf,
	.get_range = s3_get_range,
	.get_all = s3_get_all,
	.head = s3_head,
	.list = s3_list,
	.del = s3_del,
	.close = s3_close,
};
