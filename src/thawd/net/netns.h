/* Named network namespaces, compatible with `ip netns` (bind mounts under
 * /run/netns), so an operator can inspect a sandbox with
 * `ip netns exec thaw-<tag>-<id> ...`. */
#ifndef THAW_NETNS_H
#define THAW_NETNS_H

#include "err.h"

#define NETNS_RUN_DIR "/run/netns"

/* Creates the namespace and returns an fd referring to it. Does not
 * change the calling thread's namespace. */
int netns_create(const char *name, int *out_fd, struct thaw_err **err);

/* Opens an existing named namespace. */
int netns_open(const char *name, int *out_fd, struct thaw_err **err);

/* Unmounts and removes the name; the namespace itself goes away when
 * the last process and fd referring to it are gone. Missing is fine. */
int netns_delete(const char *name, struct thaw_err **err);

/* Moves the calling thread into ns_fd; *saved gets an fd for the old
 * namespace, to be handed to netns_leave. */
int netns_enter(int ns_fd, int *saved, struct thaw_err **err);
/* Returns the calling thread to the namespace saved by netns_enter and
 * closes it. Failing to get back would leave a thread of thawd in a
 * sandbox's namespace, so that aborts. */
void netns_leave(int saved);

/* Names under NETNS_RUN_DIR that start with prefix; callback per name. */
int netns_list(const char *prefix, void (*cb)(const char *name, void *ud), void *ud);

#endif
