/* Forgetting connections: a reused slot must not carry its previous
 * guest's NAT state over to the next one. */
#ifndef THAW_CONNTRACK_H
#define THAW_CONNTRACK_H

#include "err.h"

/* Deletes every IPv4 conntrack entry of the calling thread's namespace. */
int conntrack_flush(struct thaw_err **err);

#endif
