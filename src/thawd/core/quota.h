/* Sandbox caps that concurrent requests cannot overshoot.
 *
 * Two counts, kept here rather than counted from the registry, so that
 * a check and the reservation that follows it happen under one lock:
 *   - per owner (API key name): every sandbox it owns, in any state,
 *     paused ones included (they hold disk), plus creates and forks in
 *     flight; checked against the key's max_sandboxes;
 *   - per host: sandboxes that hold a VM or are getting one (creating,
 *     running, pausing, resuming, failed), plus those in flight; paused
 *     ones do not count; checked against --max-sandboxes.
 * An operation reserves before it starts anything and releases what it
 * does not end up holding; delete and pause release what a sandbox held.
 * Thread-safe; owned by struct host. */
#ifndef THAW_QUOTA_H
#define THAW_QUOTA_H

#include <stdbool.h>

#include "err.h"

struct quota;

struct capacity;

/* host_max: the host's cap on sandboxes with a VM; 0: what cap's memory
 * holds (capacity_max_sandboxes). cap (not owned, may be NULL) also
 * admits every new VM by memory. */
struct quota *quota_new(unsigned host_max, struct capacity *cap);
/* The host's cap in force now. */
unsigned quota_host_max(struct quota *q);
void quota_free(struct quota *q);

/* Reserves `sandboxes` new sandboxes for owner (checked against
 * owner_max, 0 = no per-owner cap) and `live` new VMs on the host, both
 * or neither. ERR_LIMIT with a message naming the cap and its value;
 * ERR_UNAVAILABLE when the host's memory cannot hold `live` more. */
int quota_reserve(struct quota *q, const char *owner, unsigned owner_max, unsigned sandboxes,
		  unsigned live, struct thaw_err **err);
/* Gives back what a reservation or a sandbox held. */
void quota_release(struct quota *q, const char *owner, unsigned sandboxes, unsigned live);
/* Counts what exists without checking a cap (sandboxes adopted at start). */
void quota_count(struct quota *q, const char *owner, unsigned sandboxes, unsigned live);
/* The counts now (for GET /v1/info and the tests). */
unsigned quota_owned(struct quota *q, const char *owner);
unsigned quota_live(struct quota *q);

#endif
