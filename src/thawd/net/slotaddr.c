#include "slotaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slot_range_parse(const char *s, struct slot_range *out, struct thaw_err **err)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return err_set(err, ERR_INVALID, "slot range \"%s\" is not A.B.C.D/N", s);
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	char *end;
	long prefix = strtol(slash + 1, &end, 10);
	struct in_addr a;
	if (*end || end == slash + 1 || inet_pton(AF_INET, addr, &a) != 1)
		return err_set(err, ERR_INVALID, "slot range \"%s\" is not A.B.C.D/N", s);
	if (prefix < 16 || prefix > 28)
		return err_set(err, ERR_INVALID, "slot range prefix must be /16 to /28, not /%ld",
			       prefix);
	uint32_t base = ntohl(a.s_addr);
	uint32_t mask = prefix == 0 ? 0 : ~0u << (32 - prefix);
	if (base & ~mask)
		return err_set(err, ERR_INVALID, "slot range \"%s\" has host bits set", s);
	uint32_t count = (1u << (32 - prefix)) / 4;
	out->base = base;
	out->prefix = (uint8_t)prefix;
	out->capacity = count > SLOT_MAX ? SLOT_MAX : count;
	snprintf(out->text, sizeof(out->text), "%s/%ld", addr, prefix);
	return 0;
}

void slot_addrs(const struct slot_range *r, uint32_t index, struct in_addr *host_end,
		struct in_addr *slot_end)
{
	uint32_t net = r->base + 4 * index;
	host_end->s_addr = htonl(net + 1);
	slot_end->s_addr = htonl(net + 2);
}
