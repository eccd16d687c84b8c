/* URI encoding for S3 requests. libcurl 7.88 signs (SigV4) the path and
 * the query exactly as given, and S3 compares against the canonical
 * form: every byte but A-Za-z0-9-._~ percent-encoded (uppercase hex),
 * parameters sorted by name, each written "name=value". */
#ifndef THAW_S3URI_H
#define THAW_S3URI_H

#include <stddef.h>

#include "buf.h"

struct s3_param {
	const char *name; /* plain characters of the canonical set */
	const char *value;
};

/* Appends s percent-encoded; '/' stays itself when keep_slash. */
void s3uri_encode(struct buf *b, const char *s, int keep_slash);

/* Appends "?a=1&b=2": the n parameters sorted by name (then value),
 * values encoded. Nothing when n is 0. */
void s3uri_query(struct buf *b, const struct s3_param *params, size_t n);

#endif
