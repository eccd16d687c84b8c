/* Per-sandbox usage over time: one thread samples every running sandbox
 * each interval (CPU time and memory of its VMM's cgroup, its disk
 * clone's allocated blocks, its slot's host-side network counters) into
 * a ring per sandbox id (core/usering.h) that covers the window.
 *
 * Rings are keyed by id, not by struct sandbox, so a sandbox's history
 * survives pause and resume (a new incarnation); a paused sandbox gets
 * no samples; a sandbox that leaves the registry loses its ring at the
 * next round; a fork child is a new id and starts empty. History lives in
 * memory only: a restart of thawd starts every ring empty.
 *
 * The sampler takes a sandbox's lock only to copy what it needs (state,
 * VMM pid, veth name), never while it reads a file, and the table's lock
 * only to store a sample or answer a query: API requests never wait on
 * the files it reads. */
#ifndef THAW_CORE_USAGE_H
#define THAW_CORE_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/usering.h"
#include "err.h"

struct host;
struct usage_table;

/* Starts the sampler for h (interval_s >= 1; window_s: how far back the
 * rings reach, at least one interval). */
int usage_start(struct host *h, unsigned interval_s, unsigned window_s, struct usage_table **out,
		struct thaw_err **err);
/* Stops the thread and frees every ring. NULL is fine. */
void usage_stop(struct usage_table *u);

unsigned usage_interval_s(const struct usage_table *u);
unsigned usage_window_s(const struct usage_table *u);

/* A copy of id's samples with start <= t <= end, oldest first (free()
 * it; NULL and 0 when there are none). */
struct usage_point *usage_query(struct usage_table *u, const char *id, int64_t start, int64_t end,
				size_t *n);

/* How many samples id has in its ring (0: none, or unknown id). */
size_t usage_count(struct usage_table *u, const char *id);

/* One round now, on the calling thread (the thread's work; for tests and
 * benchmarks). Returns how many sandboxes it sampled. */
size_t usage_sample_round(struct usage_table *u);
/* Bytes the rings hold now (allocated storage). */
size_t usage_bytes(struct usage_table *u);

#endif
