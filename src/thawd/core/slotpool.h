/* Network slots, allocated and kept warm.
 *
 * Allocation: slot indices (each a /30 of the slot range) are recorded
 * in the database when taken and removed when freed, so a restarted thawd
 * never hands one /30 to two sandboxes. At start, indices that no adopted
 * sandbox uses are swept (their namespace and veth removed) and freed.
 *
 * Pool: a background thread keeps `depth` slots built and ready; create
 * takes one in constant time, or builds one on the spot when the pool is
 * empty. A slot given back after delete is reset (connections forgotten,
 * fresh tap) by the same thread and returned to the pool, or destroyed
 * when the pool already holds twice its depth. */
#ifndef THAW_SLOTPOOL_H
#define THAW_SLOTPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct host;
struct netslot;
struct slotpool;

int slotpool_open(struct host *h, struct slotpool **out, struct thaw_err **err);
/* Stops the refill thread, destroys the warm slots; slots in use stay. */
void slotpool_close(struct slotpool *p);

/* Start-up, before slotpool_start: an adopted sandbox keeps its slot. */
int slotpool_attach(struct slotpool *p, uint32_t index, struct netslot **out,
		    struct thaw_err **err);
/* Start-up: frees every allocated index no sandbox attached, removing its
 * leftovers. A no-op once the pool runs (its warm slots are allocated). */
void slotpool_sweep(struct slotpool *p);
/* True when a namespace name is one of this pool's allocated slots. */
bool slotpool_owns(struct slotpool *p, const char *netns_name);
int slotpool_start(struct slotpool *p, unsigned depth, struct thaw_err **err);

/* A ready slot: from the pool when it has one and use_pool is set
 * (*warm = true), else built now. */
int slotpool_take(struct slotpool *p, bool use_pool, struct netslot **out, bool *warm,
		  struct thaw_err **err);
/* Hands a slot back after its VM is gone; reset and reuse happen in the
 * background. */
void slotpool_give(struct slotpool *p, struct netslot *s);
/* Destroys a slot and frees its index now (a slot in an unknown state). */
void slotpool_drop(struct slotpool *p, struct netslot *s);

struct slotpool_stats {
	unsigned depth, warm, in_use, capacity, allocated;
	uint64_t taken_warm, taken_cold, reused;
};
void slotpool_stats(struct slotpool *p, struct slotpool_stats *out);

#endif
