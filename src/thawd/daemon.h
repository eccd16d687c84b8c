/* The composition root of thawd (daemon.c): everything a host agent runs
 * on, opened in order and closed in reverse. main.c calls nothing else
 * to get a struct host. */
#ifndef THAW_DAEMON_H
#define THAW_DAEMON_H

#include "core/host.h"

int host_open(const struct thawd_config *cfg, struct host **out, struct thaw_err **err);
/* Stops the pools and the supervisor and frees everything; sandboxes'
 * VMMs keep running for the next thawd to adopt. */
void host_close(struct host *h);

#endif
