/* thawd's own metric families (common/metrics.h, the process's registry)
 * and the calls that update them from operations and mechanisms. What
 * GET /metrics computes when scraped (sandboxes, pools, capacity) is in
 * api/scrape.c. docs/metrics.md lists every family. */
#ifndef THAW_STATS_H
#define THAW_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Registers the families (once; every call here does it first, so that
 * the pools' first refills, before the API starts, count too). */
void stats_init(void);

/* A create that succeeded: its whole time (pool "warm" when a warm VMM
 * was taken, else "cold") and each stage of its start (vm_clock_stages). */
struct stats_stage {
	const char *name;
	uint64_t ns;
};
void stats_create_done(bool warm, uint64_t total_ns, const struct stats_stage *stages, size_t n);

/* An operation's latency and result (thaw_operation_duration_seconds,
 * thaw_operations_total): declared first in the operation with
 * STATS_TIME_OP("exec", err), recorded when it returns; the result is
 * "error" when *err was set, else "ok". */
struct stats_timer {
	const char *op;
	uint64_t t0;
	struct thaw_err **err;
};
void stats_timer_end(struct stats_timer *t);
#define STATS_TIME_OP(name, errp)                                               \
	__attribute__((cleanup(stats_timer_end))) struct stats_timer stats_timer_ = \
		stats_timer_begin(name, errp)
struct stats_timer stats_timer_begin(const char *op, struct thaw_err **err);

/* A pool put one more ready entry in: pool "vmm" (template: its name) or
 * "slot" (template "-": slots serve every template). */
void stats_pool_refill(const char *pool, const char *template_name);

#endif
