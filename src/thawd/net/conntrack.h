/* Forgetting connections: a reused slot must not carry its previous
 * guest's NAT state over to the next one, neither inside the slot nor in
 * the root namespace (where an established entry lives for five days). */
#ifndef THAW_CONNTRACK_H
#define THAW_CONNTRACK_H

#include <netinet/in.h>

#include "err.h"

/* Deletes every IPv4 conntrack entry of the calling thread's namespace. */
int conntrack_flush(struct thaw_err **err);

/* Deletes the IPv4 entries of the calling thread's namespace whose
 * original direction starts or ends at addr; *forgotten (may be NULL)
 * gets their number. The kernel cannot flush by address, so this dumps
 * the table and deletes matches one by one: a cost proportional to the
 * host's table, paid when a slot is given back, never on create. */
int conntrack_forget_addr(struct in_addr addr, unsigned *forgotten, struct thaw_err **err);

#endif
