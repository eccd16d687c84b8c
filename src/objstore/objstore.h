/* Object storage: any S3-compatible store (libcurl, SigV4) or a local
 * directory (file://, for unit tests and single-machine setups).
 *
 * Every call is bounded: each HTTP attempt has its own timeout, failed
 * attempts (5xx, resets, timeouts, stalls) are retried with backoff, and
 * the whole operation gives up at its deadline with ERR_TIMEOUT or
 * ERR_UNAVAILABLE. A stalled store fails the operation; it never blocks
 * a caller forever. A handle is safe to use from many threads at once;
 * it keeps its connections alive between calls. */
#ifndef THAW_OBJSTORE_H
#define THAW_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct objstore_config {
	const char *endpoint;	/* "http(s)://host[:port]" or "file:///abs/dir" */
	const char *bucket;	/* unused for file:// */
	const char *region;	/* NULL: "us-east-1" */
	const char *access_key; /* NULL for file:// */
	const char *secret_key;
	uint32_t deadline_ms; /* whole operation, retries included; 0: 30000 */
	uint32_t attempt_ms;  /* one HTTP attempt without progress; 0: 10000 */
};

/* What a handle has done since it was opened (monotonic counters). */
struct objstore_stats {
	uint64_t gets, bytes_fetched;  /* successful GETs (whole or ranged) */
	uint64_t puts, bytes_uploaded; /* objects completed (multipart: once) */
	uint64_t retries, errors;      /* attempts retried; operations failed */
};

struct objstore;

/* Validates the configuration (ERR_INVALID naming what is wrong) and
 * opens a handle. Does not contact the store. */
int objstore_open(const struct objstore_config *c, struct objstore **out, struct thaw_err **err);
void objstore_close(struct objstore *s);

/* Keys: 1..1024 bytes of [A-Za-z0-9._/-], no "//", no leading or
 * trailing "/", no "." or ".." component; anything else is ERR_INVALID
 * before any request. */
int objstore_key_valid(const char *key);

/* Uploads len bytes of fd from offset 0 as key (multipart above 64 MiB,
 * parts uploaded in parallel, aborted on failure so nothing half-written
 * remains). The object exists only once complete. */
int objstore_put_fd(struct objstore *s, const char *key, int fd, uint64_t len,
		    struct thaw_err **err);
int objstore_put_buf(struct objstore *s, const char *key, const void *data, size_t len,
		     struct thaw_err **err);

/* Reads exactly len bytes at off into buf (HTTP Range); a short object
 * is ERR_CORRUPT, a missing one ERR_NOT_FOUND. */
int objstore_get_range(struct objstore *s, const char *key, uint64_t off, size_t len, void *buf,
		       struct thaw_err **err);
/* Reads a whole object of at most max bytes (ERR_TOO_LARGE above) into a
 * new NUL-terminated buffer. */
int objstore_get_all(struct objstore *s, const char *key, size_t max, char **out, size_t *out_len,
		     struct thaw_err **err);
/* ERR_NOT_FOUND when the object does not exist. */
int objstore_head(struct objstore *s, const char *key, uint64_t *size, struct thaw_err **err);
/* Calls fn for every object whose key starts with prefix, in key order
 * (all pages); fn returning -1 stops the listing, which then fails.
 * modified: when the object was written, in seconds since the epoch (-1
 * when the store did not say). */
typedef int (*objstore_list_fn)(const char *key, uint64_t size, int64_t modified, void *ctx);
int objstore_list(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		  struct thaw_err **err);
/* Deleting a missing object succeeds. */
int objstore_delete(struct objstore *s, const char *key, struct thaw_err **err);

void objstore_get_stats(struct objstore *s, struct objstore_stats *out);
const char *objstore_endpoint(const struct objstore *s);
const char *objstore_bucket(const struct objstore *s);

#endif
