/* Byte counters of many network links at once: one rtnetlink dump of the
 * calling thread's namespace instead of two sysfs files per link (the
 * usage sampler reads every slot's host end each round). */
#ifndef THAW_LINKSTATS_H
#define THAW_LINKSTATS_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct link_stats {
	char name[IF_NAMESIZE];
	uint64_t rx_bytes, tx_bytes; /* as the link counts them */
};

/* The links whose names start with prefix, sorted by name (free() *out). */
int link_stats_dump(const char *prefix, struct link_stats **out, size_t *n,
		    struct thaw_err **err);
/* The entry for name in a sorted dump, or NULL. */
const struct link_stats *link_stats_find(const struct link_stats *v, size_t n, const char *name);

#endif
