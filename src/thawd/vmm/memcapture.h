/* Capturing the memory of a restored guest.
 *
 * A restored VMM maps its memory file MAP_PRIVATE: pages it has only
 * read are the file's own page-cache pages, pages the guest wrote are
 * private anonymous copies. /proc/PID/pagemap tells the two apart (bit
 * 61, "file page or shared anonymous"), so the guest's memory at this
 * instant is the file plus those copies. A capture therefore clones the
 * file (a reflink: constant time) and writes only the written pages into
 * the clone, read from /proc/PID/mem: its cost follows what the guest
 * dirtied, not the size of its RAM.
 *
 * The guest must be stopped (vmm_driver.stop) while this runs, or the
 * copy is not one instant. */
#ifndef THAW_MEMCAPTURE_H
#define THAW_MEMCAPTURE_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* Runs of pages, in file offsets: run[i][0] is the first page, run[i][1]
 * the number of pages. */
struct page_runs {
	uint64_t (*run)[2];
	size_t n, cap;
};

void page_runs_add(struct page_runs *r, uint64_t first, uint64_t count);
void page_runs_free(struct page_runs *r);

struct mem_capture_stats {
	uint64_t pages;	   /* pages of the mapping looked at */
	uint64_t dirty;	   /* pages copied */
	uint64_t runs;	   /* contiguous runs copied (one read + one write each) */
	uint64_t resident; /* pages the guest had in memory, read or written */
	double ms;
};

/* Writes into out_fd (a file that already holds the content of the VMM's
 * memory file, at the same offsets) every page of process pid's mappings
 * of its memory
 * that the process has made its own, for file offsets below size. When
 * resident is not NULL it receives every page the guest had in memory,
 * read or written: its working set, what it touches first when it runs
 * again (vmm/prefetch.h). ERR_NOT_FOUND when pid does not map its memory
 * descriptor (VMM_MEMORY_FD). */
int mem_capture_dirty(pid_t pid, uint64_t size, int out_fd,
		      struct page_runs *resident, struct mem_capture_stats *st,
		      struct thaw_err **err);

#endif
