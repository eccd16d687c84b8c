#include "vmm/memcapture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "timeutil.h"
#include "vmm.h"

#define PAGE 4096ull
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define SCAN_BATCH 8192	      /* pagemap entries per read: 64 KiB */
#define COPY_MAX (256 * PAGE) /* bytes per read/write pair: 1 MiB */

/* One mapping of the base file in the process. */
struct vma {
	uint64_t start, end, offset;
};

/* The VMAs of pid that map the file identified by dev and ino. */
static int find_vmas(pid_t pid, dev_t dev, ino_t ino, struct vma **out, size_t *n,
		     struct thaw_err **err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return err_sys(err, "opening %s", path);
	char line[4096];
	*out = NULL;
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end, offset, inode;
		unsigned maj, min;
		char perms[8];
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64, &start,
			   &end, perms, &offset, &maj, &min, &inode) != 7)
			continue;
		if (inode != (uint64_t)ino || makedev(maj, min) != dev)
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = (struct vma){ start, end, offset };
	}
	if (*n == 0)
		return err_set(err, ERR_NOT_FOUND, "process %d does not map the memory file",
			       (int)pid);
	return 0;
}

void page_runs_add(struct page_runs *r, uint64_t first, uint64_t count)
{
	if (r->n && r->run[r->n - 1][0] + r->run[r->n - 1][1] == first) {
		r->run[r->n - 1][1] += count;
		return;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->run = xrealloc(r->run, r->cap * sizeof(*r->run));
	}
	r->run[r->n][0] = first;
	r->run[r->n][1] = count;
	r->n++;
}

void page_runs_free(struct page_runs *r)
{
	free(r->run);
	memset(r, 0, sizeof(*r));
}

struct copier {
	int mem_fd, out_fd;
	uint8_t *buf;
	struct page_runs *resident;
	struct mem_capture_stats *st;
};

/* Copies npages pages at process address addr to file offset off. */
static int copy_run(struct copier *c, uint64_t addr, uint64_t off, uint64_t npages,
		    struct thaw_err **err)
{
	uint64_t left = npages * PAGE;
	while (left) {
		size_t chunk = left > COPY_MAX ? COPY_MAX : (size_t)left;
		ssize_t r = pread(c->mem_fd, c->buf, chunk, (off_t)addr);
		if (r != (ssize_t)chunk)
			return r < 0 ? err_sys(err, "reading guest memory at %#" PRIx64, addr)
				     : err_set(err, ERR_INTERNAL, "short read of guest memory");
		if (fs_pwrite_all(c->out_fd, c->buf, chunk, (off_t)off, err) < 0)
			return -1;
		addr += chunk;
		off += chunk;
		left -= chunk;
	}
	c->st->runs++;
	c->st->dirty += npages;
	return 0;
}

static bool own_page(uint64_t e)
{
	return (e & PM_SWAPPED) || ((e & PM_PRESENT) && !(e & PM_FILE));
}

/* Scans one VMA's pagemap and copies its own pages, run by run. */
static int capture_vma(struct copier *c, int pagemap_fd, const struct vma *v, uint64_t size,
		       struct thaw_err **err)
{
	if (v->offset >= size)
		return 0;
	uint64_t pages = (v->end - v->start) / PAGE;
	if (v->offset + pages * PAGE > size)
		pages = (size - v->offset) / PAGE;
	_cleanup_free_ uint64_t *ent = xmalloc(SCAN_BATCH * sizeof(uint64_t));
	uint64_t run_start = 0, run_len = 0;
	for (uint64_t i = 0; i < pages; i += SCAN_BATCH) {
		uint64_t n = pages - i < SCAN_BATCH ? pages - i : SCAN_BATCH;
		off_t at = (off_t)((v->start / PAGE + i) * sizeof(uint64_t));
		ssize_t r = pread(pagemap_fd, ent, n * sizeof(uint64_t), at);
		if (r != (ssize_t)(n * sizeof(uint64_t)))
			return r < 0 ? err_sys(err, "reading pagemap")
				     : err_set(err, ERR_INTERNAL, "short pagemap read");
		c->st->pages += n;
		for (uint64_t k = 0; k < n; k++) {
			uint64_t page = i + k;
			if (ent[k] & (PM_PRESENT | PM_SWAPPED)) {
				c->st->resident++;
				if (c->resident)
					page_runs_add(c->resident, v->offset / PAGE + page, 1);
			}
			if (own_page(ent[k])) {
				if (!run_len)
					run_start = page;
				run_len++;
				continue;
			}
			if (run_len && copy_run(c, v->start + run_start * PAGE,
						v->offset + run_start * PAGE, run_len, err) < 0)
				return -1;
			run_len = 0;
		}
	}
	if (run_len && copy_run(c, v->start + run_start * PAGE, v->offset + run_start * PAGE,
				run_len, err) < 0)
		return -1;
	return 0;
}

int mem_capture_dirty(pid_t pid, uint64_t size, int out_fd,
		      struct page_runs *resident, struct mem_capture_stats *st,
		      struct thaw_err **err)
{
	memset(st, 0, sizeof(*st));
	/* What the VMM maps is the descriptor it was given for its memory
	 * (a template's sealed memfd, or its own clone of an image), found
	 * through the VMM's own fd table: a thawd restarted since has made
	 * its own sealed copies, other inodes. */
	char fdpath[64];
	snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", (int)pid, VMM_MEMORY_FD);
	struct stat sb;
	if (stat(fdpath, &sb) < 0)
		return err_sys(err, "stat %s", fdpath);
	_cleanup_free_ struct vma *vmas = NULL;
	size_t n = 0;
	if (find_vmas(pid, sb.st_dev, sb.st_ino, &vmas, &n, err) < 0)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	_cleanup_close_ int pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	_cleanup_close_ int mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0 || mem_fd < 0)
		return err_sys(err, "opening /proc/%d/pagemap and mem", (int)pid);
	_cleanup_free_ uint8_t *buf = xmalloc(COPY_MAX);
	struct copier c = {
		.mem_fd = mem_fd, .out_fd = out_fd, .buf = buf, .resident = resident, .st = st
	};
	uint64_t t0 = time_mono_ns();
	for (size_t i = 0; i < n; i++)
		if (capture_vma(&c, pagemap_fd, &vmas[i], size, err) < 0)
			return err_wrap(err, "capturing guest memory of process %d", (int)pid);
	st->ms = ns_to_ms(time_mono_ns() - t0);
	return 0;
}
