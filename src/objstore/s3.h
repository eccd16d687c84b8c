/* The parts of the S3 backend (s3.c, s3list.c, s3multipart.c). */
#ifndef THAW_S3_H
#define THAW_S3_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "objstore.h"

/* One PUT of data[0..len) or, with fd >= 0, of len bytes of fd. */
int s3_put_single(struct objstore *s, const char *key, const void *data, int fd, uint64_t len,
		  struct thaw_err **err);

/* Uploads len bytes of fd in parts, OBJSTORE_PART_THREADS at a time;
 * aborts the upload on failure. */
int s3_multipart_put(struct objstore *s, const char *key, int fd, uint64_t len,
		     struct thaw_err **err);

/* ListObjectsV2, every page; page_size 0 lets the store choose. */
int s3_list_pages(struct objstore *s, const char *prefix, unsigned page_size, objstore_list_fn fn,
		  void *ctx, struct thaw_err **err);

/* One ListObjectsV2 answer: calls fn for each object (keys must start
 * with prefix and come after *last, which is updated; a new string),
 * sets *next to the continuation token (a new string) when the listing
 * goes on, else NULL. A malformed page is ERR_CORRUPT. */
int s3_list_parse(const char *doc, size_t len, const char *prefix, char **last, objstore_list_fn fn,
		  void *ctx, char **next, struct thaw_err **err);

#endif
