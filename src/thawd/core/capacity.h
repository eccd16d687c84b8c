/* Admission by the host's real capacity: memory.
 *
 * A sandbox's VMM costs the host its own memory (QEMU, TCG's code cache,
 * the guest pages it wrote); the template's pages are shared by all. A
 * create, fork or resume is admitted only while the host's available
 * memory, less what admitted operations are about to take and less a
 * reserve (--memory-reserve), still holds the new sandboxes at their
 * cost: so the host is never pushed into swap or the OOM killer by
 * creates, and a refusal (503) comes before anything started.
 *
 * The per-sandbox cost is --sandbox-memory (fixed) or measured: each
 * warm VMM, restored, probed and idle like a fresh sandbox, is weighed
 * (private memory and page tables) and the running mean is the cost.
 * The default --max-sandboxes is derived from it: (total memory less the
 * reserve) / cost, bounded by the network slots and descriptors thawd
 * has. Thread-safe; owned by struct host. */
#ifndef THAW_CAPACITY_H
#define THAW_CAPACITY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct capacity;

struct capacity_conf {
	uint64_t reserve_bytes;	    /* kept free for running guests and the host */
	uint64_t per_sandbox_bytes; /* 0: measured (estimate until then) */
	uint64_t estimate_bytes;    /* the cost assumed until one is measured */
	unsigned other_bound;	    /* slots, descriptors: the most whatever memory says */
};

struct capacity *capacity_new(const struct capacity_conf *conf);
void capacity_free(struct capacity *c);

/* Room for `count` more sandboxes now? Takes their cost out of what the
 * next admissions see until the operation has had time to show up in
 * the kernel's figures. ERR_UNAVAILABLE with the figures otherwise. */
int capacity_admit(struct capacity *c, unsigned count, struct thaw_err **err);

/* Weighs an idle, restored VMM (a warm one, ready to be handed out). */
void capacity_observe(struct capacity *c, pid_t vmm_pid);

/* The largest number of sandboxes the host holds by its memory at the
 * current cost (never 0), bounded by other_bound. */
unsigned capacity_max_sandboxes(struct capacity *c);

struct capacity_stats {
	uint64_t total_bytes, available_bytes, reserve_bytes;
	uint64_t per_sandbox_bytes;
	const char *per_sandbox_source; /* "option", "measured" or "estimate" */
	unsigned measured_vmms;
	uint64_t pending_bytes; /* admitted, not yet in the kernel's figures */
	uint64_t refused;	/* admissions refused for memory */
	unsigned max_sandboxes;
};
void capacity_stats(struct capacity *c, struct capacity_stats *out);

/* /proc/meminfo's MemAvailable and MemTotal, bytes (0 if unreadable). */
uint64_t mem_available_bytes(void);
uint64_t mem_total_bytes(void);

/* A process's own memory: its anonymous pages (resident or swapped) and
 * page tables, bytes; 0 when it cannot be read. */
uint64_t process_private_bytes(pid_t pid);

#endif
