/* File system helpers with the durability rules thaw relies on. */
#ifndef THAW_FSUTIL_H
#define THAW_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* mkdir -p with the given mode for created components. */
int fs_mkdir_p(const char *path, mode_t mode, struct thaw_err **err);

/* Removes path and everything below it without following symlinks.
 * A missing path is not an error. */
int fs_rm_rf(const char *path, struct thaw_err **err);

/* Writes data to path atomically: temp file in the same directory,
 * fsync, rename over path, fsync the directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct thaw_err **err);

/* Reads a whole file of at most max bytes into a new NUL-terminated
 * buffer. A larger file is an ERR_TOO_LARGE error. */
int fs_read_file(const char *path, size_t max, char **out, size_t *out_len, struct thaw_err **err);

int fs_fsync_path(const char *path, struct thaw_err **err);
/* pwrite until all len bytes are written (or an error). */
int fs_pwrite_all(int fd, const void *data, size_t len, off_t off, struct thaw_err **err);
int fs_fsync_dir(const char *dir, struct thaw_err **err);

/* 1 if path exists, 0 if not. */
int fs_exists(const char *path);

/* Moves a descriptor that lives long (one a sandbox holds while it runs)
 * to FD_HIGH_MIN or above, closing the original, and returns its new
 * number; returns fd itself where the limit leaves no room up there.
 * Libraries that wait with select() abort the process on a descriptor
 * past 1023 (libnftables 1.0.6 does, on the netlink socket of every
 * context): with what sandboxes hold kept up high, the descriptors such
 * libraries open for a moment find room below. */
#define FD_HIGH_MIN 1024
int fd_keep_high(int fd);

/* Copies the first size bytes of src into dst at the same offsets, only
 * where src has data (SEEK_DATA): holes stay holes in dst (which must
 * read as zeros there already: new, or truncated to size). *copied: the
 * bytes of data copied. */
int fs_copy_data(int src, int dst, uint64_t size, uint64_t *copied, struct thaw_err **err);

/* Size in bytes, or -1 with err. */
long long fs_file_size(const char *path, struct thaw_err **err);

/* True when path is a mount point (per /proc/self/mountinfo). */
int fs_is_mountpoint(const char *path);

#endif
