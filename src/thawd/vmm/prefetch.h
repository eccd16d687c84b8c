/* Working-set prefetch for memory files restored from a capture.
 *
 * A captured memory file is a reflink clone: its blocks are shared with
 * the file it came from, but not its page cache, which Linux keeps per
 * inode. The first VMM that maps it would fault every page the guest
 * touches in from disk, one at a time; measured here, that is ~35 ms of
 * a ~120 ms resume. The capture records which pages the guest had in
 * memory (its working set, vmm/memcapture.h) next to the file, and a
 * restore asks the kernel to read exactly those ahead (WILLNEED), while
 * the VMM starts.
 *
 * The list only steers caching: a missing list means no prefetch, and a
 * malformed one is refused as a whole (never read past the file). */
#ifndef THAW_PREFETCH_H
#define THAW_PREFETCH_H

#include <stdint.h>

#include "err.h"
#include "vmm/memcapture.h"

/* The list's file name inside a capture directory. */
#define PREFETCH_FILE "resident.runs"

/* Writes the runs to path. Not fsynced: it is written while the guest
 * stands still, and a list torn by a crash is refused by prefetch_load,
 * which only costs the prefetch. */
int prefetch_save(const char *path, const struct page_runs *runs, struct thaw_err **err);

/* Reads a list written by prefetch_save; every run must lie below
 * max_pages. ERR_NOT_FOUND when there is none; ERR_INVALID when it is
 * malformed. */
int prefetch_load(const char *path, uint64_t max_pages, struct page_runs *out,
		  struct thaw_err **err);

/* Starts reading the runs of the file at path into the page cache and
 * returns without waiting for the reads. Returns the number of pages
 * asked for, or -1. */
int64_t prefetch_start(const char *path, const struct page_runs *runs, struct thaw_err **err);

/* The above for a capture directory: DIR/PREFETCH_FILE steering the
 * file at memory_path (the capture's memory, or a clone of it). No list
 * is not an error (returns 0). */
int64_t prefetch_dir(const char *dir, const char *memory_path, uint64_t memory_bytes,
		     struct thaw_err **err);

#endif
