/* Watches every VMM process through a pidfd in one epoll set and turns
 * an unexpected exit into sandbox_vmm_exited(). The supervisor keeps
 * its own duplicate of each pidfd and refers to sandboxes by id, so it
 * never touches a sandbox that was freed meanwhile. */
#ifndef THAW_SUPERVISOR_H
#define THAW_SUPERVISOR_H

#include "err.h"

struct host;
struct supervisor;

int supervisor_start(struct host *h, struct supervisor **out, struct thaw_err **err);
void supervisor_stop(struct supervisor *s);

int supervisor_watch(struct supervisor *s, const char *id, int pidfd, struct thaw_err **err);
/* Stops watching before a deliberate kill. Unknown ids are fine. */
void supervisor_unwatch(struct supervisor *s, const char *id);

#endif
