/* Watches every VMM process through a pidfd in one epoll set and reports
 * an unexpected exit to a callback (thawd's: sandbox_vmm_exited, which
 * makes the sandbox failed). The supervisor keeps its own duplicate of
 * each pidfd and refers to sandboxes by id, so it never touches a
 * sandbox that was freed meanwhile. */
#ifndef THAW_SUPERVISOR_H
#define THAW_SUPERVISOR_H

#include "err.h"

struct supervisor;

/* Called on the supervisor's thread with the id a VMM was watched for;
 * the watch is gone (a VMM that lives on must be watched again). */
typedef void (*supervisor_exit_fn)(void *ud, const char *id);

int supervisor_start(supervisor_exit_fn on_exit, void *ud, struct supervisor **out,
		     struct thaw_err **err);
void supervisor_stop(struct supervisor *s);

int supervisor_watch(struct supervisor *s, const char *id, int pidfd, struct thaw_err **err);
/* Stops watching before a deliberate kill. Unknown ids are fine. */
void supervisor_unwatch(struct supervisor *s, const char *id);

#endif
