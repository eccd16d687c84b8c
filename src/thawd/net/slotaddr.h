/* The address plan of network slots: every slot owns one /30 of a
 * configurable range (default 10.200.0.0/16, 16,384 slots). Slot i's
 * veth pair is .4i+1 (host end, root namespace) and .4i+2 (slot end). */
#ifndef THAW_SLOTADDR_H
#define THAW_SLOTADDR_H

#include <netinet/in.h>
#include <stdint.h>

#include "err.h"

#define SLOT_MAX 16384

struct slot_range {
	uint32_t base; /* host byte order, aligned to the prefix */
	uint8_t prefix;
	uint32_t capacity; /* number of /30s, at most SLOT_MAX */
	char text[48]; /* "10.200.0.0/16" */
};

/* Parses "A.B.C.D/N" with 16 <= N <= 28, host bits zero. */
int slot_range_parse(const char *s, struct slot_range *out, struct thaw_err **err);

/* The veth ends of slot index; index < capacity. */
void slot_addrs(const struct slot_range *r, uint32_t index, struct in_addr *host_end,
		struct in_addr *slot_end);

#endif
