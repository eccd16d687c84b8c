/* Whether two files hold a range in the very same disk blocks: a reflink
 * clone that nobody wrote to since. Then their bytes there are equal
 * without reading either, which is how an image's upload skips the
 * windows it shares with what it was captured from (remote/publish.c).
 * Exact: physical addresses are compared, not the "shared" flag (which
 * says a block is shared with some file, not with which). */
#ifndef THAW_SAMEBLOCKS_H
#define THAW_SAMEBLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* a's writes still in the page cache are written back first (a CoW write
 * not yet written back still maps the old, shared block). False when it
 * cannot tell: unsupported (FUSE, tmpfs), too fragmented, holes, or any
 * extent without a settled physical address. */
bool same_blocks(int a, int b, off_t off, size_t len);

#endif
