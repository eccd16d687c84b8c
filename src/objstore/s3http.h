/* One S3 request with SigV4, kept-alive connections, retries and
 * deadlines (libcurl). */
#ifndef THAW_S3HTTP_H
#define THAW_S3HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct objstore;
struct s3_pool;

struct s3_req {
	const char *method; /* GET, PUT, HEAD, DELETE, POST */
	const char *key;    /* NULL: the bucket itself */
	const char *query;  /* "?a=1&b=2" already sorted and encoded (s3uri_query), or NULL */
	const char *what;   /* for messages: "GET", "PUT part 3", ... */
	/* The body sent: data[0..len) or, with fd >= 0, len bytes of fd from
	 * fd_off. payload_sha256: hex of the body or NULL (UNSIGNED-PAYLOAD). */
	const void *data;
	int fd;
	uint64_t fd_off, len;
	const char *payload_sha256;
	/* Range GET: bytes [range_off, range_off + range_len) into dst. */
	int ranged;
	uint64_t range_off;
	size_t range_len;
	void *dst;
	/* Other answers are kept in resp.body up to this many bytes; a larger
	 * one fails the request with ERR_TOO_LARGE. */
	size_t max_body;
};

struct s3_resp {
	long status;
	struct buf body;	/* the answer's body (error bodies too); owned */
	size_t got;		/* bytes written to dst */
	char etag[128];		/* ETag header, quotes included */
	char content_range[96]; /* Content-Range header */
	int64_t content_length; /* -1 when absent */
};

int s3_pool_new(struct s3_pool **out, struct thaw_err **err);
void s3_pool_free(struct s3_pool *p);

/* Runs r until the store gives an answer that is not worth retrying or
 * the deadline passes. Returns 0 with resp filled (any status but 5xx
 * and 429 is final; the caller judges it), -1 with err when no final
 * answer came: ERR_TIMEOUT when the last attempt got no answer in time,
 * ERR_UNAVAILABLE when the store kept failing. resp is reset first and
 * must be freed with s3_resp_free either way. */
int s3_request(struct objstore *s, const struct s3_req *r, struct s3_resp *resp,
	       struct thaw_err **err);
void s3_resp_free(struct s3_resp *resp);
#define _cleanup_resp_ __attribute__((cleanup(s3_resp_free)))

/* Turns a final non-2xx answer into an error: 404 ERR_NOT_FOUND, 401
 * ERR_UNAUTHORIZED, 403 ERR_FORBIDDEN, 413 ERR_TOO_LARGE, 416
 * ERR_CORRUPT, 409 ERR_CONFLICT, other 4xx ERR_INVALID, with the store's
 * Code and Message. */
int s3_status_err(const struct s3_resp *resp, struct thaw_err **err);

#endif
