/* Running helper programs (mkfs.xfs, the rootfs build script) and
 * reading their output line by line. Used off the hot path only. */
#ifndef THAW_PROC_H
#define THAW_PROC_H

#include "err.h"

/* Called for every output line (stdout and stderr merged), without the
 * newline. */
typedef void (*proc_line_fn)(const char *line, void *ud);

/* Runs argv[0] (PATH lookup) with the current environment plus env
 * entries ("K=V", may be NULL), waits for it. A non-zero exit is an
 * error whose message carries the last output lines. */
int proc_run(const char *const argv[], const char *const env[], proc_line_fn on_line, void *ud,
	     struct thaw_err **err);

#endif
