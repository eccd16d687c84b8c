#include "disk/usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"

#define EXTENTS_PER_CALL 256

/* Bytes of fd's extents not marked shared; falls back to the allocated
 * size where FIEMAP is not supported. */
static uint64_t exclusive_bytes(int fd, uint64_t allocated)
{
	size_t size = sizeof(struct fiemap) + EXTENTS_PER_CALL * sizeof(struct fiemap_extent);
	_cleanup_free_ struct fiemap *fm = xcalloc(1, size);
	uint64_t start = 0, total = 0;
	for (;;) {
		memset(fm, 0, size);
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_extent_count = EXTENTS_PER_CALL;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
			return allocated;
		if (fm->fm_mapped_extents == 0)
			return total;
		bool last = false;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *e = &fm->fm_extents[i];
			if (!(e->fe_flags & FIEMAP_EXTENT_SHARED))
				total += e->fe_length;
			last = last || (e->fe_flags & FIEMAP_EXTENT_LAST);
			start = e->fe_logical + e->fe_length;
		}
		if (last)
			return total;
	}
}

static int add_file(const char *path, struct disk_usage *u, struct thaw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(err, "opening %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_sys(err, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return 0;
	uint64_t allocated = (uint64_t)st.st_blocks * 512;
	u->apparent += (uint64_t)st.st_size;
	u->allocated += allocated;
	u->exclusive += exclusive_bytes(fd, allocated);
	return 0;
}

int disk_usage_of(const char *path, struct disk_usage *out, struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_sys(err, "stat %s", path);
	if (!S_ISDIR(st.st_mode))
		return add_file(path, out, err);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return err_sys(err, "opening %s", path);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", path, de->d_name);
		if (add_file(p, out, err) < 0)
			return -1;
	}
	return 0;
}
