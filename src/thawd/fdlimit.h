/* thawd's own descriptor and thread budget.
 *
 * Every sandbox holds a few descriptors in thawd (fdlimit_per_sandbox),
 * so the soft RLIMIT_NOFILE that most systems start a process with
 * (1024) would end thawd's usefulness at a couple of hundred sandboxes.
 * thawd raises it at start, as far as the hard limit (and, as root, the
 * kernel's nr_open) allow, and reports both in GET /v1/info. */
#ifndef THAW_FDLIMIT_H
#define THAW_FDLIMIT_H

#include <stdint.h>

/* Descriptors a sandbox holds in thawd while it runs: its VMM's pidfd
 * and the supervisor's copy, its network namespace, its QMP connection,
 * and its parked agent connection (struct sandbox's idle_conn). */
#define FDLIMIT_PER_SANDBOX 5
/* What thawd holds besides: the database, logs, listening socket, the
 * pools' event fds, libcurl, and one socket per API request in flight. */
#define FDLIMIT_BASE 64

struct fdlimit {
	uint64_t soft, hard; /* after raising */
	uint64_t was_soft;   /* what thawd started with */
};

/* Raises the soft limit to the hard one, first lifting the hard one to
 * the kernel's nr_open (at most 1 Mi) when allowed. Never fails: what
 * it got is in out. */
void fdlimit_raise(struct fdlimit *out);

/* thawd's open descriptors and threads now (/proc/self); -1 if unknown. */
long fdlimit_open_fds(void);
long fdlimit_threads(void);

#endif
