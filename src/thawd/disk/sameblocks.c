#include "disk/sameblocks.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

/* A window of a memory or disk file is 1 MiB: more extents than this in
 * one is fragmentation not worth following (the window is hashed). */
#define MAX_EXTENTS 32

struct extents {
	struct fiemap fm;
	struct fiemap_extent e[MAX_EXTENTS];
};

static bool map(int fd, off_t off, size_t len, bool sync, struct extents *x)
{
	memset(x, 0, sizeof(*x));
	x->fm.fm_start = (uint64_t)off;
	x->fm.fm_length = len;
	x->fm.fm_flags = sync ? FIEMAP_FLAG_SYNC : 0;
	x->fm.fm_extent_count = MAX_EXTENTS;
	if (ioctl(fd, FS_IOC_FIEMAP, &x->fm) < 0 || x->fm.fm_mapped_extents == 0 ||
	    x->fm.fm_mapped_extents >= MAX_EXTENTS)
		return false;
	const uint32_t unsettled = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
				   FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
				   FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
				   FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_UNWRITTEN;
	for (uint32_t i = 0; i < x->fm.fm_mapped_extents; i++)
		if (x->e[i].fe_flags & unsettled)
			return false;
	return true;
}

/* The extents clipped to [off, end) must tile it with no hole. */
static bool covers(const struct extents *x, uint64_t off, uint64_t end)
{
	uint64_t at = off;
	for (uint32_t i = 0; i < x->fm.fm_mapped_extents; i++) {
		const struct fiemap_extent *e = &x->e[i];
		uint64_t s = e->fe_logical > off ? e->fe_logical : off;
		if (s != at)
			return false;
		at = e->fe_logical + e->fe_length;
		if (at >= end)
			return true;
	}
	return false;
}

bool same_blocks(int a, int b, off_t off, size_t len)
{
	struct extents xa, xb;
	uint64_t start = (uint64_t)off, end = start + len;
	if (!len || !map(a, off, len, true, &xa) || !map(b, off, len, false, &xb) ||
	    !covers(&xa, start, end) || !covers(&xb, start, end))
		return false;
	/* Walk both clipped extent lists together: at every logical offset
	 * the physical address must be the same. */
	uint32_t i = 0, j = 0;
	uint64_t at = start;
	while (at < end) {
		const struct fiemap_extent *ea = &xa.e[i], *eb = &xb.e[j];
		if (at - ea->fe_logical + ea->fe_physical != at - eb->fe_logical + eb->fe_physical)
			return false;
		uint64_t a_end = ea->fe_logical + ea->fe_length;
		uint64_t b_end = eb->fe_logical + eb->fe_length;
		uint64_t next = a_end < b_end ? a_end : b_end;
		if (next > end)
			next = end;
		at = next;
		if (at >= a_end)
			i++;
		if (at >= b_end)
			j++;
		if (at < end && (i >= xa.fm.fm_mapped_extents || j >= xb.fm.fm_mapped_extents))
			return false;
	}
	return true;
}
