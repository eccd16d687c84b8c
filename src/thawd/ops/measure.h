/* What a sandbox costs and may use, as the host measures it: its disk
 * (the clone while it runs, its image while paused: FIEMAP) and its VMM's
 * cgroup (limits and memory in use). For GET /v1/sandboxes/{id}. */
#ifndef THAW_MEASURE_H
#define THAW_MEASURE_H

#include <stdbool.h>

#include "core/host.h"
#include "core/sandbox.h"
#include "disk/usage.h"
#include "vmm/vmm.h"

struct sandbox_measures {
	bool has_disk;
	struct disk_usage disk;
	bool has_resources; /* false while paused, or without cgroups */
	struct vmm_limits limits;
	uint64_t memory_used;
};

/* Fills what can be read now; what cannot is marked absent. */
void sandbox_measure(struct host *h, struct sandbox *sb, enum sb_state state,
		     struct sandbox_measures *out);

#endif
