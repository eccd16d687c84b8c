/* Refusing a slot range that the host already uses. The kernel accepts a
 * second interface with the same address without complaint, and replies
 * then go to whichever route it found first: two thawd instances (or a
 * VPN, or a LAN) sharing 10.200.0.0/16 would silently cross wires. */
#ifndef THAW_RANGECHECK_H
#define THAW_RANGECHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "net/slotaddr.h"

/* Whether a/alen and b/blen share any address (host byte order). */
bool cidr_overlap(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen);

/* Fails with ERR_CONFLICT naming the address or route when an IPv4
 * address or a main-table route of the calling thread's namespace
 * overlaps the range and sits on an interface whose name does not start
 * with own_if_prefix (this instance's own slots, left from a previous
 * run, are fine). Default routes are ignored. */
int slot_range_check(const struct slot_range *r, const char *own_if_prefix,
		     struct thaw_err **err);

#endif
