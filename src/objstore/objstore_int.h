/* Inside the object store: the handle, the backend table and the helpers
 * the backends share. Nothing outside src/objstore includes this. */
#ifndef THAW_OBJSTORE_INT_H
#define THAW_OBJSTORE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "objstore.h"

/* What a backend implements. Keys and prefixes are validated before a
 * backend sees them; errors carry no "object store: OP key" prefix (the
 * dispatch in objstore.c adds it). */
struct objstore_ops {
	int (*put_fd)(struct objstore *s, const char *key, int fd, uint64_t len,
		      struct thaw_err **err);
	int (*put_buf)(struct objstore *s, const char *key, const void *data, size_t len,
		       struct thaw_err **err);
	int (*get_range)(struct objstore *s, const char *key, uint64_t off, size_t len, void *buf,
			 struct thaw_err **err);
	int (*get_all)(struct objstore *s, const char *key, size_t max, char **out, size_t *out_len,
		       struct thaw_err **err);
	int (*head)(struct objstore *s, const char *key, uint64_t *size, struct thaw_err **err);
	int (*list)(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		    struct thaw_err **err);
	int (*del)(struct objstore *s, const char *key, struct thaw_err **err);
	/* Releases what open() of the backend made (impl). */
	void (*close)(struct objstore *s);
};

struct objstore {
	const struct objstore_ops *ops;
	char *endpoint; /* as configured, without a trailing '/' */
	char *bucket;	/* "" for file:// */
	char *region;
	char *access_key, *secret_key;
	char *dir; /* file://: the absolute directory */
	uint32_t deadline_ms, attempt_ms;
	_Atomic uint64_t gets, bytes_fetched, puts, bytes_uploaded, retries, errors;
	void *impl; /* the backend's own state, owned */
};

extern const struct objstore_ops filestore_ops;
extern const struct objstore_ops s3_ops;

/* Sets up the backend state (impl) of an already filled handle. */
int filestore_init(struct objstore *s, struct thaw_err **err);
int s3_init(struct objstore *s, struct thaw_err **err);
/* The file:// listing (filestore_list.c). */
int filestore_list(struct objstore *s, const char *prefix, objstore_list_fn fn, void *ctx,
		   struct thaw_err **err);

/* Objects above this size go up in parts (S3). */
#define OBJSTORE_MULTIPART_MIN (64ull << 20)
#define OBJSTORE_PART_SIZE (16ull << 20)
#define OBJSTORE_PART_THREADS 4
/* S3 allows at most this many parts in one upload. */
#define OBJSTORE_MAX_PARTS 10000

/* A prefix for listing: "" or what a key may start with (the key rules,
 * but a trailing '/' is allowed and the length may be 0). */
int objstore_prefix_valid(const char *prefix);

#endif
