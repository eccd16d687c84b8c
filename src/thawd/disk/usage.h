/* What files cost on disk. With reflinks the apparent size says little:
 * a 2 GiB clone may own a few megabytes. FIEMAP tells which extents are
 * shared with another file; what is left is what deleting the files
 * gives back. */
#ifndef THAW_USAGE_H
#define THAW_USAGE_H

#include <stdint.h>

#include "err.h"

struct disk_usage {
	uint64_t apparent;  /* sum of file sizes */
	uint64_t allocated; /* blocks allocated, shared or not */
	uint64_t exclusive; /* blocks in no other file: freed by deleting these */
};

/* Adds up the regular files directly in dir (or the file at path). A
 * missing path counts as empty. */
int disk_usage_of(const char *path, struct disk_usage *out, struct thaw_err **err);

#endif
